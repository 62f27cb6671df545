// `dicekit metrics`: its JSON against the library (itself checked against MONAI in
// Metrics/SurfaceDistanceMetricTests), label maps and one-hot inputs, and one-line errors for
// bad input; `dicekit eval --metrics ...,hd95,nsd` against the library on the eval fixture.

import XCTest

@testable import DiceKit

final class CLIMetricsTests: XCTestCase {
    /// A 2-sample 3-D pair of label maps with 3 classes, written to `directory`.
    func writePair(_ directory: URL) throws -> (pred: String, target: String, p: LabelMap, t: LabelMap) {
        var generator = SeededGenerator(seed: 5)
        let shape = [2, 6, 7, 8]
        let count = shape.reduce(1, *)
        let target = (0..<count).map { i -> Int in
            let (z, y, x) = ((i / 56) % 6, (i / 8) % 7, i % 8)
            return (z - 3) * (z - 3) + (y - 3) * (y - 3) + (x - 4) * (x - 4) < 7 ? 1 : (x < 2 ? 2 : 0)
        }
        let pred = target.map { t in generator.next() % 7 == 0 ? Int(generator.next() % 3) : t }
        let predPath = directory.appendingPathComponent("pred.npy").path
        let targetPath = directory.appendingPathComponent("target.npy").path
        try NPY.write(NPYArray(integers: pred, shape: shape), to: predPath)
        try NPY.write(NPYArray(integers: target, shape: shape, dtype: .uint8), to: targetPath)
        return (
            predPath, targetPath, try LabelMap(shape: shape, labels: pred), try LabelMap(shape: shape, labels: target)
        )
    }

    func metrics(_ result: ToolResult) throws -> [String: [String: Any]] {
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        return try XCTUnwrap(json["metrics"] as? [String: [String: Any]])
    }

    func testMetricsMatchTheLibrary() throws {
        let directory = try temporaryDirectory(self)
        let (pred, target, p, t) = try writePair(directory)
        let result = try runDicekit([
            "metrics", pred, target, "--metrics", "hd,hd95,assd,nsd,dice,sensitivity,gds",
            "--spacing", "2,1,0.5", "--percentile", "90", "--tolerance", "1.5",
        ])
        let json = try metrics(result)
        let pm = try ClassMasks(labels: p, classes: 3)
        let tm = try ClassMasks(labels: t, classes: 3)
        let spacing = [2.0, 1, 0.5]
        let checks: [(String, SurfaceDistanceScore)] = [
            ("hd", .hausdorff(percentile: nil, directed: false)),
            ("hd95", .hausdorff(percentile: 90, directed: false)),
            ("assd", .averageSurfaceDistance(symmetric: true)),
            ("nsd", .surfaceDice(tolerances: [1.5])),
        ]
        for (name, score) in checks {
            let metric = SurfaceDistanceMetric(score: score, spacing: spacing)
            let perSample = try metric.scores(predicted: pm, target: tm)
            let expected = ScoreReduction.mean.reduce(perSample, samples: 2, classes: 2)[0]
            XCTAssertEqual(try XCTUnwrap(json[name]?["value"] as? Double), expected, accuracy: 1e-12, name)
            let rows = try XCTUnwrap(json[name]?["per_sample"] as? [[Double]])
            // JSONSerialization may round the last digit differently.
            assertClose(rows.flatMap { $0 }, perSample, relativeTolerance: 1e-14, absoluteTolerance: 1e-14, name)
        }
        let sensitivity = ConfusionMatrixMetric(name: .sensitivity, includeBackground: false).evaluate(
            try ConfusionCounts(predicted: pm, target: tm, includeBackground: false))
        XCTAssertEqual(try XCTUnwrap(json["sensitivity"]?["value"] as? Double), sensitivity[0], accuracy: 1e-12)
        let gds = try GeneralizedDiceScore(includeBackground: false).evaluate(predicted: pm, target: tm)
        XCTAssertEqual(try XCTUnwrap(json["gds"]?["value"] as? Double), gds[0], accuracy: 1e-12)
        XCTAssertNotNil(json["dice"]?["per_class"] as? [Double])
    }

