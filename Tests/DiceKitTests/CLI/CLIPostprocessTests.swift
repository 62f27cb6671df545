// Component post-processing and lesion-wise scores through the built tool, against the library
// (itself checked against MONAI and scikit-image in Metrics/ConnectedComponentTests and
// PanopticQualityTests): `predict` writes filtered masks, `eval` scores filtered predictions and
// pools lesion counts, `metrics` reduces lesion counts as MONAI; every misuse is a one-line error.
// The fixture model of Fixtures/metrics is the identity, so its predictions are argmax(images).

import XCTest

@testable import DiceKit

final class CLIPostprocessTests: XCTestCase {
    private let checkpoint = fixtureURL("metrics/weights.safetensors").path
    private let data = fixtureURL("metrics").path

    /// The fixture's arg-max predictions and targets [7, 16, 16], 3 classes.
    private func fixture() throws -> (predicted: LabelMap, target: LabelMap) {
        let dataset = try SegmentationDataset.load(from: data, classes: 3)
        let target = try LabelMap(shape: dataset.labelShape, int32Labels: dataset.labels)
        return (try Predictor.argmax(dataset.images), target)
    }

    private func object(_ result: ToolResult) throws -> [String: Any] {
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    func testEvalPoolsLesionCountsAndScoresTheFilteredPrediction() throws {
        let (predicted, target) = try fixture()
        let json = try object(
            try runDicekit([
                "eval", "--checkpoint", checkpoint, "--data", data, "--batch-size", "3", "--connectivity", "1",
                "--match-iou", "0.4", "--metrics", "dice,pq,sq,rq,lesion-sensitivity,lesion-precision",
            ]))
        let metric = try PanopticQualityMetric(matchThreshold: 0.4, connectivity: 1)
        let counts = try metric.counts(predicted: predicted, target: target, classes: 3)
        let pooled = (0..<2).map { c in stride(from: c, to: counts.count, by: 2).map { counts[$0] }.reduce(.init(), +) }
        let lesions = try XCTUnwrap(json["lesions"] as? [String: [Int]])
        XCTAssertEqual(lesions["tp"], [0] + pooled.map(\.truePositives))
        XCTAssertEqual(lesions["fp"], [0] + pooled.map(\.falsePositives))
        XCTAssertEqual(lesions["fn"], [0] + pooled.map(\.falseNegatives))
        XCTAssertGreaterThan(pooled.map(\.truePositives).reduce(0, +), 0, "the fixture has matched lesions")
        for score in PanopticScore.allCases {
            let values = try XCTUnwrap(json[score.rawValue] as? [Any], score.rawValue)
            XCTAssertTrue(values[0] is NSNull, "the background is not scored")
            for c in 1..<3 {
                XCTAssertEqual(values[c] as! Double, pooled[c - 1].score(score), accuracy: 1e-12, score.rawValue)
            }
        }

        // With a filter, Dice is that of the filtered prediction (Trainer.evaluate(postprocessing:)).
        // The fixture's predictions hold one component per class, of 12 to 48 pixels.
        let filter = try ComponentFilter(minimumSize: 20, connectivity: 1)
        let filtered = try object(
            try runDicekit([
                "eval", "--checkpoint", checkpoint, "--data", data, "--min-size", "20", "--connectivity", "1",
            ]))
        let metricDice = OverlapMetric(score: .dice, reduction: .none, emptyClass: .exclude)
        let perImage = metricDice.scores(
            try metricDice.counts(predicted: filter.apply(to: predicted), target: target, classes: 3))
        let dice = try XCTUnwrap(filtered["dice"] as? [Double])
        for c in 0..<3 {
            let values = stride(from: c, to: perImage.count, by: 3).map { perImage[$0] }.filter { !$0.isNaN }
            XCTAssertEqual(dice[c], values.reduce(0, +) / Double(values.count), accuracy: 1e-12, "class \(c)")
        }
        let unfiltered = try object(try runDicekit(["eval", "--checkpoint", checkpoint, "--data", data]))
        XCTAssertNotEqual(unfiltered["dice"] as? [Double], dice, "the filter changed something to check")
    }

    func testPredictWritesFilteredMasks() throws {
        let predicted = try fixture().predicted
        let directory = try temporaryDirectory(self)
        // The same filter as a plan file (`--postprocess`): a size step, then a count step.
        let plan = directory.path + "/plan.json"
        try #"{"classes": 3, "spatial_rank": 2, "steps": [{"min_size": 20}, {"keep_largest": 2}]}"#.write(
            toFile: plan, atomically: true, encoding: .utf8)
        for (name, extra) in [
            ("plain", [String]()), ("filtered", ["--min-size", "20", "--keep-largest", "2"]),
            ("planned", ["--postprocess", plan]),
        ] {
            let result = try runDicekit(
                ["predict", "--checkpoint", checkpoint, "--input", data, "--masks", directory.path + "/" + name]
                    + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let filter = try ComponentFilter(keepLargest: 2, minimumSize: 20)
        let expected = try filter.apply(to: predicted).labels
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/filtered").sorted()
        XCTAssertEqual(names.count, 7)
        var written: [Int] = []
        var plain: [Int] = []
        var planned: [Int] = []
        for name in names {
            written += try PNG.read(contentsOf: directory.path + "/filtered/" + name).pixels.map(Int.init)
            plain += try PNG.read(contentsOf: directory.path + "/plain/" + name).pixels.map(Int.init)
            planned += try PNG.read(contentsOf: directory.path + "/planned/" + name).pixels.map(Int.init)
        }
        XCTAssertEqual(written, expected)
        XCTAssertEqual(planned, expected)
        XCTAssertEqual(plain, predicted.labels)
        XCTAssertNotEqual(written, plain, "the filter changed something to check")
    }

    func testMetricsReduceLesionCountsAsMONAI() throws {
        let (predicted, target) = try fixture()
        let directory = try temporaryDirectory(self)
        let (p, t) = (directory.path + "/p.npy", directory.path + "/t.npy")
        try NPY.write(NPYArray(integers: predicted.labels, shape: predicted.shape), to: p)
        try NPY.write(NPYArray(integers: target.labels, shape: target.shape), to: t)
        let metric = try PanopticQualityMetric(matchThreshold: 0.3, connectivity: 2)
        let counts = try metric.counts(predicted: predicted, target: target, classes: 3)
        for computeSample in [false, true] {
            let json = try object(
                try runDicekit(
                    ["metrics", p, t, "--metrics", "pq,rq", "--match-iou", "0.3", "--reduction", "mean-batch"]
                        + (computeSample ? ["--compute-sample"] : [])))
            let values = try XCTUnwrap(json["metrics"] as? [String: [String: Any]])
            for score in [PanopticScore.panopticQuality, .recognitionQuality] {
                let perSample = counts.map { $0.score(score) }
                let expected: [Double]
                if computeSample {
                    expected = ScoreReduction.meanBatch.reduce(perSample, samples: 7, classes: 2)
                } else {
                    // Mean counts per class, then the ratio.
                    expected = (0..<2).map { c in
                        let column = stride(from: c, to: counts.count, by: 2).map { counts[$0] }
                        let mean = { (f: (InstanceMatchCounts) -> Double) in column.map(f).reduce(0, +) / 7 }
                        return score.value(
                            truePositives: mean { Double($0.truePositives) },
                            falsePositives: mean { Double($0.falsePositives) },
                            falseNegatives: mean { Double($0.falseNegatives) }, iouSum: mean(\.iouSum))
                    }
                }
                let got = try XCTUnwrap(values[score.rawValue]?["value"] as? [Double], "\(values)")
                assertClose(got, expected, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, score.rawValue)
                let rows = try XCTUnwrap(values[score.rawValue]?["per_sample"] as? [[Any]])
                XCTAssertEqual(rows.count, 7)
            }
        }
    }

    func testMisusesAreOneLineErrors() throws {
        let predict = ["predict", "--checkpoint", checkpoint, "--input", data, "--masks", "/tmp/unused-masks"]
        let eval = ["eval", "--checkpoint", checkpoint, "--data", data]
        let cases: [([String], String)] = [
            (predict + ["--connectivity", "1"], "--connectivity applies with --keep-largest N or --min-size S"),
            (predict + ["--merge-classes"], "--merge-classes applies with --keep-largest N or --min-size S"),
            (predict + ["--postprocess-classes", "1"], "--postprocess-classes applies with --keep-largest"),
            (predict + ["--keep-largest", "0"], "--keep-largest 0; expected a count ≥ 1"),
            (predict + ["--min-size", "-2"], "--min-size -2; expected a size ≥ 1"),
            (predict + ["--keep-largest", "1", "--postprocess-classes", "3"], "expected classes in 1..<3"),
            (predict + ["--keep-largest", "1", "--postprocess-classes", "1,1"], "list a class twice"),
            (predict + ["--keep-largest", "1", "--connectivity", "3"], "--connectivity 3; expected 1...2"),
            (eval + ["--match-iou", "0.5"], "--match-iou applies to the lesion metrics"),
            (eval + ["--metrics", "rq", "--match-iou", "0"], "--match-iou expects an IoU in (0, 1], got 0.0"),
            (eval + ["--metrics", "lesions"], "unknown metric 'lesions'"),
            (eval + ["--connectivity", "1"], "--connectivity applies with --keep-largest N or --min-size S"),
        ]
        for (arguments, message) in cases {
            let result = try runDicekit(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 2, result.stderr)
        }
        // --connectivity serves the lesion metrics without a filter.
        let lesions = try runDicekit(eval + ["--metrics", "rq", "--connectivity", "1"])
        XCTAssertEqual(lesions.status, 0, lesions.stderr)
        let metrics = try runDicekit(["metrics", data + "/masks.npy", data + "/masks.npy", "--match-iou", "0.5"])
        XCTAssertEqual(metrics.status, 2)
        XCTAssertTrue(metrics.stderr.contains("--match-iou applies to the lesion metrics"), metrics.stderr)
    }
}
