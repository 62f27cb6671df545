// The direct kernels' block sizes derive from the caches by the formulas of ConvBlocking.swift
// (Docs/Convolution.md, "Sizes from the machine"), with stated fallbacks when a size is unknown.

import XCTest

@testable import DiceKit

final class ConvBlockingTests: XCTestCase {
    func testSizesFollowTheCaches() {
        // Zen 4/5: 1 MiB L2.
        let zen5 = ConvBlocking(l2: 1 << 20)
        XCTAssertEqual(zen5.weightBlock, 256 << 10)
        // (512 KiB) / (4 · (128 + 64)) = 682 → 672 positions.
        XCTAssertEqual(zen5.forwardChunk(inChannels: 128, outChannels: 128), 672)
        // (512 KiB) / (4 · (16 + 16)) = 4096, bounded by 3072.
        XCTAssertEqual(zen5.forwardChunk(inChannels: 16, outChannels: 16), 3072)
        // (512 KiB) / (4 · 256 · 32) = 16 lines of 32 positions.
        XCTAssertEqual(zen5.weightGradientLines(inChannels: 128, outChannels: 128, width: 32), 16)
        // Small images' weight-gradient blocks: (512 KiB) / (4 · (128 + 64) · 32) = 21 lines of
        // 32, and a whole 8 × 8 image of 256 channels (51 lines ≥ 8).
        XCTAssertEqual(zen5.weightGradientBlockLines(inChannels: 128, outChannels: 128, width: 32), 21)
        XCTAssertEqual(zen5.weightGradientBlockLines(inChannels: 256, outChannels: 256, width: 8), 51)
        // Emerald Rapids: 2 MiB L2 doubles the chunks.
        let emerald = ConvBlocking(l2: 2 << 20)
        XCTAssertEqual(emerald.weightBlock, 512 << 10)
        XCTAssertEqual(emerald.forwardChunk(inChannels: 128, outChannels: 128), 1365 / 24 * 24)
        XCTAssertEqual(emerald.weightGradientLines(inChannels: 128, outChannels: 128, width: 32), 32)
        XCTAssertEqual(emerald.weightGradientBlockLines(inChannels: 128, outChannels: 128, width: 32), 42)
        // The AMX weight gradient at 128² 32 → 32, 3×3 (span 2 · 130 + 2 = 262 positions):
        // (1 MiB − 2 · 32 · 262) / (2 · 64) = 8061 → 8032 positions; every row of its 288 in one
        // block: (512 KiB) / (4 · 32) = 4096 rows.
        XCTAssertEqual(emerald.tileWeightGradientChunk(inChannels: 32, outChannels: 32, span: 262), 8032)
        XCTAssertEqual(emerald.tileWeightGradientRows(outChannels: 32), 4096)
        // 8² 512 → 512: (1 MiB − 2 · 512 · 22) / (2 · 1024) = 500 → 480; (512 KiB) / 2048 = 256 rows.
        XCTAssertEqual(emerald.tileWeightGradientChunk(inChannels: 512, outChannels: 512, span: 22), 480)
        XCTAssertEqual(emerald.tileWeightGradientRows(outChannels: 512), 256)
    }

    /// The banded bfloat16 weight gradient's lines: the band's pair-packed rows (4 bytes per
    /// channel and padded position, kd planes, kh − 1 rows more than its lines) within an eighth of L2.
    func testBFloat16WeightGradientBands() {
        let zen5 = ConvBlocking(l2: 1 << 20)
        XCTAssertEqual(zen5.bfloat16BandBytes, 128 << 10)
        // 128² with 32 channels: 130 · 32 · 4 = 16 640 bytes per row, 7 rows, 5 lines.
        let budget = zen5.bfloat16BandBytes
        XCTAssertEqual(
            ConvGeometry.bandLines(
                paddedWidth: 130, channels: 32, planes: 1, kernelRows: 3, lines: 128, budget: budget), 5)
        // At most the lines there are; at least one, even when kd planes of one row exceed the budget.
        XCTAssertEqual(
            ConvGeometry.bandLines(paddedWidth: 130, channels: 32, planes: 1, kernelRows: 3, lines: 4, budget: budget),
            4)
        XCTAssertEqual(
            ConvGeometry.bandLines(
                paddedWidth: 500, channels: 100, planes: 3, kernelRows: 3, lines: 64, budget: budget), 1)
    }

