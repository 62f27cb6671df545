// Winograd passes split by elements (conv_winograd.c, "A forward pass split by elements" and "A
// weight gradient split by elements"), for passes of few tiles and a large transformed kernel:
// the bottom of a U-Net, 8² with 256 or 512 channels, where a batch of 8 makes 128 tiles.
//
// Split by tiles (Winograd.swift), each worker streams the whole transformed kernel (16 · Cin ·
// Cout floats, 16 MB at 512 → 512) once per block of its tiles, and for the weight gradient reads
// and writes sums of that size per block, then adds them to the other workers'. Split by
// elements, each worker transforms its own chunk of the tiles, then the workers divide the
// transform's elements ξ, each multiplying (or summing) its elements of every chunk, so the
// kernel, or the one set of sums, is read once per pass; the chunks' transformed tiles and
// products (16 · (Cin + Cout) floats a tile) go through L3 instead.
//
// Bits: the forward pass's outputs are those of the split by tiles (each output's sums are the
// same sequence); the weight gradient's sums run over the batch's tiles in order, chunk after
// chunk: the bits of one worker's split by tiles, whatever the worker count.

internal import CDiceKitKernels
import Foundation

/// How a Winograd pass divides its products between the workers: by tiles (Winograd.swift), by
/// elements ξ (this file), or as the shapes and caches say.
enum WinogradSplit: Sendable {
    case automatic, tiles, elements

    /// DICEKIT_WINOGRAD_SPLIT=elements or =tiles makes `.automatic` one way for the whole process
    /// (to measure both in one binary).
    private static let forced: WinogradSplit? =
        switch ProcessInfo.processInfo.environment["DICEKIT_WINOGRAD_SPLIT"] {
        case "elements": .elements
        case "tiles": .tiles
        default: nil
        }

    /// Whether pass `wg` (`points` elements ξ, `tiles` tiles over `workers` workers) splits by
    /// elements: never for one worker; `.automatic` as the environment forces it, else as
    /// `ConvBlocking.winogradSplitsElements` decides.
    func byElements(_ wg: dk_winograd_geometry, points: Int, tiles: Int, workers: Int) -> Bool {
        switch self == .automatic ? Self.forced ?? self : self {
        case .elements: return workers > 1
        case .tiles: return false
        case .automatic:
            return workers > 1
                && ConvBlocking.current.winogradSplitsElements(
                    inChannels: Int(wg.cin), outChannels: Int(wg.cout), points: points,
                    tilesPerWorker: (tiles + workers - 1) / workers)
        }
    }
}

/// The chunks of a pass split by elements: worker w's tiles [tiles · w / count, tiles · (w + 1) /
/// count), as the split by tiles gives them, and where each chunk's buffer starts.
struct WinogradChunks: Sendable {
    /// The tiles of each chunk.
    let ranges: [Range<Int>]
    /// Each chunk's first float in the buffer (on 64-byte boundaries).
    let offsets: [Int]
    /// The buffer's floats: every chunk's.
    let floats: Int

    /// The chunks of `tiles` tiles for `count` workers, `floatsOf(n)` floats for a chunk of `n` tiles.
    init(tiles: Int, count: Int, floatsOf: (Int) -> Int) {
        ranges = (0..<count).map { (tiles * $0 / count)..<(tiles * ($0 + 1) / count) }
        var (offsets, at) = ([Int](), 0)
        for range in ranges {
            offsets.append(at)
            at += (floatsOf(range.count) + 15) / 16 * 16
        }
        (self.offsets, floats) = (offsets, at)
    }

    /// The chunks of pass `wg` over `padded` for `count` workers where it splits by elements
    /// (`split`) and they fit `budget` bytes beside the padded batch, the forward pass's
    /// (dk_conv_winograd_chunk_floats) or, with `weightGradient`, the weight gradient's; else nil.
    init?(
        _ wg: dk_winograd_geometry, padded: PaddedSource, count: Int, budget: Int, split: WinogradSplit,
        weightGradient: Bool
    ) {
        var wg = wg
        let (points, tiles) = (Winograd.points(kernelDepth: wg.od > 1 ? 3 : 1), Winograd.tiles(wg, batch: padded.batch))
        guard split.byElements(wg, points: points, tiles: tiles, workers: count) else { return nil }
        self.init(tiles: tiles, count: count) {
            Int(
                weightGradient
                    ? dk_conv_winograd_weight_chunk_floats(&wg, $0) : dk_conv_winograd_chunk_floats(&wg, $0))
        }
        let paddedFloats = padded.readsInPlace ? 0 : padded.batch * padded.sampleCount + padded.slack
        guard (paddedFloats + floats) * MemoryLayout<Float>.stride <= budget else { return nil }
    }