    func testOneHotPredictionEqualsLabels() throws {
        let directory = try temporaryDirectory(self)
        let (pred, target, p, _) = try writePair(directory)
        // The prediction one-hot, channels-last [N, D, H, W, 3].
        var oneHot = [Double](repeating: 0, count: p.shape.reduce(1, *) * 3)
        for (i, label) in p.storage.enumerated() { oneHot[i * 3 + Int(label)] = 1 }
        let oneHotPath = directory.appendingPathComponent("pred_onehot.npy").path
        try NPY.write(Tensor(shape: p.shape + [3], scalars: oneHot).converted(to: Float.self), to: oneHotPath)
        let fromLabels = try runDicekit(["metrics", pred, target, "--include-background", "--metrics", "hd95,nsd,f1"])
        let fromOneHot = try runDicekit([
            "metrics", oneHotPath, target, "--one-hot", "--include-background", "--metrics", "hd95,nsd,f1",
        ])
        XCTAssertEqual(fromLabels.status, 0, fromLabels.stderr)
        XCTAssertEqual(fromLabels.stdout, fromOneHot.stdout)
    }

    func testEmptyClassesFollowMONAI() throws {
        let directory = try temporaryDirectory(self)
        let shape = [1, 8, 8]
        var target = [Int](repeating: 0, count: 64)
        for i in [18, 19, 26, 27] { target[i] = 1 }
        let empty = [Int](repeating: 0, count: 64)
        let predPath = directory.appendingPathComponent("empty.npy").path
        let targetPath = directory.appendingPathComponent("t.npy").path
        try NPY.write(NPYArray(integers: empty, shape: shape), to: predPath)
        try NPY.write(NPYArray(integers: target, shape: shape), to: targetPath)
        let json = try metrics(try runDicekit(["metrics", predPath, targetPath, "--metrics", "hd,hd95,nsd"]))
        XCTAssertEqual(json["hd"]?["value"] as? String, "inf", "a class missing from the prediction is at ∞")
        XCTAssertEqual(
            (json["hd95"]?["per_sample"] as? [[Any]])?.first?.first is NSNull, true, "torch.quantile of ∞ is NaN")
        XCTAssertEqual(json["nsd"]?["value"] as? Double, 0)
    }

    func testBadInputGivesOneLine() throws {
        let directory = try temporaryDirectory(self)
        let (pred, target, _, _) = try writePair(directory)
        let other = directory.appendingPathComponent("other.npy").path
        try NPY.write(NPYArray(integers: [Int](repeating: 0, count: 24), shape: [1, 4, 6]), to: other)
        let line = directory.appendingPathComponent("line.npy").path
        try NPY.write(NPYArray(integers: [0, 1, 1, 0, 1], shape: [1, 5]), to: line)
        let cases: [([String], Int32, String)] = [
            (["metrics", pred, other], 1, "expected the same label-map shape"),
            (["metrics", pred, target, "--classes", "2"], 1, "expected 0..<2"),
            (["metrics", pred, target, "--spacing", "1,0,1"], 2, "--spacing expects values > 0"),
            (["metrics", pred, target, "--spacing", "1,1"], 1, "3 spatial axes"),
            (["metrics", pred, target, "--percentile", "101"], 2, "--percentile expects a value in 0...100"),
            (["metrics", pred, target, "--percentile", "nan"], 2, "--percentile expects a finite number"),
            (["metrics", pred, target, "--metrics", "hd99"], 2, "unknown metric 'hd99'"),
            (["metrics", pred, target, "--tolerance", "1,2,3"], 1, "expected 1 or 2"),
            (["metrics", pred, target, "--one-hot"], 1, "one-hot"),
            (["metrics", pred, target, "--metrics", "hd95", "--use-subvoxels"], 2, "--use-subvoxels applies to nsd"),
            (["metrics", line, line, "--metrics", "nsd", "--use-subvoxels"], 1, "--use-subvoxels needs 2-D or 3-D"),
        ]
        for (arguments, status, text) in cases {
            let result = try runDicekit(arguments)
            XCTAssertEqual(result.status, status, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(text), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, status == 2 ? 2 : 1, result.stderr)
            XCTAssertTrue(result.stdout.isEmpty)
        }
    }

