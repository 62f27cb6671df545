// The seventeen confusion-matrix metrics, with and without the background, per sample or on
// reduced counts, under every reduction, and the generalized Dice score for every weight and
// reduction, against MONAI 1.6 goldens (Scripts/make_metric_fixtures.py); MONAI's reductions.

import XCTest

@testable import DiceKit

final class ConfusionMatrixMetricTests: XCTestCase {
    static let reductions: [String: ScoreReduction] = [
        "mean": .mean, "sum": .sum, "mean_batch": .meanBatch, "sum_batch": .sumBatch,
        "mean_channel": .meanClasses, "sum_channel": .sumClasses, "none": .none,
    ]

    func testConfusionMetricsAgainstMONAI() throws {
        let golden = try metricGolden("confusion")
        let p = try goldenMasks(golden, "pred")
        let t = try goldenMasks(golden, "target")
        let cases = golden["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 17 * 2 * 2 * 7)
        for c in cases {
            let name = try XCTUnwrap(ConfusionMetricName(alias: c["name"] as! String), c["name"] as! String)
            let metric = ConfusionMatrixMetric(
                name: name, includeBackground: c["include_background"] as! Bool,
                computeSample: c["compute_sample"] as! Bool,
                reduction: Self.reductions[c["reduction"] as! String]!)
            let values = try metric.evaluate(predicted: p, target: t)
            let label =
                "\(name) background \(metric.includeBackground) sample \(metric.computeSample) \(metric.reduction)"
            assertClose(
                values, goldenNumbers(c["double"]), relativeTolerance: 1e-9, absoluteTolerance: 1e-9,
                label + " (float64)")
            assertClose(
                values, goldenNumbers(c["float"]), relativeTolerance: 2e-4, absoluteTolerance: 2e-4,
                label + " (MONAI float32)")
        }
    }

    func testAliases() {
        XCTAssertEqual(ConfusionMetricName(alias: "recall"), .sensitivity)
        XCTAssertEqual(ConfusionMetricName(alias: "F1"), .f1Score)
        XCTAssertEqual(ConfusionMetricName(alias: "balanced-accuracy"), .balancedAccuracy)
        XCTAssertEqual(ConfusionMetricName(alias: "youden index"), .informedness)
        XCTAssertNil(ConfusionMetricName(alias: "dice"))
    }

    func testGeneralizedDiceScoreAgainstMONAI() throws {
        let golden = try metricGolden("gds")
        let p = try goldenMasks(golden, "pred")
        let t = try goldenMasks(golden, "target")
        let cases = golden["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 2 * 3 * 7)
        for c in cases {
            let score = GeneralizedDiceScore(
                includeBackground: c["include_background"] as! Bool,
                weight: GeneralizedWeight(rawValue: c["weight"] as! String)!,
                reduction: Self.reductions[c["reduction"] as! String]!)
            let values = try score.evaluate(predicted: p, target: t)
            let label = "GDS background \(score.includeBackground) \(score.weight) \(score.reduction)"
            assertClose(
                values, goldenNumbers(c["double"]), relativeTolerance: 1e-9, absoluteTolerance: 1e-9,
                label + " (float64)")
            assertClose(
                values, goldenNumbers(c["float"]), relativeTolerance: 2e-4, absoluteTolerance: 2e-4,
                label + " (MONAI float32)")
        }
    }

    func testReductionsAgainstMONAI() throws {
        let golden = try metricGolden("reduction")
        let values = goldenNumbers(golden["values"])
        for c in golden["cases"] as! [[String: Any]] {
            let reduction = Self.reductions[c["reduction"] as! String]!
            let reduced = reduction.reduce(values, samples: 4, classes: 3)
            XCTAssertEqual(reduced.count, reduction.shape(samples: 4, classes: 3).reduce(1, *))
            assertClose(
                reduced, goldenNumbers(c["double"]), relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "\(reduction)")
        }
    }
}
