// `dicekit loss` end to end: the built tool is run on temporary .npy files; its JSON and --grad
// output must equal the API's, and bad input must give one line on stderr with exit status 1
// (2 for usage mistakes). Skipped when the tool has not been built next to the test bundle.

import Foundation
import XCTest

@testable import DiceKit

final class LossCommandTests: XCTestCase {
    var tool: URL!
    var directory: URL!

    override func setUpWithError() throws {
        // The tool sits next to the test executable (Linux) or the .xctest bundle (macOS).
        let candidates = [Bundle.main.executableURL, Bundle.main.bundleURL, Bundle(for: Self.self).bundleURL]
            .compactMap { $0?.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("dicekit") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("dicekit not built next to the tests (looked at \(candidates.map(\.path)))")
        }
        tool = found
        directory = try temporaryDirectory(self)
    }

    /// Runs the tool; returns (status, stdout, stderr without the core guard's notice).
    func run(_ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = tool
        process.arguments = ["loss"] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, ToolResult.withoutCoreGuardNotice(stderr))
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func testValuesAndGradientMatchTheAPI() throws {
        var generator = SeededGenerator(seed: 31)
        let x = Tensor<Float>.normal([2, 5, 6, 3], generator: &generator)
        let raw = (0..<60).map { _ in Int(generator.next() % 3) }
        try NPY.write(x, to: path("p32.npy"))
        try NPY.write(x.converted(to: Double.self), to: path("p64.npy"))
        try NPY.write(NPYArray(integers: raw, shape: [2, 5, 6]), to: path("labels.npy"))
        let labels = try LabelMap(shape: [2, 5, 6], labels: raw)

        var loss = DiceLoss(activation: .softmax)
        loss.excludeBackground = true
        let api = try loss.evaluate(x, target: .labels(labels), gradient: true)
        let (status, stdout, stderr) = try run([
            path("p32.npy"), path("labels.npy"), "--labels", "--activation", "softmax",
            "--exclude-background", "--grad", path("g.npy"),
        ])
        XCTAssertEqual(status, 0, stderr)
        XCTAssertEqual(stdout, "{\"loss\": \(api.value)}\n")
        let written = try NPY.read(contentsOf: path("g.npy"))
        XCTAssertEqual(written.dtype, .float32)
        XCTAssertEqual(written.tensor(of: Float.self), api.gradient!)

        // float64 computes in Double; reduction none prints nested arrays.
        loss.reduction = .none
        let none = try loss.evaluate(x.converted(to: Double.self), target: .labels(labels))
        let (s2, o2, e2) = try run([
            path("p64.npy"), path("labels.npy"), "--labels", "--activation=softmax",
            "--exclude-background", "--reduction", "none",
        ])
        XCTAssertEqual(s2, 0, e2)
        let rows = (0..<2).map { n in
            "[" + (0..<2).map { "\(none.loss.scalars[n * 2 + $0])" }.joined(separator: ", ") + "]"
        }
        XCTAssertEqual(o2, "{\"loss\": [\(rows.joined(separator: ", "))]}\n")

        // Every option reaches the API: a preset and a validity mask.
        try NPY.write(try Tensor<Double>(shape: [2, 3], scalars: [1, 1, 0, 1, 0, 1]), to: path("mask.npy"))
        let preset = DiceLoss.seed(.multiclass, epsilon: 1e-4, activation: .sigmoid, layout: .channelsLast)
        let presetValue = try preset.evaluate(
            x, target: .labels(labels),
            validMask: try Tensor<Float>(shape: [2, 3], scalars: [1, 1, 0, 1, 0, 1])
        ).value
        let (s3, o3, e3) = try run([
            path("p32.npy"), path("labels.npy"), "--labels", "--activation", "sigmoid",
            "--preset", "seed-multiclass", "--epsilon", "1e-4", "--valid-mask", path("mask.npy"),
        ])
        XCTAssertEqual(s3, 0, e3)
        XCTAssertEqual(o3, "{\"loss\": \(presetValue)}\n")

        // The weighted cross-entropy: class weights and label smoothing.
        var weighted = DiceLoss(activation: .softmax)
        weighted.crossEntropyWeight = 0.5
        weighted.crossEntropyClassWeights = [0.2, 1, 3]
        weighted.labelSmoothing = 0.1
        let weightedValue = try weighted.evaluate(x, target: .labels(labels)).value
        let (s4, o4, e4) = try run([
            path("p32.npy"), path("labels.npy"), "--labels", "--activation", "softmax", "--ce-weight", "0.5",
            "--ce-class-weights", "0.2,1,3", "--label-smoothing", "0.1",
        ])
        XCTAssertEqual(s4, 0, e4)
        XCTAssertEqual(o4, "{\"loss\": \(weightedValue)}\n")
    }

