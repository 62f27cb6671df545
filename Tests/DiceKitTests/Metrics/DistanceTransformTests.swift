// The linear-time Euclidean distance transform against brute force on small random masks, 1-D
// to 3-D, with unit and anisotropic spacing; lines and volumes without any feature stay ∞.

import XCTest

@testable import DiceKit

final class DistanceTransformTests: XCTestCase {
    func bruteForce(_ features: [Bool], shape: [Int], spacing: [Double]) -> [Double] {
        let rank = shape.count
        func coordinates(_ i: Int) -> [Int] { gridCoordinates(i, shape: shape) }
        let sites = features.indices.filter { features[$0] }.map(coordinates)
        return features.indices.map { i in
            let x = coordinates(i)
            return sites.map { s in (0..<rank).reduce(0.0) { $0 + pow(Double(x[$1] - s[$1]) * spacing[$1], 2) } }.min()
                ?? .infinity
        }
    }

    func testAgainstBruteForce() throws {
        var generator = SeededGenerator(seed: 11)
        let shapes: [[Int]] = [[17], [9, 13], [6, 7, 8], [1, 5, 9], [12, 1, 4]]
        for shape in shapes {
            for density in [0.02, 0.1, 0.5] {
                for spacing in [
                    [Double](repeating: 1, count: shape.count), [2.5, 0.7, 1.3].prefix(shape.count).map { $0 },
                ] {
                    let count = shape.reduce(1, *)
                    let features = (0..<count).map { _ in Double(generator.next() % 10_000) / 10_000 < density }
                    let fast = try DistanceTransform.squaredEuclidean(
                        features: features, shape: shape, spacing: spacing)
                    let slow = bruteForce(features, shape: shape, spacing: spacing)
                    for i in 0..<count {
                        if slow[i].isInfinite {
                            XCTAssertEqual(fast[i], .infinity)
                            continue
                        }
                        XCTAssertEqual(
                            fast[i], slow[i], accuracy: 1e-12 * max(1, slow[i]),
                            "shape \(shape) spacing \(spacing) density \(density) at \(i)")
                    }
                }
            }
        }
    }

    func testNoFeatureIsInfinite() throws {
        let d = try DistanceTransform.squaredEuclidean(features: [Bool](repeating: false, count: 12), shape: [3, 4])
        XCTAssertTrue(d.allSatisfy { $0 == .infinity })
    }

    func testBadArgumentsThrow() {
        XCTAssertThrowsError(try DistanceTransform.squaredEuclidean(features: [true, false], shape: [3]))
        XCTAssertThrowsError(
            try DistanceTransform.squaredEuclidean(features: [true, false], shape: [2], spacing: [-1]))
        XCTAssertThrowsError(
            try DistanceTransform.squaredEuclidean(features: [true, false], shape: [2], spacing: [.nan]))
    }
}

final class DistanceTransformQueryTests: XCTestCase {
    /// With query positions, the transform is still exact wherever a query lies (the last pass
    /// skips the other lines).
    func testQueriedPositionsAreExact() throws {
        var generator = SeededGenerator(seed: 17)
        for shape in [[9, 13], [7, 6, 11]] {
            let count = shape.reduce(1, *)
            let features = (0..<count).map { _ in generator.next() % 17 == 0 }
            let queries = (0..<count).map { _ in generator.next() % 5 == 0 }
            let spacing = [1.3, 0.7, 2.1].prefix(shape.count).map { $0 }
            let full = try DistanceTransform.squaredEuclidean(features: features, shape: shape, spacing: spacing)
            var partial = [Double](repeating: 0, count: count)
            features.withUnsafeBufferPointer { f in
                queries.withUnsafeBufferPointer { q in
                    partial.withUnsafeMutableBufferPointer {
                        DistanceTransform.transform(features: f, into: $0, shape: shape, spacing: spacing, queries: q)
                    }
                }
            }
            for i in 0..<count where queries[i] { XCTAssertEqual(partial[i], full[i], "shape \(shape) at \(i)") }
        }
    }
}
