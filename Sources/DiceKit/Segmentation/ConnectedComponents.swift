// Connected components of a binary mask in any rank (2-D images, 3-D volumes), numbered in
// raster order of their first position, as scikit-image's `measure.label` and SciPy's
// `ndimage.label` number them. The base of component post-processing (`ComponentFilter`) and of
// the lesion-wise metrics (`PanopticQualityMetric`).

/// The connected components of one binary mask.
///
/// Two positions are neighbours when they differ by at most one step along each axis and along at
/// most `connectivity` axes (scikit-image's "maximum number of orthogonal hops"): in 2-D,
/// connectivity 1 is the 4-neighbourhood and 2 the 8-neighbourhood; in 3-D, 1, 2 and 3 are the
/// 6-, 18- and 26-neighbourhoods.
///
/// ```
/// let components = try ConnectedComponents(mask: mask, shape: [64, 64], connectivity: 1)
/// components.count        // number of components
/// components.sizes[0]     // positions in component 1
/// ```
public struct ConnectedComponents: Sendable, Equatable {
    /// The spatial shape of the mask.
    public let shape: [Int]
    /// Row-major: 0 outside the mask, else the component's number in 1...count, numbered in
    /// raster order of each component's first position.
    public let labels: [Int32]
    /// `sizes[k - 1]` is the number of positions of component k.
    public let sizes: [Int]

    /// The number of components.
    public var count: Int { sizes.count }

    /// Labels the components of `mask` (row-major, `shape.reduce(1, *)` values).
    ///
    /// - Parameters:
    ///   - connectivity: 1…rank; nil is the full neighbourhood (rank), as scikit-image.
    /// - Throws: `DiceKitError.shape` when `mask` does not hold the shape's positions or an extent
    ///   is not positive; `DiceKitError.option` for a connectivity outside 1…rank.
    public init(mask: [Bool], shape: [Int], connectivity: Int? = nil) throws {
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 1 }), mask.count == shape.reduce(1, *) else {
            throw DiceKitError.shape(
                "a mask of \(mask.count) values with shape \(shape); expected positive extents whose product is the count"
            )
        }
        let hops = try Self.checkedConnectivity(connectivity, rank: shape.count)
        self.shape = shape
        (labels, sizes) = Self.label(mask, shape: shape, offsets: Self.precedingOffsets(rank: shape.count, hops: hops))
    }

    /// `connectivity`, or the full neighbourhood when nil, checked against the rank.
    static func checkedConnectivity(_ connectivity: Int?, rank: Int) throws -> Int {
        let hops = connectivity ?? rank
        guard (1...rank).contains(hops) else {
            throw DiceKitError.option(
                "connectivity \(hops) for a \(rank)-D mask; expected 1...\(rank) (the most axes a neighbour may differ along)"
            )
        }
        return hops
    }

    /// The neighbour offsets that precede a position in raster order: every d ∈ {−1, 0, 1}^rank
    /// whose first non-zero entry is −1 and with at most `hops` non-zero entries.
    static func precedingOffsets(rank: Int, hops: Int) -> [[Int]] {
        var result: [[Int]] = []
        var d = [Int](repeating: -1, count: rank)
        while true {
            let nonZero = d.filter { $0 != 0 }
            if nonZero.first == -1 && nonZero.count <= hops { result.append(d) }
            // Next offset, odometer order over {−1, 0, 1}.
            var axis = rank - 1
            while axis >= 0 && d[axis] == 1 {
                d[axis] = -1
                axis -= 1
            }
            if axis < 0 { return result }
            d[axis] += 1
        }
    }

    /// Two raster passes: union–find over the preceding neighbours (each root the first position
    /// of its set), then numbering of the roots in raster order.
    private static func label(_ mask: [Bool], shape: [Int], offsets: [[Int]]) -> ([Int32], [Int]) {
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        let linear = offsets.map { d in zip(d, strides).reduce(0) { $0 + $1.0 * $1.1 } }
        var parent = [Int](repeating: -1, count: mask.count)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i {
                parent[i] = parent[parent[i]] // path halving
                i = parent[i]
            }
            return i
        }
        var coordinate = [Int](repeating: 0, count: rank)
        for i in 0..<mask.count {
            if mask[i] {
                parent[i] = i
                for (o, d) in offsets.enumerated() {
                    var inside = true
                    for axis in 0..<rank where d[axis] != 0 {
                        let c = coordinate[axis] + d[axis]
                        if c < 0 || c >= shape[axis] {
                            inside = false
                            break
                        }
                    }
                    let j = i + linear[o]
                    guard inside, mask[j] else { continue }
                    let (a, b) = (root(i), root(j))
                    if a != b { parent[max(a, b)] = min(a, b) }
                }
            }
            RowMajor.advance(&coordinate, extents: shape, lastAxis: rank - 1) // position i + 1
        }
        var labels = [Int32](repeating: 0, count: mask.count)
        var sizes: [Int] = []
        for i in 0..<mask.count where mask[i] {
            let r = root(i)
            if r == i {
                sizes.append(0)
                labels[i] = Int32(sizes.count)
            } else {
                labels[i] = labels[r]
            }
            sizes[Int(labels[i]) - 1] += 1
        }
        return (labels, sizes)
    }
}
