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
    }

    func testCurrentMachineIsRead() {
        let caches = CPUInfo.current.caches
        XCTAssertEqual(ConvBlocking.current, ConvBlocking(l2: caches.l2))
    }
}
