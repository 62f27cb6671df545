// Sliding-window inference as MONAI's `sliding_window_inference` (monai.inferers, 1.x) does it
// with mode="gaussian": windows of the tile size stepping by int(tile · (1 − overlap)) (at least
// 1; a whole axis when the tile spans it), the last window of an axis moved back to end at the
// border, every window's output multiplied by a Gaussian importance map, summed, and divided by
// the summed map. The blended quantity is the network's output, the logits.
//
// The importance map (monai.data.utils.compute_importance_map): per axis of extent T,
// g(x) = exp(−x² / (2σ²)) at x = −(T − 1)/2 … (T − 1)/2, σ = sigma_scale · T; the map is the
// outer product of the axes' g (peak 1), clamped below at max(min(map), 1e-3).

import Foundation

/// Sliding-window settings: tile, overlap and how many windows go through the network at once.
public struct SlidingWindow: Sendable, Equatable {
    /// The window's extent per spatial axis (one value for every axis); each a multiple of
    /// 2^depth of the network. An extent larger than the padded image is clamped to it.
    public let tile: [Int]
    /// The fraction of a window shared with its neighbour, in [0, 1) (MONAI's default 0.25).
    public let overlap: Double
    /// Windows per forward pass, ≥ 1 (default 4): memory grows with it, not with the image.
    public let batchSize: Int
    /// σ of the Gaussian as a fraction of the tile, > 0 (default 0.125, MONAI's).
    public let sigmaScale: Double

    /// Checked settings.
    ///
    /// - Throws: `DiceKitError.option` naming the value when a tile extent is < 1, the overlap
    ///   lies outside [0, 1), the batch size is < 1 or σ is not positive.
    public init(tile: [Int], overlap: Double = 0.25, batchSize: Int = 4, sigmaScale: Double = 0.125) throws {
        guard !tile.isEmpty, tile.allSatisfy({ (1...65536).contains($0) }) else {
            throw DiceKitError.invalidOption(name: "tile", value: "\(tile)", expected: "1 to 3 extents in 1...65536")
        }
        guard overlap.isFinite, overlap >= 0, overlap < 1 else {
            throw DiceKitError.invalidOption(name: "overlap", value: "\(overlap)", expected: "a fraction in [0, 1)")
        }
        guard batchSize >= 1 else {
            throw DiceKitError.invalidOption(name: "window batch size", value: "\(batchSize)", expected: "≥ 1")
        }
        guard sigmaScale.isFinite, sigmaScale > 0 else {
            throw DiceKitError.invalidOption(name: "sigma scale", value: "\(sigmaScale)", expected: "a positive number")
        }
        (self.tile, self.overlap, self.batchSize, self.sigmaScale) = (tile, overlap, batchSize, sigmaScale)
    }

    /// The tile per axis for a grid of `extents`: `tile` (repeated when it has one extent),
    /// each clamped to the grid.
    public func tile(for extents: [Int]) -> [Int] {
        extents.indices.map { a in min(tile.count == 1 ? tile[0] : tile[a], extents[a]) }
    }

    /// The windows' start positions along an axis of `extent` for windows of `size` ≤ extent
    /// (MONAI's `_get_scan_interval` and `dense_patch_slices`).
    public func starts(extent: Int, size: Int) -> [Int] {
        precondition(size >= 1 && size <= extent, "SlidingWindow.starts: window \(size) on an axis of \(extent)")
        let interval = size == extent ? size : max(1, Int(Double(size) * (1 - overlap)))
        let limit = Int((Double(extent) / Double(interval)).rounded(.up))
        let count = ((0..<limit).first { $0 * interval + size >= extent } ?? 0) + 1
        return (0..<count).map { i in i * interval - max(i * interval + size - extent, 0) }
    }

    /// Every window's start position on a grid of `extents` with windows of `sizes`, the first
    /// axis varying slowest (MONAI's order).
    public func windows(extents: [Int], sizes: [Int]) -> [[Int]] {
        var positions: [[Int]] = [[]]
        for a in extents.indices {
            let axis = starts(extent: extents[a], size: sizes[a])
            positions = positions.flatMap { prefix in axis.map { prefix + [$0] } }
        }
        return positions
    }

    /// The Gaussian importance map of a window of `sizes`, row-major (see the file header).
    public func importanceMap(sizes: [Int]) -> [Float] {
        var map: [Float] = [1]
        for size in sizes {
            let sigma = Double(size) * sigmaScale
            let denominator = Float(-2 * sigma * sigma)
            let g = (0..<size).map { i -> Float in
                let x = Float(i) - Float(size - 1) / 2
                return expf(x * x / denominator)
            }
            map = map.flatMap { m in g.map { m * $0 } }
        }
        let floor = max(map.min() ?? 1, 1e-3)
        return map.map { max($0, floor) }
    }
}
