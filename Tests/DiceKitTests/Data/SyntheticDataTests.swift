// The synthetic polyp and 3-D blob data sets: determinism, shapes, ranges, and the promised
// variety (empty images, tiny and large polyps, instruments).

import XCTest

@testable import DiceKit

final class SyntheticDataTests: XCTestCase {
    func testPolypsAreDeterministicAndPrefixStable() throws {
        let a = try SegmentationDataset.syntheticPolyps(count: 6, seed: 42, configuration: .init(size: 32))
        let b = try SegmentationDataset.syntheticPolyps(count: 6, seed: 42, configuration: .init(size: 32))
        XCTAssertEqual(a, b)
        let prefix = try SegmentationDataset.syntheticPolyps(count: 3, seed: 42, configuration: .init(size: 32))
        XCTAssertEqual(prefix, a.subset([0, 1, 2]), "image i depends only on (seed, i)")
        let other = try SegmentationDataset.syntheticPolyps(count: 6, seed: 43, configuration: .init(size: 32))
        XCTAssertNotEqual(other.images, a.images)
    }

    func testPolypShapesRangesAndVariety() throws {
        let data = try SegmentationDataset.syntheticPolyps(
            count: 120, seed: 1, configuration: .init(height: 48, width: 64))
        XCTAssertEqual(data.images.shape, [120, 48, 64, 3])
        XCTAssertEqual(data.labelShape, [120, 48, 64])
        XCTAssertEqual(data.classes, 2)
        XCTAssertGreaterThanOrEqual(data.images.min()!, 0)
        XCTAssertLessThanOrEqual(data.images.max()!, 1)
        let perImage = (0..<120).map { n in data.labels[(n * 48 * 64)..<((n + 1) * 48 * 64)].filter { $0 == 1 }.count }
        let fractions = perImage.map { Double($0) / Double(48 * 64) }
        XCTAssertGreaterThan(fractions.filter { $0 == 0 }.count, 3, "some images have no polyp")
        XCTAssertGreaterThan(fractions.filter { $0 > 0 && $0 < 0.01 }.count, 0, "tiny polyps exist")
        XCTAssertGreaterThan(fractions.filter { $0 > 0.15 }.count, 0, "large polyps exist")
        XCTAssertLessThan(fractions.max()!, 0.6)
        // Polyps are redder than the mucosa on average: mean G/R lower inside.
        var (inside, outside) = ((0.0, 0), (0.0, 0))
        for i in 0..<data.labels.count {
            let (r, g) = (Double(data.images.scalars[3 * i]), Double(data.images.scalars[3 * i + 1]))
            guard r > 0.05 else { continue }
            if data.labels[i] == 1 {
                inside = (inside.0 + g / r, inside.1 + 1)
            } else {
                outside = (outside.0 + g / r, outside.1 + 1)
            }
        }
        XCTAssertLessThan(inside.0 / Double(inside.1), outside.0 / Double(outside.1) - 0.05)
    }

    func testInstrumentClass() throws {
        let data = try SegmentationDataset.syntheticPolyps(
            count: 30, seed: 3, configuration: .init(size: 40, classes: 3))
        XCTAssertEqual(data.classes, 3)
        let frequencies = data.classFrequencies
        XCTAssertGreaterThan(frequencies[2], 0.005)
        XCTAssertGreaterThan(frequencies[1], 0.01)
        let binary = try SegmentationDataset.syntheticPolyps(count: 30, seed: 3, configuration: .init(size: 40))
        XCTAssertFalse(binary.labels.contains(2))
    }

    func testBadConfigurationsThrow() {
        XCTAssertThrowsError(try SegmentationDataset.syntheticPolyps(count: 0, seed: 1))
        XCTAssertThrowsError(try SegmentationDataset.syntheticPolyps(count: 1, seed: 1, configuration: .init(size: 4)))
        XCTAssertThrowsError(
            try SegmentationDataset.syntheticPolyps(count: 1, seed: 1, configuration: .init(size: 16, classes: 5))
        ) {
            guard ($0 as? DiceKitError)?.kind == .option else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SegmentationDataset.syntheticBlobs3D(count: 1, seed: 1, depth: 2))
    }

    func testBlobs3D() throws {
        let data = try SegmentationDataset.syntheticBlobs3D(count: 10, seed: 5, depth: 8, height: 12, width: 10)
        XCTAssertEqual(data.images.shape, [10, 8, 12, 10, 1])
        XCTAssertEqual(data.labelShape, [10, 8, 12, 10])
        XCTAssertEqual(
            data, try SegmentationDataset.syntheticBlobs3D(count: 10, seed: 5, depth: 8, height: 12, width: 10))
        let foreground = data.classFrequencies[1]
        XCTAssertGreaterThan(foreground, 0.02)
        XCTAssertLessThan(foreground, 0.5)
        // Blobs are brighter than the background.
        var (inside, outside) = ((0.0, 0), (0.0, 0))
        for (i, label) in data.labels.enumerated() {
            let v = Double(data.images.scalars[i])
            if label == 1 { inside = (inside.0 + v, inside.1 + 1) } else { outside = (outside.0 + v, outside.1 + 1) }
        }
        XCTAssertGreaterThan(inside.0 / Double(inside.1), outside.0 / Double(outside.1) + 0.15)
    }
}