    func testSubvoxelSurfaceDiceMatchesTheLibrary() throws {
        let directory = try temporaryDirectory(self)
        let (pred, target, p, t) = try writePair(directory)
        let json = try metrics(
            runDicekit([
                "metrics", pred, target, "--metrics", "nsd,hd95", "--spacing", "2,1,0.5", "--tolerance", "1.5",
                "--use-subvoxels",
            ]))
        let pm = try ClassMasks(labels: p, classes: 3)
        let tm = try ClassMasks(labels: t, classes: 3)
        for (name, score, subvoxels) in [
            ("nsd", SurfaceDistanceScore.surfaceDice(tolerances: [1.5]), true),
            ("hd95", .hausdorff(percentile: 95, directed: false), false),
        ] {
            let metric = SurfaceDistanceMetric(score: score, spacing: [2, 1, 0.5], useSubvoxels: subvoxels)
            let perSample = try metric.scores(predicted: pm, target: tm)
            let rows = try XCTUnwrap(json[name]?["per_sample"] as? [[Double]])
            assertClose(rows.flatMap { $0 }, perSample, relativeTolerance: 1e-14, absoluteTolerance: 1e-14, name)
        }
        let voxels = try SurfaceDistanceMetric(score: .surfaceDice(tolerances: [1.5]), spacing: [2, 1, 0.5])
            .scores(predicted: pm, target: tm)
        let rows = try XCTUnwrap(json["nsd"]?["per_sample"] as? [[Double]])
        XCTAssertNotEqual(rows.flatMap { $0 }, voxels, "the option changes the NSD")
    }

    func testEvalReportsSurfaceMetrics() throws {
        let result = try runDicekit([
            "eval", "--checkpoint", fixtureURL("metrics/weights.safetensors").path,
            "--data", fixtureURL("metrics").path, "--metrics", "dice,hd95,nsd", "--spacing", "0.5,2",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertNil(json["iou"], "only the metrics asked for")
        let hd95 = try XCTUnwrap(json["hd95"] as? [Any])
        let nsd = try XCTUnwrap(json["nsd"] as? [Any])
        XCTAssertEqual(hd95.count, 3)
        // The fixture's model outputs its input: the prediction is the images' arg-max.
        let images = try NPY.read(contentsOf: fixtureURL("metrics/images.npy").path).tensor(of: Float.self)
        let masks = try NPY.read(contentsOf: fixtureURL("metrics/masks.npy").path)
        let predicted = try ClassMasks(labels: Predictor.argmax(images), classes: 3)
        let target = try ClassMasks(labels: LabelMap(shape: masks.shape, labels: masks.integers()), classes: 3)
        for (name, score, values) in [
            ("hd95", SurfaceDistanceScore.hausdorff(percentile: 95, directed: false), hd95),
            ("nsd", .surfaceDice(tolerances: [1]), nsd),
        ] {
            let perImage = try SurfaceDistanceMetric(score: score, includeBackground: true, spacing: [0.5, 2])
                .scores(predicted: predicted, target: target)
            for c in 0..<3 {
                let kept = (0..<7).map { perImage[$0 * 3 + c] }.filter { !$0.isNaN }
                let expected = kept.reduce(0, +) / Double(kept.count)
                XCTAssertEqual(try XCTUnwrap(values[c] as? Double), expected, accuracy: 1e-9, "\(name) class \(c)")
            }
        }
    }
}
