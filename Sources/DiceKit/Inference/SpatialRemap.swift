// Moving one channels-last image [spatial…, C] onto another grid: padding (reflect or zero),
// cropping, cutting a window out and flipping are all one operation, an index map per spatial
// axis (destination index → source index, or −1 for a zero), copied row by row with the C
// channels of a position contiguous. Blending a window's output back adds it at an offset.

/// Index maps per spatial axis and the two operations that use them.
enum SpatialRemap {
    /// The elements of `values` ([extents…, channels], row-major) moved to the grid of `maps`:
    /// destination position (i₀, i₁, …) takes source position (maps[0][i₀], maps[1][i₁], …),
    /// or zeros when any map gives −1. The result has extents `maps.map(\.count)`.
    static func remap(_ values: [Float], extents: [Int], channels c: Int, maps: [[Int]]) -> [Float] {
        var output = [Float](repeating: 0, count: maps.map(\.count).reduce(c, *))
        output.withUnsafeMutableBufferPointer { remap(values, extents: extents, channels: c, maps: maps, into: $0) }
        return output
    }

    /// `remap(_:extents:channels:maps:)` written into `y` (`maps.map(\.count).reduce(c, *)`
    /// elements, overwritten: the zeros included), so that a caller can reuse one buffer.
    static func remap(
        _ values: [Float], extents: [Int], channels c: Int, maps: [[Int]], into y: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(
            maps.count == extents.count && !extents.isEmpty, "SpatialRemap: \(maps.count) maps for extents \(extents)")
        let target = maps.map(\.count)
        let rank = extents.count
        var sourceStrides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { sourceStrides[a] = sourceStrides[a + 1] * extents[a + 1] }
        let inner = target[rank - 1]
        let innerMap = maps[rank - 1]
        let rows = target.dropLast().reduce(1, *)
        precondition(y.count == rows * inner * c, "SpatialRemap: a buffer of \(y.count) for \(rows * inner * c) values")
        guard !y.isEmpty else { return }
        // Zeros where a map gives −1 (the rest is overwritten below).
        if maps.contains(where: { map in map.contains { $0 < 0 } }) { y.update(repeating: 0) }
        var coordinate = [Int](repeating: 0, count: rank - 1)
        values.withUnsafeBufferPointer { x in
            for row in 0..<rows {
                var base = 0
                var inside = true
                for a in 0..<(rank - 1) {
                    let s = maps[a][coordinate[a]]
                    if s < 0 {
                        inside = false
                        break
                    }
                    base += s * sourceStrides[a]
                }
                if inside {
                    let rowStart = row * inner * c
                    for i in 0..<inner where innerMap[i] >= 0 {
                        let from = (base + innerMap[i]) * c
                        let to = rowStart + i * c
                        for k in 0..<c { y[to + k] = x[from + k] }
                    }
                }
                RowMajor.advance(&coordinate, extents: target, lastAxis: rank - 2)
            }
        }
    }

    /// Adds weight · window into `sum` and weight into `weights` at `start`: the window is
    /// [windowExtents…, channels], `weight` [windowExtents…], `sum` [extents…, channels] and
    /// `weights` [extents…]; the window lies inside the grid.
    static func accumulate(
        _ window: ArraySlice<Float>, weight: [Float], windowExtents: [Int], at start: [Int],
        into sum: inout [Float], weights: inout [Float], extents: [Int], channels c: Int
    ) {
        let rank = extents.count
        var strides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * extents[a + 1] }
        let inner = windowExtents[rank - 1]
        let rows = windowExtents.dropLast().reduce(1, *)
        var coordinate = [Int](repeating: 0, count: rank - 1)
        window.withUnsafeBufferPointer { x in
            sum.withUnsafeMutableBufferPointer { y in
                weights.withUnsafeMutableBufferPointer { w in
                    for row in 0..<rows {
                        var base = start[rank - 1]
                        for a in 0..<(rank - 1) { base += (start[a] + coordinate[a]) * strides[a] }
                        for i in 0..<inner {
                            let g = weight[row * inner + i]
                            let from = (row * inner + i) * c
                            let to = (base + i) * c
                            for k in 0..<c { y[to + k] += g * x[from + k] }
                            w[base + i] += g
                        }
                        RowMajor.advance(&coordinate, extents: windowExtents, lastAxis: rank - 2)
                    }
                }
            }
        }
    }

    /// The map of an axis of `extent` padded by `before` and `after`: reflection about the edge
    /// samples (NumPy's "reflect", folded again for pads longer than the axis) or −1 (zeros).
    static func padMap(extent n: Int, before: Int, after: Int, mode: PaddingMode) -> [Int] {
        (0..<(n + before + after)).map { i in
            let j = i - before
            if (0..<n).contains(j) { return j }
            if mode == .zero { return -1 }
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            let folded = ((j % period) + period) % period
            return folded < n ? folded : period - folded
        }
    }
}
