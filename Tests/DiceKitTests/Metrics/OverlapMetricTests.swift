// Hard Dice/IoU against MONAI's compute_dice / compute_iou (goldens from
// Scripts/make_loss_fixtures.py, "MONAI DiceMetric / MeanIoU goldens"), the empty-class
// policies, the reductions and thresholded probabilities.

import XCTest

@testable import DiceKit

final class OverlapMetricTests: XCTestCase {
    func labels(_ name: String) throws -> LabelMap {
        let array = try NPY.read(contentsOf: fixtureURL("losses/\(name).npy").path)
        return try LabelMap(shape: array.shape, labels: array.integers())
    }

    func golden(_ name: String) throws -> [Double] {
        try NPY.read(contentsOf: fixtureURL("losses/\(name).npy").path).tensor(of: Double.self).scalars
    }

    func assertSame(_ a: [Double], _ b: [Double], _ message: String, file: StaticString = #filePath, line: UInt = #line)
    {
        assertClose(a, b, relativeTolerance: 0, absoluteTolerance: 1e-12, message, file: file, line: line)
    }

    func testAgainstMONAI() throws {
        let predicted = try labels("metric_pred_labels")
        let target = try labels("metric_target_labels")
        var metric = OverlapMetric(score: .dice, reduction: .none)
        let counts = try metric.counts(predicted: predicted, target: target, classes: 3)
        assertSame(metric.scores(counts), try golden("metric_dice_ignore_empty"), "dice, exclude")
        metric.emptyClass = .smooth
        assertSame(metric.scores(counts), try golden("metric_dice_keep_empty"), "dice, ignore_empty=False")
        metric.emptyClass = .exclude
        metric.includeBackground = false
        assertSame(metric.scores(counts), try golden("metric_dice_no_background"), "dice, no background")
        metric.includeBackground = true
        metric.score = .iou
        assertSame(metric.scores(counts), try golden("metric_iou_ignore_empty"), "iou")
    }

    func testCountsPoliciesAndReductions() throws {
        // Two samples, 2×2, three classes; class 2 is absent from sample 0's target.
        let target = try LabelMap(shape: [2, 2, 2], labels: [0, 1, 1, 0, 2, 2, 0, 1])
        let predicted = try LabelMap(shape: [2, 2, 2], labels: [0, 1, 2, 0, 2, 0, 0, 1])
        var metric = OverlapMetric()
        let c = try metric.counts(predicted: predicted, target: target, classes: 3)
        XCTAssertEqual(c.truePositives, [2, 1, 0, 1, 1, 1])
        XCTAssertEqual(c.falsePositives, [0, 0, 1, 1, 0, 0])
        XCTAssertEqual(c.falseNegatives, [0, 1, 0, 0, 0, 1])
        let expected: [Double] = [1, 2.0 / 3, .nan, 2.0 / 3, 1, 2.0 / 3]
        metric.reduction = .none
        assertSame(metric.scores(c), expected, "none")
        let s = metric.scores(c)
        metric.reduction = .mean
        assertSame(metric.reduce(s, c), [(1 + 2.0 / 3 + 2.0 / 3 + 1 + 2.0 / 3) / 5], "mean")
        metric.reduction = .sum
        assertSame(metric.reduce(s, c), [1 + 2.0 / 3 + 2.0 / 3 + 1 + 2.0 / 3], "sum")
        metric.reduction = .meanBatch
        assertSame(metric.reduce(s, c), [5.0 / 6, 5.0 / 6, 2.0 / 3], "mean-batch")
        metric.reduction = .meanClasses
        assertSame(metric.reduce(s, c), [5.0 / 6, 7.0 / 9], "mean-classes")
        metric.emptyClass = .one
        XCTAssertEqual(metric.scores(c)[2], 1)
        metric.emptyClass = .zero
        XCTAssertEqual(metric.scores(c)[2], 0)
        metric.emptyClass = .smooth
        XCTAssertEqual(metric.scores(c)[2], 0) // one false positive
        metric.emptyClass = .penalize
        XCTAssertEqual(metric.scores(c)[2], 0.75) // 1 − 1/4
        metric.score = .iou
        metric.emptyClass = .exclude
        XCTAssertEqual(metric.scores(c)[1], 0.5)
    }

    func testThresholdedProbabilitiesMatchLabels() throws {
        // Channels-first probabilities whose argmax equals the predicted labels; threshold 0.5.
        var generator = SeededGenerator(seed: 5)
        let target = try LabelMap(shape: [2, 3, 4], labels: (0..<24).map { _ in Int(generator.next() % 3) })
        let predictedRaw = (0..<24).map { _ in Int(generator.next() % 3) }
        var probabilities = Tensor<Float>(shape: [2, 3, 3, 4])
        for b in 0..<2 {
            for i in 0..<12 {
                for k in 0..<3 { probabilities[b, k, i / 4, i % 4] = predictedRaw[b * 12 + i] == k ? 0.8 : 0.1 }
            }
        }
        var metric = OverlapMetric()
        metric.layout = .channelsFirst
        let fromProbabilities = try metric.counts(probabilities: probabilities, target: .labels(target))
        let fromLabels = try metric.counts(
            predicted: LabelMap(shape: [2, 3, 4], labels: predictedRaw), target: target, classes: 3)
        XCTAssertEqual(fromProbabilities, fromLabels)
        // Ignored target positions count nowhere.
        metric.ignoreIndex = 1
        let ignored = try metric.counts(probabilities: probabilities, target: .labels(target))
        XCTAssertEqual(ignored.truePositives[1] + ignored.falseNegatives[1], 0)
        XCTAssertThrowsError(
            try metric.counts(predicted: LabelMap(shape: [2, 3, 4], labels: predictedRaw), target: target, classes: 2))
    }
}
