// Hausdorff (maximum and percentile, directed and symmetric), average (symmetric) surface distance
// and normalised surface Dice against MONAI 1.6 goldens (Scripts/make_metric_fixtures.py): 2-D and
// 3-D, anisotropic spacing, background included or not, classes missing from the prediction, the
// target or both; then the surface extraction and the input checks.

import XCTest

@testable import DiceKit

final class SurfaceDistanceMetricTests: XCTestCase {
    func metric(_ name: String, _ options: [String: Any]) -> SurfaceDistanceMetric {
        let score: SurfaceDistanceScore
        switch name {
        case "hausdorff":
            score = .hausdorff(
                percentile: (options["percentile"] as? NSNumber)?.doubleValue,
                directed: options["directed"] as? Bool ?? false)
        case "asd": score = .averageSurfaceDistance(symmetric: options["symmetric"] as? Bool ?? false)
        default: score = .surfaceDice(tolerances: goldenNumbers(options["tolerances"]))
        }
        let spacing = options["spacing"].map(goldenNumbers)
        return SurfaceDistanceMetric(
            score: score, includeBackground: options["include_background"] as! Bool,
            spacing: spacing, reduction: .none, useSubvoxels: options["use_subvoxels"] as? Bool ?? false)
    }

    func testAgainstMONAI() throws {
        let golden = try metricGolden("surface")
        let inputs = golden["inputs"] as! [String: [String: Any]]
        let cases = golden["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 35)
        for c in cases {
            let input = inputs[c["input"] as! String]!
            let p = try goldenMasks(input, "pred")
            let t = try goldenMasks(input, "target")
            let m = metric(c["metric"] as! String, c["options"] as! [String: Any])
            let values = try m.scores(predicted: p, target: t)
            let name = c["name"] as! String
            assertClose(
                values, goldenNumbers(c["double"]), relativeTolerance: 1e-9, absoluteTolerance: 1e-9,
                "\(name) (float64)")
            assertClose(
                values, goldenNumbers(c["float"]), relativeTolerance: 2e-4, absoluteTolerance: 2e-4,
                "\(name) (MONAI float32)")
        }
    }

    func testGoldensCoverEveryConvention() throws {
        let cases = try metricGolden("surface")["cases"] as! [[String: Any]]
        let all = cases.flatMap { goldenNumbers($0["float"]) }
        XCTAssertTrue(all.contains(.infinity), "a class missing from one side")
        XCTAssertTrue(all.contains { $0.isNaN }, "a class missing from both sides")
        XCTAssertTrue(all.contains(0), "NSD of a class missing from one side")
    }

    func testSurfaceIsMaskMinusErosion() throws {
        // A 4×5 block inside a 6×7 image: its border ring is the surface, the 2×3 core is not.
        var mask = [Bool](repeating: false, count: 42)
        for y in 1...4 { for x in 1...5 { mask[y * 7 + x] = true } }
        let edges = try SurfaceExtraction.edges(of: mask, shape: [6, 7])
        XCTAssertEqual(edges.filter { $0 }.count, 20 - 6)
        for y in 2...3 { for x in 2...4 { XCTAssertFalse(edges[y * 7 + x]) } }
        // Touching the image border counts as background outside.
        let full = try SurfaceExtraction.edges(of: [Bool](repeating: true, count: 9), shape: [3, 3])
        XCTAssertEqual(full, [true, true, true, true, false, true, true, true, true])
    }

    func testSingleVoxelsAreExact() throws {
        // Two single voxels (3, 4) apart with spacing (2, 0.5): distance √(36 + 4) both ways.
        var p = [Bool](repeating: false, count: 100)
        var t = p
        p[1 * 10 + 1] = true
        t[4 * 10 + 5] = true
        let d = try SurfaceDistances(predicted: p, target: t, shape: [10, 10], spacing: [2, 0.5])
        XCTAssertEqual(d.predictedToTarget, [Double(40).squareRoot()])
        XCTAssertEqual(d.targetToPredicted, [Double(40).squareRoot()])
    }

    func testBadInputIsRefusedWithOneLine() throws {
        let p = try ClassMasks(labels: LabelMap(shape: [1, 4, 4], labels: [Int](repeating: 1, count: 16)), classes: 2)
        let q = try ClassMasks(labels: LabelMap(shape: [1, 4, 5], labels: [Int](repeating: 1, count: 20)), classes: 2)
        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                return ""
            } catch { return "\(error)" }
        }
        XCTAssertTrue(
            message {
                _ = try SurfaceDistanceMetric(score: .hausdorff(percentile: nil, directed: false)).scores(
                    predicted: p, target: q)
            }
            .contains("expected the same shape"))
        XCTAssertTrue(
            message {
                _ = try SurfaceDistanceMetric(score: .hausdorff(percentile: 101, directed: false)).scores(
                    predicted: p, target: p)
            }
            .contains("expected a value in 0...100"))
        XCTAssertTrue(
            message {
                _ = try SurfaceDistanceMetric(score: .hausdorff(percentile: nil, directed: false), spacing: [1, 0])
                    .scores(predicted: p, target: p)
            }
            .contains("expected finite values > 0"))
        XCTAssertTrue(
            message {
                _ = try SurfaceDistanceMetric(score: .hausdorff(percentile: nil, directed: false), spacing: [1]).scores(
                    predicted: p, target: p)
            }
            .contains("one per spatial axis"))
        XCTAssertTrue(
            message {
                _ = try SurfaceDistanceMetric(score: .surfaceDice(tolerances: [-1])).scores(predicted: p, target: p)
            }
            .contains("≥ 0"))
        XCTAssertTrue(
            message { _ = try ClassMasks(labels: LabelMap(shape: [1, 2, 2], labels: [0, 1, 2, 3]), classes: 2) }
                .contains("label 2 at element 2; expected 0..<2"))
        XCTAssertTrue(
            message {
                _ = try ClassMasks(
                    oneHot: Tensor<Double>(shape: [1, 2, 2, 2], scalars: [0, 1, 0.5, 0.5, 1, 0, 0, 1]),
                    layout: .channelsLast)
            }
            .contains("expected 0 or 1"))
        for error in [
            message {
                _ = try SurfaceDistanceMetric(score: .hausdorff(percentile: -1, directed: false)).scores(
                    predicted: p, target: p)
            }
        ] {
            XCTAssertFalse(error.contains("\n"))
        }
    }

    func testOneHotChannelsFirstEqualsLabels() throws {
        let labels = try LabelMap(shape: [1, 2, 3], labels: [0, 1, 2, 2, 1, 0])
        var oneHot = [Double](repeating: 0, count: 18)
        for (i, l) in [0, 1, 2, 2, 1, 0].enumerated() { oneHot[l * 6 + i] = 1 }
        let fromOneHot = try ClassMasks(oneHot: Tensor(shape: [1, 3, 2, 3], scalars: oneHot), layout: .channelsFirst)
        XCTAssertEqual(fromOneHot, try ClassMasks(labels: labels, classes: 3))
    }
}
