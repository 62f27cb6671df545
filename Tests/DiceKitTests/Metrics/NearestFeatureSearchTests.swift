// The surface distances' fast path against the slow ones: the nearest-feature row search against
// brute force (bit for bit) and against the distance transform, 1-D to 3-D with anisotropic
// spacing; the whole surface-distance computation with and without the search (the transform
// as the fallback); the surface extraction inside a bounding box against the cropped mask's; the
// percentile by selection against the one of the sorted distances.

import XCTest

@testable import DiceKit

final class NearestFeatureSearchTests: XCTestCase {
    /// The squared distance to the nearest feature by brute force, with the axes' terms added in
    /// the order of the transform and of the search ((s₀Δ₀)² + ((s₁Δ₁)² + (s₂Δ₂)²)).
    func bruteForce(_ features: [Bool], at i: Int, shape: [Int], spacing: [Double]) -> Double {
        let rank = shape.count
        func coordinates(_ i: Int) -> [Int] { gridCoordinates(i, shape: shape) }
        let x = coordinates(i)
        var best = Double.infinity
        for j in features.indices where features[j] {
            let y = coordinates(j)
            // The last axis first, then the others inward.
            var ordered = 0.0
            for a in stride(from: rank - 1, through: 0, by: -1) {
                let delta = Double(abs(x[a] - y[a])) * spacing[a]
                ordered = a == rank - 1 ? delta * delta : delta * delta + ordered
            }
            best = min(best, ordered)
        }
        return best
    }

    func search(_ features: [Bool], _ queries: [Bool], shape: [Int], spacing: [Double], budget: Int = .max)
        -> [Double]?
    {
        features.withUnsafeBufferPointer { f in
            queries.withUnsafeBufferPointer { q in
                NearestFeatureSearch.squaredDistances(
                    features: f, queries: q, shape: shape, spacing: spacing, queryCount: queries.filter { $0 }.count,
                    budget: budget)
            }
        }
    }

    func testSearchEqualsBruteForceAndTransform() throws {
        var generator = SeededGenerator(seed: 23)
        let shapes: [[Int]] = [[19], [9, 13], [1, 11], [7, 6, 11], [1, 5, 9], [12, 1, 4], [5, 9, 1]]
        for shape in shapes {
            let count = shape.reduce(1, *)
            for density in [1, 5, 40] {
                for spacing in [
                    [Double](repeating: 1, count: shape.count), [2.5, 0.7, 1.3].suffix(shape.count).map { $0 },
                ] {
                    var features = (0..<count).map { _ in generator.next() % 100 < density }
                    if !features.contains(true) { features[Int(generator.next() % UInt64(count))] = true }
                    let queries = (0..<count).map { _ in generator.next() % 3 == 0 }
                    let found = try XCTUnwrap(search(features, queries, shape: shape, spacing: spacing))
                    let full = try DistanceTransform.squaredEuclidean(
                        features: features, shape: shape, spacing: spacing)
                    let indices = queries.indices.filter { queries[$0] }
                    XCTAssertEqual(found.count, indices.count)
                    for (k, i) in indices.enumerated() {
                        let context = "shape \(shape) spacing \(spacing) density \(density) at \(i)"
                        XCTAssertEqual(found[k], bruteForce(features, at: i, shape: shape, spacing: spacing), context)
                        XCTAssertEqual(found[k], full[i], accuracy: 1e-12 * max(1, full[i]), context)
                    }
                }
            }
        }
    }

    func testSingleFeatureAtTheCorners() throws {
        // One feature in a corner, queries everywhere: the search crosses the whole box.
        let shape = [6, 5, 7]
        let count = shape.reduce(1, *)
        let spacing = [1.5, 0.5, 0.8]
        for corner in [0, count - 1] {
            var features = [Bool](repeating: false, count: count)
            features[corner] = true
            let queries = [Bool](repeating: true, count: count)
            let found = try XCTUnwrap(search(features, queries, shape: shape, spacing: spacing))
            for i in 0..<count {
                XCTAssertEqual(found[i], bruteForce(features, at: i, shape: shape, spacing: spacing), "at \(i)")
            }
        }
    }

    func testBudgetAndUnsupportedShapesGiveNil() {
        let features = [true] + [Bool](repeating: false, count: 15)
        let queries = [Bool](repeating: true, count: 16)
        XCTAssertNil(search(features, queries, shape: [4, 4], spacing: [1, 1], budget: 3))
        XCTAssertNotNil(search(features, queries, shape: [4, 4], spacing: [1, 1], budget: 1000))
        XCTAssertNil(search(features, queries, shape: [2, 2, 2, 2], spacing: [1, 1, 1, 1]))
    }
}

final class SurfaceDistancePathTests: XCTestCase {
    /// A random blobby mask: a few random boxes, some touching the image border.
    func blobs(_ shape: [Int], _ generator: inout SeededGenerator, boxes: Int) -> [Bool] {
        let rank = shape.count
        var mask = [Bool](repeating: false, count: shape.reduce(1, *))
        for _ in 0..<boxes {
            let low = shape.map { Int(generator.next() % UInt64($0)) }
            let high = zip(low, shape).map { l, n in min(n - 1, l + Int(generator.next() % UInt64(max(1, n / 2)))) }
            for i in mask.indices {
                var rest = i
                var inside = true
                for a in stride(from: rank - 1, through: 0, by: -1) {
                    let c = rest % shape[a]
                    rest /= shape[a]
                    if c < low[a] || c > high[a] { inside = false }
                }
                if inside { mask[i] = true }
            }
        }
        return mask
    }

