// Nearest-surface distances between a predicted and a target mask, the quantity behind MONAI's
// Hausdorff, surface-distance and surface-Dice metrics (monai.metrics.utils.get_edge_surface_distance
// and get_surface_distance, Euclidean, without sub-voxel areas).
//
// MONAI finds, for every predicted surface position, the nearest target surface position with a
// KD-tree. Here both work inside the bounding box of the union of the two masks (MONAI crops to
// it too; the surfaces lie inside it, so the distances do not change): the surfaces are
// extracted straight from the uncropped masks, then each direction (one thread each) searches
// the rows of the box outward from every query position for the nearest surface position
// (NearestFeatureSearch.swift), or, when the surfaces are far apart and that search would
// cost more than a transform, reads the exact Euclidean distance transform of the other surface
// at the query positions (DistanceTransform.swift). Both give the same distances.
//
// Empty sides follow get_surface_distance: with no target surface, every predicted surface
// position is at ∞; with no predicted surface (and a target surface), the direction holds one ∞
// per target surface position; with neither, no distance at all.

import Dispatch
import Synchronization

/// The nearest-surface distances of one (sample, class) pair, in physical units.
public struct SurfaceDistances: Sendable, Equatable {
    /// From each predicted surface position (row-major order) to the nearest target surface position.
    public var predictedToTarget: [Double]
    /// From each target surface position to the nearest predicted one; empty when only the
    /// directed distances were asked for.
    public var targetToPredicted: [Double]

    /// Both directions together (MONAI's `torch.cat(distances)`).
    public var all: [Double] { predictedToTarget + targetToPredicted }

    /// The distances between two masks of the same shape.
    ///
    /// - Parameters:
    ///   - predicted: row-major binary mask of `shape` (2-D or 3-D; any rank ≥ 1 works).
    ///   - target: row-major binary mask of `shape`.
    ///   - shape: the spatial extent.
    ///   - spacing: the physical size of a step along each axis (default 1 each); each > 0.
    ///   - symmetric: also compute `targetToPredicted` (default true).
    /// - Throws: `DiceKitError.shape` for masks that do not hold the product of `shape`;
    ///   `DiceKitError.value` for a bad spacing.
    public init(predicted: [Bool], target: [Bool], shape: [Int], spacing: [Double]? = nil, symmetric: Bool = true)
        throws
    {
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 1 }),
            predicted.count == shape.reduce(1, *), target.count == predicted.count
        else {
            throw DiceKitError.shape(
                "masks of \(predicted.count) and \(target.count) values with shape \(shape); "
                    + "expected both to hold the product of the shape")
        }
        let steps = try DistanceTransform.checkedSpacing(spacing, rank: shape.count)
        self = predicted.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { t in Self.compute(p, t, shape: shape, spacing: steps, symmetric: symmetric)
            }
        }
    }

    init(predictedToTarget: [Double], targetToPredicted: [Double]) {
        self.predictedToTarget = predictedToTarget
        self.targetToPredicted = targetToPredicted
    }

    /// The distances of two row-major masks (checked spacing, no other checks). `searchBudget`
    /// caps the rows the nearest-feature search may visit per direction, as a multiple of the
    /// box's positions (0 runs the distance transform straight away).
    static func compute(
        _ predicted: UnsafeBufferPointer<Bool>, _ target: UnsafeBufferPointer<Bool>, shape: [Int],
        spacing: [Double], symmetric: Bool, searchBudget: Int = 2
    ) -> SurfaceDistances {
        guard let box = BoundingBox(predicted, target, shape: shape) else {
            return SurfaceDistances(predictedToTarget: [], targetToPredicted: [])
        }
        let budget = searchBudget * box.shape.reduce(1, *)
        // The two surfaces, then the two directions, on one thread each (the result does not
        // depend on it).
        let masks = TaskShared((predicted, target))
        let surfaces = Mutex<[(edges: [Bool], count: Int)]>([([], 0), ([], 0)])
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            let found = SurfaceExtraction.edges(side == 0 ? masks.buffers.0 : masks.buffers.1, in: box)
            surfaces.withLock { $0[side] = found }
        }
        let (edgesPredicted, edgesTarget) = surfaces.withLock { ($0[0], $0[1]) }
        guard symmetric else {
            return SurfaceDistances(
                predictedToTarget: directed(
                    from: edgesPredicted, to: edgesTarget, shape: box.shape, spacing: spacing, budget: budget),
                targetToPredicted: [])
        }
        let results = Mutex<(forward: [Double], backward: [Double])>(([], []))
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            let d =
                side == 0
                ? directed(from: edgesPredicted, to: edgesTarget, shape: box.shape, spacing: spacing, budget: budget)
                : directed(from: edgesTarget, to: edgesPredicted, shape: box.shape, spacing: spacing, budget: budget)
            results.withLock { if side == 0 { $0.forward = d } else { $0.backward = d } }
        }
        let (forward, backward) = results.withLock { ($0.forward, $0.backward) }
        return SurfaceDistances(predictedToTarget: forward, targetToPredicted: backward)
    }

    /// Distances from each `from` surface position to the nearest `to` surface position, with
    /// get_surface_distance's conventions for an empty side: by the nearest-feature search when
    /// it stays within `budget` row visits, else by the distance transform.
    static func directed(
        from: (edges: [Bool], count: Int), to: (edges: [Bool], count: Int), shape: [Int], spacing: [Double],
        budget: Int
    ) -> [Double] {
        if to.count == 0 { return [Double](repeating: .infinity, count: from.count) }
        if from.count == 0 { return [Double](repeating: .infinity, count: to.count) }
        let searched = from.edges.withUnsafeBufferPointer { queries in
            to.edges.withUnsafeBufferPointer { features in
                NearestFeatureSearch.squaredDistances(
                    features: features, queries: queries, shape: shape, spacing: spacing, queryCount: from.count,
                    budget: budget)
            }
        }
        if var distances = searched {
            for i in distances.indices { distances[i] = distances[i].squareRoot() }
            return distances
        }
        let field = UnsafeMutableBufferPointer<Double>.allocate(capacity: from.edges.count)
        defer { field.deallocate() }
        from.edges.withUnsafeBufferPointer { queries in
            to.edges.withUnsafeBufferPointer { features in
                DistanceTransform.transform(
                    features: features, into: field, shape: shape, spacing: spacing, queries: queries)
            }
        }
        var distances: [Double] = []
        distances.reserveCapacity(from.count)
        for i in from.edges.indices where from.edges[i] { distances.append(field[i].squareRoot()) }
        return distances
    }
}

