// Nearest-surface distances between a predicted and a target mask, the quantity behind MONAI's
// Hausdorff, surface-distance and surface-Dice metrics (monai.metrics.utils.get_edge_surface_distance
// and get_surface_distance, Euclidean, without sub-voxel areas).
//
// MONAI finds, for every predicted surface position, the nearest target surface position with a
// KD-tree. Here the exact Euclidean distance transform of the target surface
// (DistanceTransform.swift, linear time) is read at the predicted surface positions: the same
// distances. Both work inside the bounding box of the union of the two masks (MONAI crops to it
// too); the surfaces lie inside it, so the distances do not change.
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

    /// The distances of two row-major masks (checked spacing, no other checks).
    static func compute(
        _ predicted: UnsafeBufferPointer<Bool>, _ target: UnsafeBufferPointer<Bool>, shape: [Int],
        spacing: [Double], symmetric: Bool
    ) -> SurfaceDistances {
        guard let box = BoundingBox(predicted, target, shape: shape) else {
            return SurfaceDistances(predictedToTarget: [], targetToPredicted: [])
        }
        let croppedPredicted = box.crop(predicted)
        let croppedTarget = box.crop(target)
        let edgesPredicted = croppedPredicted.withUnsafeBufferPointer { SurfaceExtraction.edges($0, shape: box.shape) }
        let edgesTarget = croppedTarget.withUnsafeBufferPointer { SurfaceExtraction.edges($0, shape: box.shape) }
        // The distance fields are allocated here, on the calling thread, so that a process
        // whose allocator retains large blocks (AllocationPolicy) reuses them across calls
        // instead of page-faulting fresh worker-thread memory each time.
        let count = box.shape.reduce(1, *)
        let fields = FieldBuffers(count: symmetric ? 2 * count : count)
        defer { fields.storage.deallocate() }
        guard symmetric else {
            return SurfaceDistances(
                predictedToTarget: directed(
                    from: edgesPredicted, to: edgesTarget, shape: box.shape, spacing: spacing,
                    field: fields.field(0, count)),
                targetToPredicted: [])
        }
        // The two directions are independent: one thread each (the result does not depend on it).
        // Each side works in its own half of `fields`, freed after concurrentPerform returns.
        let shared = TaskShared(fields)
        let results = Mutex<(forward: [Double], backward: [Double])>(([], []))
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            let field = shared.buffers.field(side, count)
            let d =
                side == 0
                ? directed(from: edgesPredicted, to: edgesTarget, shape: box.shape, spacing: spacing, field: field)
                : directed(from: edgesTarget, to: edgesPredicted, shape: box.shape, spacing: spacing, field: field)
            results.withLock { if side == 0 { $0.forward = d } else { $0.backward = d } }
        }
        let (forward, backward) = results.withLock { ($0.forward, $0.backward) }
        return SurfaceDistances(predictedToTarget: forward, targetToPredicted: backward)
    }

    /// Distances from each `from` surface position to the nearest `to` surface position, with
    /// get_surface_distance's conventions for an empty side.
    static func directed(
        from: [Bool], to: [Bool], shape: [Int], spacing: [Double], field: UnsafeMutableBufferPointer<Double>
    ) -> [Double] {
        let fromCount = from.lazy.filter { $0 }.count
        let toCount = to.lazy.filter { $0 }.count
        if toCount == 0 { return [Double](repeating: .infinity, count: fromCount) }
        if fromCount == 0 { return [Double](repeating: .infinity, count: toCount) }
        from.withUnsafeBufferPointer { queries in
            to.withUnsafeBufferPointer { features in
                DistanceTransform.transform(
                    features: features, into: field, shape: shape, spacing: spacing, queries: queries)
            }
        }
        var distances: [Double] = []
        distances.reserveCapacity(fromCount)
        for i in from.indices where from[i] { distances.append(field[i].squareRoot()) }
        return distances
    }
}

/// Scratch memory for one or two distance fields (every value is written before it is read).
private struct FieldBuffers {
    let storage: UnsafeMutableBufferPointer<Double>

    init(count: Int) { storage = .allocate(capacity: count) }

    /// The `index`-th field of `count` values.
    func field(_ index: Int, _ count: Int) -> UnsafeMutableBufferPointer<Double> {
        UnsafeMutableBufferPointer(rebasing: storage[(index * count)..<((index + 1) * count)])
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
            var first = -1
            var final = -1
            for x in 0..<last where a[i + x] || b[i + x] {
                if first < 0 { first = x }
                final = x
            }
            if first >= 0 {
                for axis in 0..<(rank - 1) {
                    low[axis] = Swift.min(low[axis], coordinate[axis])
                    high[axis] = Swift.max(high[axis], coordinate[axis])
                }
                low[rank - 1] = Swift.min(low[rank - 1], first)
                high[rank - 1] = Swift.max(high[rank - 1], final)
            }
            i += last
            var axis = rank - 2
            while axis >= 0 {
                coordinate[axis] += 1
                if coordinate[axis] < shape[axis] { break }
                coordinate[axis] = 0
                axis -= 1
            }
        }
        guard high[0] >= 0 else { return nil }
        origin = low
        self.shape = (0..<rank).map { high[$0] - low[$0] + 1 }
        imageShape = shape
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
            var axis = rank - 2
            while axis >= 0 {
                coordinate[axis] += 1
                if coordinate[axis] < shape[axis] { break }
                coordinate[axis] = 0
                axis -= 1
            }
        }
        return result
    }
}