    /// The Winograd blocks, a multiple of 6 tiles: in 2-D, their transformed input and products
    /// (4 · 16 · (Cin + Cout) bytes a tile) in half of L2, at least 48 tiles; in 3-D (4 · 64 ·
    /// (Cin + Cout) bytes a tile) in a quarter of L2, at least 12 tiles, or 48 where the
    /// transformed kernel (4 · 64 · Cin · Cout bytes) exceeds L2.
    func testWinogradBlocks() {
        let zen3 = ConvBlocking(l2: 512 << 10, l1Data: 32 << 10)
        // 2-D, 32 → 32: (256 KiB) / (4 · 16 · 64) = 64 tiles → 60; 64 → 64: 32, at least 48.
        XCTAssertEqual(zen3.winogradBlock(inChannels: 32, outChannels: 32, points: 16), 60)
        XCTAssertEqual(zen3.winogradBlock(inChannels: 64, outChannels: 64, points: 16), 48)
        // 2-D, 16 → 16: a 16 KiB transformed kernel, under L1d: (16 KiB) / (4 · 16 · 32) = 8
        // tiles, at least 12; 32 → 16 (32 KiB, not under 32 KiB of L1d) in half of L2.
        XCTAssertEqual(zen3.winogradBlock(inChannels: 16, outChannels: 16, points: 16), 12)
        XCTAssertEqual(zen3.winogradBlock(inChannels: 32, outChannels: 16, points: 16), 84)
        // 3-D, 16 → 16: (128 KiB) / (4 · 64 · 32) = 16 → 12; 32 → 32: 8 tiles, at least 12.
        XCTAssertEqual(zen3.winogradBlock(inChannels: 16, outChannels: 16, points: 64), 12)
        XCTAssertEqual(zen3.winogradBlock(inChannels: 32, outChannels: 32, points: 64), 12)
        // 3-D, 64 → 64: a 1 MiB transformed kernel exceeds L2, 48 tiles.
        XCTAssertEqual(zen3.winogradBlock(inChannels: 64, outChannels: 64, points: 64), 48)
        // 2 MiB of L2: 2-D 32 → 32 gets (1 MiB) / (4 · 16 · 64) = 256 tiles → 252; 3-D 32 → 32
        // (512 KiB) / (4 · 64 · 64) = 32 → 30.
        let emerald = ConvBlocking(l2: 2 << 20, l1Data: 48 << 10)
        XCTAssertEqual(emerald.winogradBlock(inChannels: 32, outChannels: 32, points: 16), 252)
        XCTAssertEqual(emerald.winogradBlock(inChannels: 32, outChannels: 32, points: 64), 30)
        // 48 KiB of L1d: 32 → 16's 32 KiB kernel is under it, (24 KiB) / (4 · 16 · 48) = 8, 12
        // tiles; 3-D keeps the L2 rule.
        XCTAssertEqual(emerald.winogradBlock(inChannels: 32, outChannels: 16, points: 16), 12)
        XCTAssertEqual(emerald.winogradBlock(inChannels: 16, outChannels: 16, points: 64), 60)
    }

    func testUnknownCachesFallBackToSmallCores() {
        let unknown = ConvBlocking(l2: nil)
        XCTAssertEqual(unknown.l2, 256 << 10)
        XCTAssertEqual(unknown.weightBlock, 64 << 10)
        // Wide layers never get fewer than 96 positions or one line per task.
        XCTAssertEqual(unknown.forwardChunk(inChannels: 1024, outChannels: 1024), 96)
        XCTAssertEqual(unknown.weightGradientLines(inChannels: 1024, outChannels: 1024, width: 512), 1)
        // (128 KiB) / (4 · 192 · 32) = 5 lines; at least one.
        XCTAssertEqual(unknown.weightGradientBlockLines(inChannels: 128, outChannels: 128, width: 32), 5)
        XCTAssertEqual(unknown.weightGradientBlockLines(inChannels: 512, outChannels: 64, width: 512), 1)
        // The AMX weight gradient never gets fewer than 32 positions per chunk or rows per block,
        // even where the kernel's reach alone would fill half of L2.
        XCTAssertEqual(unknown.tileWeightGradientChunk(inChannels: 1024, outChannels: 1024, span: 10_000), 32)
        XCTAssertEqual(unknown.tileWeightGradientRows(outChannels: 4096), 32)
    }

    /// The AMX weight gradient's blocks cover dW once, start on pairs of 16-row and 16-channel
    /// blocks, keep every block within the rows given, and give every worker a block where the
    /// rows allow.
    func testTileWeightGradientPlanCoversTheKernelOnce() {
        // (row blocks, channel blocks, workers, rows per block, blocks expected)
        let cases = [
            (18, 2, 2, 4096, 2), // 128² 32 → 32: one block per worker
            (288, 32, 2, 256, 18), // 8² 512 → 512: 144 pairs in blocks of 8 pairs
            (288, 32, 4, 256, 20), // 18 blocks rounded up to whole rounds of 4 workers
            (1, 8, 2, 4096, 2), // 1×1, 16 → 128: one row block, the channels split
            (2, 1, 3, 4096, 1), // one pair of each: one block
            (9, 5, 1, 64, 3), // odd counts: the last pair of rows is a single block
        ]
        for (rowBlocks, channelBlocks, workers, rowsPerBlock, expected) in cases {
            let plan = TileWeightGradientPlan(
                rowBlocks: rowBlocks, channelBlocks: channelBlocks, workers: workers, rowsPerBlock: rowsPerBlock)
            let what = "\(rowBlocks) × \(channelBlocks) blocks, \(workers) workers"
            XCTAssertEqual(plan.tasks.count, expected, what)
            var owner = [Int](repeating: 0, count: rowBlocks * channelBlocks)
            for (rows, channels) in plan.tasks {
                XCTAssertFalse(rows.isEmpty || channels.isEmpty, what)
                XCTAssertTrue(rows.lowerBound % 2 == 0 && channels.lowerBound % 2 == 0, what)
                XCTAssertLessThanOrEqual(16 * rows.count, Swift.max(32, rowsPerBlock), what)
                for r in rows { for c in channels { owner[r * channelBlocks + c] += 1 } }
            }
            XCTAssertEqual(owner, [Int](repeating: 1, count: owner.count), "\(what): blocks not covered once")
        }
    }