/// The smallest box holding every position of two masks, as MONAI's foreground crop.
struct BoundingBox {
    /// First position and extent along each axis.
    let origin: [Int], shape: [Int]
    /// The full image's extent.
    let imageShape: [Int]

    /// Nil when both masks are empty.
    init?(_ a: UnsafeBufferPointer<Bool>, _ b: UnsafeBufferPointer<Bool>, shape: [Int]) {
        let rank = shape.count
        var low = shape
        var high = [Int](repeating: -1, count: rank)
        var coordinate = [Int](repeating: 0, count: rank)
        let last = shape[rank - 1]
        var i = 0
        while i < a.count {
            // One row of the last axis at a time.
            let (first, final) = Self.extent(a, b, start: i, count: last)
            if first >= 0 {
                for axis in 0..<(rank - 1) {
                    low[axis] = Swift.min(low[axis], coordinate[axis])
                    high[axis] = Swift.max(high[axis], coordinate[axis])
                }
                low[rank - 1] = Swift.min(low[rank - 1], first)
                high[rank - 1] = Swift.max(high[rank - 1], final)
            }
            i += last
            RowMajor.advance(&coordinate, extents: shape, lastAxis: rank - 2)
        }
        guard high[0] >= 0 else { return nil }
        origin = low
        self.shape = (0..<rank).map { high[$0] - low[$0] + 1 }
        imageShape = shape
    }

    /// The first and last x in start..<start+count where `a` or `b` is set, eight positions at a
    /// time; (-1, -1) when there is none.
    private static func extent(
        _ a: UnsafeBufferPointer<Bool>, _ b: UnsafeBufferPointer<Bool>, start: Int, count: Int
    ) -> (Int, Int) {
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return (-1, -1) }
        let ra = UnsafeRawPointer(pa + start)
        let rb = UnsafeRawPointer(pb + start)
        var first = -1
        var final = -1
        var x = 0
        while x &+ 8 <= count {
            let word =
                ra.loadUnaligned(fromByteOffset: x, as: UInt64.self)
                | rb.loadUnaligned(fromByteOffset: x, as: UInt64.self)
            if word != 0 {
                if first < 0 { first = x &+ word.trailingZeroBitCount >> 3 }
                final = x &+ 7 &- word.leadingZeroBitCount >> 3
            }
            x &+= 8
        }
        while x < count {
            if pa[start &+ x] || pb[start &+ x] {
                if first < 0 { first = x }
                final = x
            }
            x &+= 1
        }
        return (first, final)
    }

    /// The part of a row-major mask of the image's shape inside the box.
    func crop(_ mask: UnsafeBufferPointer<Bool>) -> [Bool] {
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * imageShape[a + 1] }
        let rows = shape.dropLast().reduce(1, *)
        let width = shape[rank - 1]
        var result = [Bool](repeating: false, count: rows * width)
        var coordinate = [Int](repeating: 0, count: rank - 1)
        for row in 0..<rows {
            var start = origin[rank - 1]
            for axis in 0..<(rank - 1) { start += (origin[axis] + coordinate[axis]) * strides[axis] }
            for x in 0..<width { result[row * width + x] = mask[start + x] }
            RowMajor.advance(&coordinate, extents: shape, lastAxis: rank - 2)
        }
        return result
    }
}
