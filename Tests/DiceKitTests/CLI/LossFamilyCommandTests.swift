// `dicekit loss --variant focal|dice-focal|lovasz-softmax|lovasz-hinge|wasserstein|mcc|hausdorff-dt` end to end:
// the tool's JSON and --grad output equal the API's; options that do not apply to the variant,
// wrong activations and bad distance matrices give one line on stderr and a non-zero exit.

import Foundation
import XCTest

@testable import DiceKit

final class LossFamilyCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory(self) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func loss(_ arguments: [String]) throws -> ToolResult { try runDicekit(["loss"] + arguments) }

    func testVariantsMatchTheAPI() throws {
        var generator = SeededGenerator(seed: 41)
        let x = Tensor<Double>.normal([2, 5, 6, 3], standardDeviation: 2, generator: &generator)
        let raw = (0..<60).map { _ in Int(generator.next() % 3) }
        let mask = (0..<60).map { _ in Int(generator.next() % 2) }
        try NPY.write(x, to: path("x.npy"))
        try NPY.write(try x.reshaped(to: [2, 5, 6, 3]).converted(to: Double.self), to: path("x.npy"))
        try NPY.write(NPYArray(integers: raw, shape: [2, 5, 6]), to: path("labels.npy"))
        let x1 = Tensor<Double>.normal([2, 5, 6, 1], generator: &generator)
        try NPY.write(x1, to: path("x1.npy"))
        try NPY.write(NPYArray(integers: mask, shape: [2, 5, 6]), to: path("mask.npy"))
        let m = [0, 1, 0.5, 1, 0, 0.8, 0.5, 0.8, 0]
        try NPY.write(Tensor<Double>(uncheckedShape: [3, 3], storage: m), to: path("m.npy"))
        let labels = try LabelMap(shape: [2, 5, 6], labels: raw)
        let binary = try LabelMap(shape: [2, 5, 6], labels: mask)

        var focal = FocalLoss(activation: .softmax, gamma: 1.5, alpha: 0.25)
        focal.reduction = .sum
        var wasserstein = WassersteinDiceLoss(distanceMatrix: m, weighting: .gdl)
        wasserstein.reduction = .none
        var diceFocal = DiceFocalLoss(activation: .softmax, gamma: 2)
        diceFocal.focalWeight = 0.5
        var normalized = FocalLoss(gamma: 2)
        normalized.normalized = true
        normalized.reducedThreshold = 0.4
        var hausdorff = HausdorffDTLoss(activation: .softmax)
        hausdorff.alpha = 1.5
        hausdorff.excludeBackground = false
        hausdorff.logarithmic = true
        hausdorff.reduction = .none
        hausdorff.batch = true // one value per class: a flat JSON list
        hausdorff.spacing = [2, 0.5]
        let cases: [([String], any SegmentationLoss, Tensor<Double>, LabelMap)] = [
            (
                [
                    "--variant", "focal", "--activation", "softmax", "--focal-gamma", "1.5", "--focal-alpha", "0.25",
                    "--reduction", "sum",
                ], focal, x, labels
            ),
            (
                ["--variant", "focal", "--activation", "sigmoid", "--normalized", "--reduced-threshold", "0.4"],
                normalized, x, labels
            ),
            (["--variant", "dice-focal", "--activation", "softmax", "--focal-weight", "0.5"], diceFocal, x, labels),
            (
                ["--variant", "lovasz-softmax", "--activation", "softmax", "--per-image"],
                LovaszLoss(variant: .softmax, perImage: true), x, labels
            ),
            (["--variant", "lovasz-hinge"], LovaszLoss(variant: .hinge), x1, binary),
            (
                [
                    "--variant", "wasserstein", "--activation", "softmax", "--distance-matrix", path("m.npy"),
                    "--wasserstein-weighting", "gdl",
                    "--reduction", "none",
                ], wasserstein, x, labels
            ),
            (["--variant", "mcc", "--activation", "sigmoid"], MCCLoss(activation: .sigmoid), x1, binary),
            (
                [
                    "--variant", "hausdorff-dt", "--activation", "softmax", "--hd-alpha", "1.5", "--include-background",
                    "--log", "--reduction", "none", "--batch", "--spacing", "2,0.5",
                ], hausdorff, x, labels
            ),
            (
                ["--variant", "hausdorff-dt", "--activation", "sigmoid"], HausdorffDTLoss(activation: .sigmoid), x1,
                binary
            ),
        ]
        for (arguments, api, input, target) in cases {
            let inputPath = input.shape.last == 1 ? path("x1.npy") : path("x.npy")
            let targetPath = input.shape.last == 1 ? path("mask.npy") : path("labels.npy")
            let r = try loss([inputPath, targetPath, "--labels", "--grad", path("g.npy")] + arguments)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
            let expected = try api.evaluate(input, target: .labels(target), gradient: true)
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            let values = (json["loss"] as? [Double]) ?? [json["loss"] as! Double]
            XCTAssertEqual(values.count, expected.loss.count, "\(arguments)")
            for (a, b) in zip(values, expected.loss.scalars) {
                XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(b)), "\(arguments)")
            }
            let g = try NPY.read(contentsOf: path("g.npy")).tensor(of: Double.self)
            XCTAssertEqual(g, expected.gradient!, "\(arguments)")
        }
    }

    func testTheIgnoreIndexReachesEveryVariantThatTakesIt() throws {
        var generator = SeededGenerator(seed: 43)
        let x = Tensor<Double>.normal([2, 5, 6, 3], standardDeviation: 2, generator: &generator)
        let raw = (0..<60).map { _ in generator.next() % 4 == 0 ? 7 : Int(generator.next() % 3) }
        try NPY.write(x, to: path("x.npy"))
        try NPY.write(NPYArray(integers: raw, shape: [2, 5, 6]), to: path("labels.npy"))
        try NPY.write(Tensor<Double>(uncheckedShape: [3, 3], storage: [0, 1, 2, 1, 0, 1, 2, 1, 0]), to: path("m.npy"))
        let labels = try LabelMap(shape: [2, 5, 6], labels: raw)
        var focal = FocalLoss(activation: .softmax)
        focal.ignoreIndex = 7
        var diceFocal = DiceFocalLoss(activation: .softmax)
        diceFocal.dice.ignoreIndex = 7
        diceFocal.focal.ignoreIndex = 7
        var wasserstein = WassersteinDiceLoss(distanceMatrix: [0, 1, 2, 1, 0, 1, 2, 1, 0])
        wasserstein.ignoreIndex = 7
        var mcc = MCCLoss(activation: .softmax)
        mcc.ignoreIndex = 7
        let cases: [([String], any SegmentationLoss)] = [
            (["--variant", "focal", "--activation", "softmax"], focal),
            (["--variant", "dice-focal", "--activation", "softmax"], diceFocal),
            (["--variant", "wasserstein", "--activation", "softmax", "--distance-matrix", path("m.npy")], wasserstein),
            (["--variant", "mcc", "--activation", "softmax"], mcc),
        ]
        for (arguments, api) in cases {
            let r = try loss(
                [path("x.npy"), path("labels.npy"), "--labels", "--ignore-index", "7", "--grad", path("g.npy")]
                    + arguments)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
            let expected = try api.evaluate(x, target: .labels(labels), gradient: true)
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(json["loss"] as! Double, Double(expected.value), accuracy: 1e-12, "\(arguments)")
            XCTAssertEqual(try NPY.read(contentsOf: path("g.npy")).tensor(of: Double.self), expected.gradient!)
            let refused = try loss([path("x.npy"), path("labels.npy"), "--labels"] + arguments)
            XCTAssertEqual(refused.status, 1, "\(arguments): label 7 without --ignore-index")
        }
    }

    func testBadCombinationsAreRefused() throws {
        var generator = SeededGenerator(seed: 42)
        try NPY.write(Tensor<Float>.normal([1, 4, 4, 3], generator: &generator), to: path("x.npy"))
        try NPY.write(NPYArray(integers: (0..<16).map { $0 % 3 }, shape: [1, 4, 4]), to: path("labels.npy"))
        try NPY.write(Tensor<Double>(uncheckedShape: [2, 2], storage: [0, 1, 1, 0]), to: path("m2.npy"))
        try NPY.write(
            Tensor<Double>(uncheckedShape: [3, 3], storage: [0, 1, 1, 1, 0, 1, 1, -1, 0]), to: path("mneg.npy"))
        let base = [path("x.npy"), path("labels.npy"), "--labels"]
        let cases: [([String], Int32, String)] = [
            (
                ["--variant", "lovasz-softmax", "--focal-gamma", "2", "--activation", "softmax"], 2,
                "--focal-gamma does not apply to --variant lovasz-softmax"
            ),
            (["--variant", "dice", "--focal-gamma", "2"], 2, "--focal-gamma does not apply to --variant dice"),
            (["--variant", "lovasz-softmax"], 2, "takes --activation softmax"),
            (["--variant", "lovasz-hinge", "--activation", "sigmoid"], 2, "takes --activation none"),
            (["--variant", "wasserstein", "--activation", "softmax"], 2, "needs --distance-matrix"),
            (
                ["--variant", "wasserstein", "--activation", "softmax", "--distance-matrix", path("m2.npy")], 1,
                "expected 3×3"
            ),
            (
                ["--variant", "wasserstein", "--activation", "softmax", "--distance-matrix", path("mneg.npy")], 1,
                "entry [2, 1] is -1.0"
            ),
            (["--variant", "focal", "--activation", "none"], 2, "takes --activation sigmoid|softmax"),
            (["--variant", "focal", "--activation", "sigmoid", "--focal-alpha", "1.5"], 1, "focal alpha is 1.5"),
            (["--variant", "focal", "--activation", "softmax", "--normalized"], 1, "expected activation sigmoid"),
            (
                ["--variant", "focal", "--activation", "sigmoid", "--normalized", "--reduction", "sum"], 1,
                "expected mean"
            ),
            (["--variant", "focal", "--activation", "sigmoid", "--class-weights", "1,2"], 1, "expected 3"),
            (["--variant", "dice-focal", "--activation", "softmax", "--reduction", "none"], 1, "reduction none"),
            (["--variant", "mcc", "--per-image"], 2, "--per-image does not apply to --variant mcc"),
            (["--variant", "hausdorff-dt", "--squared"], 2, "--squared does not apply to --variant hausdorff-dt"),
            (["--variant", "dice", "--log"], 2, "--log does not apply to --variant dice"),
            (["--variant", "hausdorff-dt", "--spacing", "1,1,1"], 1, "spacing has 3 values"),
            (["--variant", "hausdorff-dt", "--hd-alpha", "-1"], 1, "alpha is -1.0"),
            (["--variant", "dice", "--per-image"], 2, "--per-image does not apply"),
            (["--variant", "lovasz", "--activation", "softmax"], 2, "--variant expects one of"),
        ]
        for (arguments, status, message) in cases {
            let r = try loss(base + arguments)
            XCTAssertEqual(r.status, status, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(arguments): \(r.stderr)")
            XCTAssertEqual(
                r.stderr.split(separator: "\n").filter { !$0.hasPrefix("usage") && !$0.isEmpty }.count >= 1, true)
        }
        // Lovász-softmax without --labels.
        let dense = try loss([path("x.npy"), path("x.npy"), "--variant", "lovasz-softmax", "--activation", "softmax"])
        XCTAssertEqual(dense.status, 2, dense.stderr)
        XCTAssertTrue(dense.stderr.contains("add --labels"), dense.stderr)
    }
}