    /// The help states the library's defaults (`DiceLoss.defaultSmoothing`, `DiceVariant`'s and
    /// `SeedPreset`'s constants), which the tool reads rather than restates.
    func testHelpStatesTheLibraryDefaults() throws {
        let (status, help, _) = try run(["--help"])
        XCTAssertEqual(status, 0)
        func text(_ x: Double) -> String { "\(x)".replacingOccurrences(of: "e-0", with: "e-") }
        for line in [
            "smoothing (default \(text(DiceLoss.defaultSmoothing)) each)",
            "(default \(text(DiceVariant.defaultTverskyAlpha)), \(text(DiceVariant.defaultTverskyBeta)))",
            "focal Tversky exponent (default \(text(DiceVariant.defaultFocalTverskyGamma)))",
            "(default \(DiceVariant.defaultGeneralizedWeighting.rawValue))",
            "the presets' ε (default \(text(SeedPreset.defaultEpsilon)))",
            "--focal-gamma G (\(Int(FocalLoss.defaultGamma)))",
        ] {
            XCTAssertTrue(help.contains(line), "help lacks '\(line)'")
        }
    }

    func testErrorsAreOneLineWithExitStatus() throws {
        var generator = SeededGenerator(seed: 32)
        var x = Tensor<Float>.normal([2, 4, 4, 3], generator: &generator)
        try NPY.write(x, to: path("p.npy"))
        try NPY.write(Tensor<Float>.normal([2, 4, 4, 1], generator: &generator), to: path("one.npy"))
        x.storage[5] = .nan
        try NPY.write(x, to: path("nan.npy"))
        try NPY.write(NPYArray(integers: (0..<32).map { $0 % 3 }, shape: [2, 4, 4]), to: path("l.npy"))
        try NPY.write(NPYArray(integers: (0..<32).map { $0 == 7 ? 9 : $0 % 3 }, shape: [2, 4, 4]), to: path("l9.npy"))
        try NPY.write(NPYArray(integers: (0..<30).map { $0 % 3 }, shape: [2, 3, 5]), to: path("lshape.npy"))
        let cases: [([String], Int32, String)] = [
            (["nan.npy", "l.npy", "--labels", "--activation", "softmax"], 1, "prediction element 5 is nan"),
            (["p.npy", "l9.npy", "--labels", "--activation", "softmax"], 1, "label 9 at element 7; expected 0..<3"),
            (["p.npy", "l.npy", "--labels", "--class-weights", "1,2"], 1, "class weights have 2 values; expected 3"),
            (["one.npy", "l.npy", "--labels", "--activation", "softmax"], 1, "softmax over a single channel"),
            (["p.npy", "lshape.npy", "--labels"], 1, "label shape [2, 3, 5] does not match"),
            (["p.npy", "missing.npy", "--labels"], 1, "missing.npy"),
            (["p.npy", "l.npy", "--labels", "--reduction", "avg"], 2, "--reduction expects one of mean|sum|none"),
            (["p.npy", "l.npy", "--labels", "--bogus"], 2, "unknown option '--bogus'"),
            (["p.npy", "l.npy", "--epsilon", "1e-3"], 2, "--epsilon applies to --preset only"),
            (
                ["p.npy", "l.npy", "--labels", "--preset", "seed-weighted"], 1,
                "preset seed-weighted needs class weights (3 values)"
            ),
            (
                ["p.npy", "l.npy", "--labels", "--preset", "seed-weighted", "--class-weights", "1,2"], 1,
                "class weights have 2 values; expected 3"
            ),
            (["p.npy", "l.npy", "--labels", "--alpha", "-1"], 1, "alpha is -1.0; expected a finite number ≥ 0.0"),
            (
                [
                    "p.npy", "l.npy", "--labels", "--activation", "softmax", "--ce-weight", "1", "--ce-class-weights",
                    "1,2",
                ],
                1, "cross-entropy class weights have 2 values; expected 3"
            ),
            (
                ["p.npy", "l.npy", "--labels", "--activation", "softmax", "--ce-class-weights", "1,2,3"], 1,
                "cross-entropy class weights with a ce-weight of 0"
            ),
            (
                [
                    "p.npy", "l.npy", "--labels", "--activation", "softmax", "--ce-weight", "1", "--label-smoothing",
                    "1.5",
                ],
                1, "label smoothing is 1.5; expected a number in [0, 1]"
            ),
            (
                [
                    "p.npy", "l.npy", "--labels", "--activation", "sigmoid", "--ce-weight", "1", "--label-smoothing",
                    "0.1",
                ],
                1, "label smoothing 0.1 with activation sigmoid"
            ),
            (
                [
                    "p.npy", "l.npy", "--labels", "--variant", "focal", "--activation", "softmax", "--label-smoothing",
                    "0.1",
                ],
                2, "--label-smoothing does not apply to --variant focal"
            ),
            (
                ["p.npy", "l.npy", "--labels", "--variant", "tversky", "--beta", "-1"], 1,
                "beta is -1.0; expected a finite number ≥ 0.0"
            ),
            (
                ["p.npy", "l.npy", "--labels", "--variant", "focal-tversky", "--gamma", "0"], 1,
                "gamma is 0.0; expected a finite number > 0"
            ),
        ]
        for (arguments, expectedStatus, text) in cases {
            let resolved = arguments.map { $0.hasSuffix(".npy") ? path($0) : $0 }
            let (status, stdout, stderr) = try run(resolved)
            XCTAssertEqual(status, expectedStatus, "\(arguments): \(stderr)")
            XCTAssertEqual(stdout, "", "\(arguments)")
            XCTAssertTrue(stderr.contains(text), "\(arguments): '\(stderr)' lacks '\(text)'")
            if expectedStatus == 1 { XCTAssertEqual(stderr.filter { $0 == "\n" }.count, 1, "one line: \(stderr)") }
        }
    }
}
