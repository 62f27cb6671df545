// Lesion-wise scores against MONAI 1.6's compute_panoptic_quality on the components of each class
// (Scripts/make_component_fixtures.py), the assignment below a threshold of 0.5 against every
// permutation, and the counts' own rules.

import XCTest

@testable import DiceKit

final class PanopticQualityTests: XCTestCase {
    func testCountsAndScoresMatchMONAI() throws {
        let cases = try metricGolden("components")["panoptic"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 12)
        for c in cases {
            let shape = goldenIntegers(c["shape"])
            let classes = (c["classes"] as! NSNumber).intValue
            let threshold = (c["match_iou_threshold"] as! NSNumber).doubleValue
            let metric = try PanopticQualityMetric(
                matchThreshold: threshold, connectivity: (c["connectivity"] as! NSNumber).intValue)
            let counts = try metric.counts(
                predicted: LabelMap(shape: shape, labels: goldenIntegers(c["pred"])),
                target: LabelMap(shape: shape, labels: goldenIntegers(c["target"])), classes: classes)
            let expected = c["counts"] as! [[NSNumber]]
            let scores = c["pq_sq_rq"] as! [[NSNumber]]
            XCTAssertEqual(counts.count, expected.count)
            for (i, (count, golden)) in zip(counts, expected).enumerated() {
                let label = "\(shape) threshold \(threshold) \(metric.connectivity!) pair \(i)"
                XCTAssertEqual(
                    [count.truePositives, count.falsePositives, count.falseNegatives],
                    golden.prefix(3).map(\.intValue), label)
                XCTAssertEqual(count.iouSum, golden[3].doubleValue, accuracy: 1e-6 * max(1, count.iouSum), label)
                let ours = [PanopticScore.panopticQuality, .segmentationQuality, .recognitionQuality].map {
                    count.score($0)
                }
                assertClose(
                    ours, scores[i].map(\.doubleValue), relativeTolerance: 1e-5, absoluteTolerance: 1e-6, label)
            }
        }
    }

    func testAssignmentBelowOneHalfIsTheLargestIoUSum() throws {
        // Random small weight tables: the matching's sum equals the best over every permutation.
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let rows = Int.random(in: 1...5, using: &generator)
            let columns = Int.random(in: 1...5, using: &generator)
            var pairs: [(t: Int, p: Int, iou: Double)] = []
            for t in 0..<rows {
                for p in 0..<columns where Bool.random(using: &generator) {
                    pairs.append((t, p, Double.random(in: 0.01...1, using: &generator)))
                }
            }
            let matched = LinearAssignment.maximumSum(pairs)
            XCTAssertEqual(Set(matched.map(\.t)).count, matched.count, "one column per row")
            XCTAssertEqual(Set(matched.map(\.p)).count, matched.count, "one row per column")
            let weight = Dictionary(uniqueKeysWithValues: pairs.map { ("\($0.t),\($0.p)", $0.iou) })
            func best(_ row: Int, _ used: Set<Int>) -> Double {
                guard row < rows else { return 0 }
                var result = best(row + 1, used)
                for p in 0..<columns where !used.contains(p) {
                    if let w = weight["\(row),\(p)"] { result = max(result, w + best(row + 1, used.union([p]))) }
                }
                return result
            }
            XCTAssertEqual(matched.reduce(0) { $0 + $1.iou }, best(0, []), accuracy: 1e-12, "trial \(trial)")
        }
    }

    func testMatchingRulesAndEmptyClasses() throws {
        // One target lesion of 4 pixels; the prediction covers 3 of them plus 1 more: IoU 3/5.
        let target: [Int32] = [1, 1, 1, 1, 0, 0, 0, 0]
        let predicted: [Int32] = [0, 1, 1, 1, 1, 0, 0, 2]
        let half = try InstanceMatchCounts(predicted: predicted, target: target)
        XCTAssertEqual(half, InstanceMatchCounts(truePositives: 1, falsePositives: 1, falseNegatives: 0, iouSum: 0.6))
        XCTAssertEqual(half.score(.recognitionQuality), 1 / 1.5, accuracy: 1e-6)
        XCTAssertEqual(half.score(.lesionSensitivity), 1, accuracy: 1e-6)
        XCTAssertEqual(half.score(.lesionPrecision), 0.5, accuracy: 1e-6)
        XCTAssertEqual(half.score(.panopticQuality), 0.6 / 1.5, accuracy: 1e-6)
        // Above the IoU the pair no longer matches: both lesions count as errors.
        let strict = try InstanceMatchCounts(predicted: predicted, target: target, matchThreshold: 0.6)
        XCTAssertEqual(strict, InstanceMatchCounts(truePositives: 0, falsePositives: 2, falseNegatives: 1))
        // No lesion on either side: NaN (MONAI gives 0), and it adds nothing to a sum over images.
        let empty = try InstanceMatchCounts(predicted: [0, 0], target: [0, 0])
        XCTAssertTrue(empty.isEmpty && empty.score(.panopticQuality).isNaN)
        XCTAssertEqual(half + empty, half)
        XCTAssertThrowsError(try InstanceMatchCounts(predicted: [0], target: [0, 0])) {
            XCTAssertTrue("\($0)".contains("1 and 2 positions"), "\($0)")
        }
        XCTAssertThrowsError(try PanopticQualityMetric(matchThreshold: 0)) {
            XCTAssertTrue("\($0)".contains("expected a value in (0, 1]"), "\($0)")
        }
        // Label maps and class masks give the same counts; labels outside the classes are refused.
        let metric = try PanopticQualityMetric()
        let p = try LabelMap(shape: [1, 2, 4], labels: [0, 1, 1, 0, 2, 2, 0, 1])
        let t = try LabelMap(shape: [1, 2, 4], labels: [0, 1, 1, 1, 2, 0, 0, 0])
        let counts = try metric.counts(predicted: p, target: t, classes: 3)
        XCTAssertEqual(
            counts,
            try metric.counts(predicted: ClassMasks(labels: p, classes: 3), target: ClassMasks(labels: t, classes: 3)))
        XCTAssertEqual(counts.count, 2, "classes 1 and 2")
        XCTAssertThrowsError(try metric.counts(predicted: p, target: t, classes: 2)) {
            XCTAssertTrue("\($0)".contains("label 2"), "\($0)")
        }
    }
}