    /// Calls `body(ξ, chunk, tiles)` for the elements ξ that worker `w` takes in the products (or
    /// sums) phase, an equal share of the `points`, each over every chunk in tile order.
    func forEachElement(of w: Int, points: Int, _ body: (_ xi: Int, _ chunk: Int, _ tiles: Range<Int>) -> Void) {
        for xi in (points * w / ranges.count)..<(points * (w + 1) / ranges.count) {
            for (c, tiles) in ranges.enumerated() { body(xi, c, tiles) }
        }
    }
}

extension ConvGeometry {
    /// Calls `body(geometry, batch, buffer)` with `wg`, the whole batch of `padded` padded, and
    /// the buffer of `chunks` (valid inside `body`): the set-up of both passes split by elements.
    private func withChunks(
        _ wg: dk_winograd_geometry, padded: PaddedSource, chunks: WinogradChunks,
        _ body: (UnsafePointer<dk_winograd_geometry>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) {
        let buffer = Self.allocateAligned(chunks.floats)
        defer { buffer.deallocate() }
        padded.withPaddedBatch(workers: chunks.ranges.count) { xp in
            withUnsafePointer(to: wg) { body($0, xp, buffer) }
        }
    }

    /// y = the Winograd forward pass `wg` over `padded` (the whole batch) with the transformed
    /// kernel `u`, split by elements into `chunks`, one per worker.
    func winogradForwardByElements(
        _ wg: dk_winograd_geometry, padded: PaddedSource, u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        y: UnsafeMutablePointer<Float>, chunks: WinogradChunks
    ) {
        let (points, count) = (Winograd.points(kernelDepth: wg.od > 1 ? 3 : 1), chunks.ranges.count)
        withChunks(wg, padded: padded, chunks: chunks) { gp, xp, buffer in
            let shared = TaskShared((gp, xp, u, bias, y, buffer))
            runWorkers(count) { w in
                let (gp, xp, _, _, _, buffer) = shared.buffers
                let tiles = chunks.ranges[w]
                dk_conv_winograd_chunk_input_f32(gp, xp, tiles.lowerBound, tiles.count, buffer + chunks.offsets[w])
            }
            runWorkers(count) { w in
                let (gp, _, u, _, _, buffer) = shared.buffers
                chunks.forEachElement(of: w, points: points) { xi, c, tiles in
                    dk_conv_winograd_chunk_products_f32(gp, buffer + chunks.offsets[c], tiles.count, u, xi, xi + 1)
                }
            }
            runWorkers(count) { w in
                let (gp, _, _, bias, y, buffer) = shared.buffers
                let tiles = chunks.ranges[w]
                dk_conv_winograd_chunk_output_f32(
                    gp, buffer + chunks.offsets[w], tiles.lowerBound, tiles.count, bias, y)
            }
        }
    }

    /// du = the Winograd weight gradient's sums of pass `wg` over `padded` (the whole batch) and
    /// `dy`, split by elements into `chunks`, one per worker: 16 (or 64) · Cin · Cout floats, overwritten.
    func winogradWeightSumsByElements(
        _ wg: dk_winograd_geometry, padded: PaddedSource, dy: UnsafePointer<Float>, du: UnsafeMutablePointer<Float>,
        chunks: WinogradChunks
    ) {
        let (points, count) = (Winograd.points(kernelDepth: wg.od > 1 ? 3 : 1), chunks.ranges.count)
        withChunks(wg, padded: padded, chunks: chunks) { gp, xp, buffer in
            let shared = TaskShared((gp, xp, dy, du, buffer))
            runWorkers(count) { w in
                let (gp, xp, dy, _, buffer) = shared.buffers
                let tiles = chunks.ranges[w]
                dk_conv_winograd_weight_chunk_f32(gp, xp, dy, tiles.lowerBound, tiles.count, buffer + chunks.offsets[w])
            }
            runWorkers(count) { w in
                let (gp, _, _, du, buffer) = shared.buffers
                chunks.forEachElement(of: w, points: points) { xi, c, tiles in
                    dk_conv_winograd_weight_chunk_sums_f32(
                        gp, buffer + chunks.offsets[c], tiles.count, xi, xi + 1, du, c == 0 ? 1 : 0)
                }
            }
        }
    }
}
