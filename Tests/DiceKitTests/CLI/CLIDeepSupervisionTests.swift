// `dicekit train --deep-supervision`: a short run trains with the heads end to end, keeps them in
// last.safetensors (so --resume continues with them, bit for bit like an uninterrupted run) and
// leaves them out of best.safetensors; eval and predict use the full-resolution output; bad
// options are usage errors (exit 2) with a one-line message.

import Foundation
import XCTest

@testable import DiceKit

final class CLIDeepSupervisionTests: XCTestCase {
    private let command = [
        "train", "--count", "8", "--size", "32", "--depth", "3", "--base", "4", "--batch-size", "4",
        "--threads", "1", "--deep-supervision", "exp",
    ]

    func testTrainsResumesAndPredictsWithTheFullResolutionOutput() throws {
        let root = try temporaryDirectory(self).path
        let full = try runDicekit(command + ["--epochs", "3", "--out", "\(root)/full"])
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssertTrue(full.stdout.contains("\"deep_supervision\": \"exp\""), full.stdout)
        XCTAssertTrue(full.stdout.contains("\"deep_supervision_levels\": 3"), full.stdout)
        let last = try SafetensorsFile.read(contentsOf: "\(root)/full/last.safetensors")
        XCTAssertTrue(last.names.contains("deep_supervision.2.weight"), "\(last.names)")
        XCTAssertTrue(last.names.contains("optimizer.deep_supervision.1.weight.exp_avg"), "\(last.names)")
        let best = try SafetensorsFile.read(contentsOf: "\(root)/full/best.safetensors")
        XCTAssertFalse(best.names.contains { $0.hasPrefix("deep_supervision.") }, "\(best.names)")

        // Killed after epoch 2 is committed, then resumed: the uninterrupted run's weights, heads
        // included (the test hook of CLIResumeTests).
        let killed = try runDicekit(
            command + ["--epochs", "3", "--out", "\(root)/part"],
            environment: ["DICEKIT_TEST_KILL_AT": "metrics-after:2"])
        XCTAssertTrue(killed.killedBySignal, killed.stderr)
        let resumed = try runDicekit(command + ["--epochs", "3", "--resume", "\(root)/part/last.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let again = try SafetensorsFile.read(contentsOf: "\(root)/part/last.safetensors")
        XCTAssertEqual(again.names, last.names)
        for name in last.names { XCTAssertEqual(again.tensors[name]?.data, last.tensors[name]?.data, name) }
        // Changing the weighting on resume is refused.
        let changed = try runDicekit(
            ["train", "--resume", "\(root)/part/last.safetensors", "--epochs", "4", "--deep-supervision", "two"])
        XCTAssertEqual(changed.status, 2, changed.stderr)
        XCTAssertTrue(changed.stderr.contains("--deep-supervision two differs"), changed.stderr)

        let eval = try runDicekit([
            "eval", "--checkpoint", "\(root)/full/last.safetensors", "--data", "synthetic", "--count", "4", "--size",
            "32",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let images = "\(root)/x.npy"
        var generator = SeededGenerator(seed: 1)
        try NPY.write(Tensor<Float>.uniform([1, 32, 32, 3], generator: &generator), to: images)
        for checkpoint in ["last", "best"] {
            let logits = "\(root)/\(checkpoint).npy"
            let predict = try runDicekit([
                "predict", "--checkpoint", "\(root)/full/\(checkpoint).safetensors", "--input", images, "--logits",
                logits,
            ])
            XCTAssertEqual(predict.status, 0, predict.stderr)
            XCTAssertEqual(try NPY.read(contentsOf: logits).shape, [1, 32, 32, 2])
        }
    }

    func testBadOptionsAreUsageErrors() throws {
        let base = ["train", "--count", "8", "--size", "32", "--epochs", "1"]
        for (arguments, message) in [
            (["--deep-supervision", "linear"], "expected same, exp, two"),
            (["--deep-supervision", "1,0.5", "--depth", "3"], "3 finite weights"),
            (["--deep-supervision", "exp", "--depth", "3", "--deep-supervision-levels", "4"], "in 2...3"),
            (["--deep-supervision", "exp", "--deep-supervision-levels", "1"], "in 2...4"),
            (["--deep-supervision-levels", "2"], "needs --deep-supervision"),
            (["--deep-supervision", "exp", "--depth", "1"], "no lower decoder level"),
        ] {
            let result = try runDicekit(base + arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            // One line naming the problem (then the usual pointer to --help).
            XCTAssertEqual(
                result.stderr.split(separator: "\n").last, "run 'dicekit train --help' for usage",
                "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 2, "\(arguments): \(result.stderr)")
        }
    }
}