    func distances(_ p: [Bool], _ t: [Bool], shape: [Int], spacing: [Double], budget: Int) -> SurfaceDistances {
        p.withUnsafeBufferPointer { pp in
            t.withUnsafeBufferPointer { tt in
                SurfaceDistances.compute(pp, tt, shape: shape, spacing: spacing, symmetric: true, searchBudget: budget)
            }
        }
    }

    func testSearchEqualsTransformOnRandomMasks() {
        var generator = SeededGenerator(seed: 31)
        let cases: [([Int], [Double])] = [
            ([23], [0.6]), ([17, 21], [1, 1]), ([17, 21], [2.5, 0.7]), ([9, 12, 10], [1, 1, 1]),
            ([9, 12, 10], [2.0, 0.8, 0.6]), ([1, 8, 9], [1.5, 0.5, 1]),
        ]
        for (shape, spacing) in cases {
            for trial in 0..<6 {
                let p = blobs(shape, &generator, boxes: 1 + trial % 3)
                let t = blobs(shape, &generator, boxes: 1 + (trial + 1) % 3)
                let fast = distances(p, t, shape: shape, spacing: spacing, budget: 1000)
                let slow = distances(p, t, shape: shape, spacing: spacing, budget: 0)
                let context = "shape \(shape) spacing \(spacing) trial \(trial)"
                XCTAssertEqual(fast.predictedToTarget.count, slow.predictedToTarget.count, context)
                XCTAssertEqual(fast.targetToPredicted.count, slow.targetToPredicted.count, context)
                for (a, b) in zip(fast.all, slow.all) {
                    XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, b), context)
                }
            }
        }
    }

    func testFarSurfacesFallBackToTheTransform() {
        // A full first plane against one voxel in the far corner: with the default budget the
        // search gives up (every query crosses the whole box) and the transform answers.
        let shape = [12, 10, 11]
        let count = shape.reduce(1, *)
        var p = [Bool](repeating: false, count: count)
        var t = p
        for i in 0..<(10 * 11) { p[i] = true }
        t[count - 1] = true
        let spacing = [1.5, 0.7, 1.0]
        let features = [Bool](repeating: false, count: count - 1) + [true]
        let queries = p
        let withinBudget = features.withUnsafeBufferPointer { f in
            queries.withUnsafeBufferPointer { q in
                NearestFeatureSearch.squaredDistances(
                    features: f, queries: q, shape: shape, spacing: spacing, queryCount: 110, budget: 2 * count)
            }
        }
        XCTAssertNil(withinBudget, "the default budget is exceeded")
        let fallback = distances(p, t, shape: shape, spacing: spacing, budget: 2)
        let searched = distances(p, t, shape: shape, spacing: spacing, budget: 1000)
        XCTAssertEqual(fallback.predictedToTarget.count, 110)
        for (a, b) in zip(fallback.all, searched.all) { XCTAssertEqual(a, b, accuracy: 1e-12 * b) }
    }

    func testSingleVoxelsAndEmptySidesOnBothPaths() {
        let shape = [5, 6, 7]
        let count = shape.reduce(1, *)
        var p = [Bool](repeating: false, count: count)
        var t = p
        p[0] = true // a corner of the image
        t[count - 1] = true // the opposite corner
        let spacing = [1.0, 0.5, 2.0]
        let expected = (Double(4 * 4) * 1 + Double(5 * 5) * 0.25 + Double(6 * 6) * 4).squareRoot()
        for budget in [0, 2] {
            let d = distances(p, t, shape: shape, spacing: spacing, budget: budget)
            XCTAssertEqual(d.predictedToTarget, [expected])
            XCTAssertEqual(d.targetToPredicted, [expected])
            let empty = distances(
                p, [Bool](repeating: false, count: count), shape: shape, spacing: spacing, budget: budget)
            XCTAssertEqual(empty.predictedToTarget, [.infinity])
            XCTAssertEqual(empty.targetToPredicted, [.infinity]) // MONAI: one ∞ per predicted position
        }
    }

    func testEdgesInsideTheBoxEqualTheCroppedMasksEdges() {
        var generator = SeededGenerator(seed: 37)
        for shape in [[30], [11, 14], [7, 9, 12], [1, 6, 8]] {
            for trial in 0..<5 {
                let a = blobs(shape, &generator, boxes: 1 + trial % 3)
                let b = blobs(shape, &generator, boxes: 1)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        guard let box = BoundingBox(pa, pb, shape: shape) else { return XCTFail("empty masks") }
                        for mask in [pa, pb] {
                            let cropped = box.crop(mask)
                            let expected = cropped.withUnsafeBufferPointer {
                                SurfaceExtraction.edges($0, shape: box.shape)
                            }
                            let found = SurfaceExtraction.edges(mask, in: box)
                            XCTAssertEqual(found.edges, expected, "shape \(shape) trial \(trial)")
                            XCTAssertEqual(found.count, expected.filter { $0 }.count)
                        }
                    }
                }
            }
        }
    }

    func testPercentileBySelectionEqualsSorted() {
        var generator = SeededGenerator(seed: 41)
        for count in [1, 2, 3, 10, 101, 1000] {
            // Few distinct values (many ties), some infinite.
            let values = (0..<count).map { _ -> Double in
                let r = generator.next() % 23
                return r == 0 ? .infinity : Double(r).squareRoot()
            }
            for q in [0.0, 0.05, 0.5, 0.95, 0.999, 1] {
                var copy = values
                let selected = SurfaceDistanceMetric.quantile(selecting: &copy, q)
                let sorted = SurfaceDistanceMetric.quantile(values.sorted(), q)
                XCTAssertTrue(
                    selected == sorted || (selected.isNaN && sorted.isNaN),
                    "count \(count) q \(q): \(selected) \(sorted)")
            }
        }
    }
}
