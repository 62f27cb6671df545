// `dicekit loss --variant cldice|dice-cldice|generalized-dice-focal` and `--focal-alpha a0,a1,...`
// end to end: the tool's JSON and --grad output equal the API's; bad options give one line on
// stderr and the exit status of the other loss options.

import Foundation
import XCTest

@testable import DiceKit

final class ClDiceCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory(self) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func loss(_ arguments: [String]) throws -> ToolResult { try runDicekit(["loss"] + arguments) }

    func testVariantsMatchTheAPI() throws {
        var generator = SeededGenerator(seed: 43)
        let x = Tensor<Double>.normal([2, 6, 5, 3], standardDeviation: 2, generator: &generator)
        let raw = (0..<60).map { _ in Int(generator.next() % 3) }
        try NPY.write(x, to: path("x.npy"))
        try NPY.write(NPYArray(integers: raw, shape: [2, 6, 5]), to: path("labels.npy"))
        let volume = Tensor<Double>.normal([1, 2, 4, 5, 4], standardDeviation: 2, generator: &generator)
        let rawVolume = (0..<80).map { _ in Int(generator.next() % 2) }
        try NPY.write(volume, to: path("v.npy"))
        try NPY.write(NPYArray(integers: rawVolume, shape: [1, 4, 5, 4]), to: path("vlabels.npy"))
        let labels = try LabelMap(shape: [2, 6, 5], labels: raw)
        let volumeLabels = try LabelMap(shape: [1, 4, 5, 4], labels: rawVolume)

        var clDice = ClDiceLoss(activation: .softmax, iterations: 2)
        clDice.smoothNumerator = 0.5
        clDice.smoothDenominator = 2
        clDice.smooth = 1e-3
        clDice.reduction = .none
        var volumeClDice = ClDiceLoss(activation: .sigmoid, layout: .channelsFirst)
        volumeClDice.excludeBackground = true
        var gdf = GeneralizedDiceFocalLoss(
            activation: .softmax, weighting: .simple, gamma: 1.5, classWeights: [1, 2, 3], batch: true)
        gdf.generalizedDiceWeight = 0.4
        gdf.focalWeight = 0.6
        var focal = FocalLoss(activation: .sigmoid)
        focal.classAlpha = [0.2, 0.5, 0.8]
        let cases: [([String], any SegmentationLoss, Tensor<Double>, LabelMap, String)] = [
            (
                [
                    "--variant", "cldice", "--activation", "softmax", "--cldice-iterations", "2", "--smooth-nr", "0.5",
                    "--smooth-dr", "2", "--cldice-smooth", "1e-3", "--reduction", "none",
                ], clDice, x, labels, "x"
            ),
            (
                [
                    "--variant", "cldice", "--activation", "sigmoid", "--layout", "channels-first",
                    "--exclude-background",
                ], volumeClDice, volume, volumeLabels, "v"
            ),
            (
                ["--variant", "dice-cldice", "--activation", "softmax", "--cldice-alpha", "0.3"],
                DiceClDiceLoss(activation: .softmax, alpha: 0.3), x, labels, "x"
            ),
            (
                [
                    "--variant", "generalized-dice-focal", "--activation", "softmax", "--generalized-weight", "simple",
                    "--focal-gamma", "1.5", "--class-weights", "1,2,3", "--batch", "--dice-weight", "0.4",
                    "--focal-weight", "0.6",
                ], gdf, x, labels, "x"
            ),
            (
                ["--variant", "focal", "--activation", "sigmoid", "--focal-alpha", "0.2,0.5,0.8"], focal, x, labels,
                "x"
            ),
        ]
        for (arguments, api, input, target, file) in cases {
            let targetPath = file == "x" ? path("labels.npy") : path("vlabels.npy")
            let r = try loss([path("\(file).npy"), targetPath, "--labels", "--grad", path("g.npy")] + arguments)
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

    func testBadOptionsAreRefused() throws {
        var generator = SeededGenerator(seed: 44)
        try NPY.write(Tensor<Float>.normal([1, 4, 4, 3], generator: &generator), to: path("x.npy"))
        try NPY.write(NPYArray(integers: (0..<16).map { $0 % 3 }, shape: [1, 4, 4]), to: path("labels.npy"))
        try NPY.write(Tensor<Float>.normal([1, 16, 3], generator: &generator), to: path("x1d.npy"))
        let base = [path("x.npy"), path("labels.npy"), "--labels"]
        let cases: [([String], Int32, String)] = [
            (
                ["--variant", "cldice", "--cldice-iterations", "-1"], 1,
                "clDice iterations is -1; expected an integer ≥ 0"
            ),
            (["--variant", "cldice", "--cldice-iterations", "two"], 2, "--cldice-iterations expects an integer"),
            (
                ["--variant", "dice-cldice", "--cldice-alpha", "1.5"], 1,
                "clDice alpha is 1.5; expected a number in [0, 1]"
            ),
            (["--variant", "cldice", "--cldice-alpha", "0.5"], 2, "--cldice-alpha does not apply to --variant cldice"),
            (["--variant", "cldice", "--smooth-dr", "0"], 1, "clDice smooth-dr is 0.0"),
            (["--variant", "cldice", "--cldice-smooth", "-1"], 1, "clDice smooth is -1.0"),
            (
                ["--variant", "dice", "--cldice-iterations", "2"], 2,
                "--cldice-iterations does not apply to --variant dice"
            ),
            (["--variant", "dice-cldice", "--reduction", "none"], 1, "dice-cldice with reduction none"),
            (["--variant", "generalized-dice-focal"], 2, "takes --activation sigmoid|softmax"),
            (
                ["--variant", "generalized-dice-focal", "--activation", "softmax", "--focal-weight", "-1"], 1,
                "focal weight is -1.0"
            ),
            (
                ["--variant", "focal", "--activation", "sigmoid", "--focal-alpha", "0.2,0.5"], 1,
                "focal alpha has 2 values; expected 3"
            ),
            (
                ["--variant", "cldice", "--activation", "softmax", "--ignore-index", "2"], 2,
                "--ignore-index does not apply"
            ),
        ]
        for (arguments, status, message) in cases {
            let r = try loss(base + arguments)
            XCTAssertEqual(r.status, status, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
        let flat = try loss([path("x1d.npy"), path("x1d.npy"), "--variant", "cldice"])
        XCTAssertEqual(flat.status, 1, flat.stderr)
        XCTAssertTrue(flat.stderr.contains("expected 2 (images) or 3 (volumes)"), flat.stderr)
    }
}