    /// Chunks of tasks dealt to the workers: within the limit, whole tiles, and as many as give
    /// every worker an equal number of near-equal chunks where the positions allow.
    func testDealtChunksGiveEveryWorkerAnEqualShare() {
        // (positions, limit, tile, batch, workers, chunk expected)
        let cases = [
            (64, 816, 6, 1, 2, 36), // 8² one image: two chunks, 36 + 28 (six tiles and five)
            (256, 816, 6, 1, 2, 132), // 16²: 132 + 124
            (1024, 816, 6, 1, 2, 516), // 32²: two near-equal chunks, not 816 + 208
            (16384, 3072, 24, 1, 2, 2736), // 128²: six chunks of 2736 at most
            (4096, 3072, 16, 1, 2, 2048), // the tile unit's 16 rows: two equal chunks
            (64, 816, 6, 1, 3, 24), // three workers: 24 + 24 + 16
            (64, 816, 6, 3, 2, 36), // three samples: six tasks
            (64, 816, 6, 2, 2, 66), // two samples: one chunk each
            (5, 816, 6, 1, 2, 6), // fewer positions than a tile: one chunk
            (100, 48, 6, 1, 1, 36), // one worker: the limit alone, in near-equal chunks
        ]
        for (positions, limit, tile, batch, workers, expected) in cases {
            let chunk = ConvBlocking.dealtChunk(
                positions: positions, limit: limit, tile: tile, batch: batch, workers: workers)
            let what = "\(positions) positions, limit \(limit), tile \(tile), \(batch) × \(workers)"
            XCTAssertEqual(chunk, expected, what)
            XCTAssertLessThanOrEqual(chunk, limit, what)
            XCTAssertEqual(chunk % tile, 0, what)
        }
        // Every worker gets the same number of tasks wherever the chunks can be a tile or more.
        for positions in [64, 100, 256, 1000, 1024, 4096, 9999] {
            for workers in 1...4 {
                for batch in 1..<(2 * workers) {
                    let chunk = ConvBlocking.dealtChunk(
                        positions: positions, limit: 816, tile: 6, batch: batch, workers: workers)
                    let tasks = batch * ((positions + chunk - 1) / chunk)
                    XCTAssertEqual(tasks % workers, 0, "\(positions) positions, \(batch) × \(workers)")
                }
            }
        }
    }

    /// The forward passes' tasks: whole samples per worker in L2-sized chunks from two samples
    /// per worker, else chunks cut for the workers in the kernels' tiles.
    func testForwardTasksOfOneImageGoToEveryWorker() {
        let emerald = ConvBlocking(l2: 2 << 20)
        // A base-32 U-Net's deepest level, one image on two workers: 36 + 28 positions, where the
        // L2-sized chunk (816) had made one task; eight images: one 72-position chunk each.
        XCTAssertEqual(
            emerald.forwardTaskChunk(inChannels: 512, outChannels: 512, positions: 64, batch: 1, workers: 2), 36)
        XCTAssertEqual(
            emerald.forwardTaskChunk(inChannels: 512, outChannels: 512, positions: 64, batch: 8, workers: 2), 72)
        // 32² 256 → 128 (a decoder): 516 + 508, where 816 + 208 had left one worker a fifth.
        XCTAssertEqual(
            emerald.forwardTaskChunk(inChannels: 256, outChannels: 128, positions: 1024, batch: 1, workers: 2), 516)
        // 16 output channels (grid tiles of 24): 128² on two workers, six chunks of 2736 at most.
        XCTAssertEqual(
            emerald.forwardTaskChunk(inChannels: 16, outChannels: 16, positions: 16384, batch: 1, workers: 2), 2736)
        // bfloat16: 8² 512 → 512 in the dot products' 6-position tiles, and the tile unit's 16 rows.
        XCTAssertEqual(
            ConvBlocking.bfloat16TaskChunk(outChannels: 512, positions: 64, tiles: false, batch: 1, workers: 2), 36)
        XCTAssertEqual(
            ConvBlocking.bfloat16TaskChunk(outChannels: 512, positions: 64, tiles: true, batch: 1, workers: 2), 32)
        XCTAssertEqual(
            ConvBlocking.bfloat16TaskChunk(outChannels: 32, positions: 4096, tiles: false, batch: 1, workers: 2), 2052)
    }

    func testCurrentMachineIsRead() {
        let caches = CPUInfo.current.caches
        XCTAssertEqual(ConvBlocking.current, ConvBlocking(l2: caches.l2, l1Data: caches.l1Data))
    }
}
