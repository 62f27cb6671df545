// `dicekit train --ema D [--ema-warmup]` and `--swa E [--swa-lr X …]` as a subprocess of the built
// tool: the averaged weights in ema.safetensors (swa.safetensors) and best.safetensors (which
// `eval` reads like any model), the average in last.safetensors; a kill in the middle of an
// epoch's checkpoint write, then --resume, gives the uninterrupted run bit for bit; the options
// are fixed on resume and checked with one line.

import Foundation
import XCTest

@testable import DiceKit

final class CLIWeightAverageTests: XCTestCase {
    /// 6 training images (2 steps per epoch), 2 validation images, 3 epochs, one thread.
    private let command = [
        "train", "--count", "8", "--size", "32", "--depth", "2", "--base", "4", "--batch-size", "4",
        "--threads", "1", "--epochs", "3", "--ema", "0.8", "--ema-warmup",
    ]

    private func tensors(_ path: String) throws -> [String: SafetensorsTensor] {
        try SafetensorsFile.read(contentsOf: path).tensors
    }

    func testTheAverageIsWrittenScoredAndResumedBitForBitAfterAKill() throws {
        let root = try temporaryDirectory(self).path
        let reference = "\(root)/reference"
        let run = try runDicekit(command + ["--out", reference])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("\"ema_decay\": 0.8"), run.stdout)
        XCTAssertTrue(
            run.stderr.contains("validating the weights' moving average (decay 0.8, warm-up)"), run.stderr)
        let ema = try SafetensorsFile.read(contentsOf: "\(reference)/ema.safetensors")
        XCTAssertEqual(ema.metadata["weights"], "ema")
        XCTAssertEqual(ema.metadata["ema_updates"], "6")
        let last = try TrainingCheckpoint.read(contentsOf: "\(reference)/last.safetensors")
        XCTAssertEqual(last.averagedWeights?.metadata["decay"], "0.8")
        XCTAssertEqual(last.averagedWeights?.metadata["warmup"], "true")
        XCTAssertEqual(last.options["ema"], "0.8")

        // eval reads the averaged weights like any model, and a training checkpoint's own weights.
        for file in ["ema", "last"] {
            let scored = try runDicekit([
                "eval", "--checkpoint", "\(reference)/\(file).safetensors", "--data", "synthetic", "--count", "4",
                "--size", "32", "--threads", "1",
            ])
            XCTAssertEqual(scored.status, 0, "\(file): \(scored.stderr)")
        }

        let dir = "\(root)/killed"
        let killed = try runDicekit(
            command + ["--out", dir], environment: ["DICEKIT_TEST_KILL_AT": "checkpoint-mid-write:2"])
        XCTAssertTrue(killed.killedBySignal && killed.status == SIGKILL, "\(killed.status) \(killed.stderr)")
        // Omitted --ema and --ema-warmup come from the checkpoint.
        let resumed = try runDicekit(
            Array(command.prefix(while: { $0 != "--ema" })) + ["--out", dir, "--resume", "\(dir)/last.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        for file in ["last", "ema", "best"] {
            XCTAssertTrue(
                try tensors("\(dir)/\(file).safetensors") == tensors("\(reference)/\(file).safetensors"),
                "\(file).safetensors differs from the uninterrupted run's")
        }

        let changed = try runDicekit(
            command.map { $0 == "0.8" ? "0.9" : $0 } + ["--resume", "\(dir)/last.safetensors"])
        XCTAssertEqual(changed.status, 2, changed.stderr)
        XCTAssertTrue(
            changed.stderr.contains("--ema 0.9 differs from the value the run was started with (0.8"), changed.stderr)
    }

    func testNonsensicalOptionsAreOneLineErrors() throws {
        let cases: [([String], String)] = [
            (["--ema", "1"], "--ema expects a decay 0 < D < 1"),
            (["--ema", "0"], "--ema expects a decay 0 < D < 1"),
            (["--ema", "-0.5"], "--ema expects a decay 0 < D < 1"),
            (["--ema", "nan"], "--ema expects a finite number"),
            (["--ema-warmup"], "--ema-warmup applies to --ema D"),
            (["--ema-bn", "recompute"], "--ema-bn applies to --ema D"),
            (["--ema", "0.9", "--ema-bn", "sometimes"], "--ema-bn expects average or recompute, got 'sometimes'"),
            (["--swa", "0"], "--swa expects the first averaged epoch in 1...1 (--epochs), got 0"),
            (["--swa", "2"], "--swa expects the first averaged epoch in 1...1 (--epochs), got 2"),
            (["--swa", "x"], "--swa expects an integer"),
            (["--swa", "1", "--ema", "0.9"], "--swa and --ema together; expected one weight average"),
            (["--swa-lr", "0.01"], "--swa-lr applies to --swa E"),
            (["--swa", "1", "--swa-lr", "0"], "--swa-lr expects a rate > 0, got 0.0"),
            (["--swa", "1", "--swa-lr", "inf"], "--swa-lr expects a finite number"),
            (["--swa", "1", "--swa-anneal-epochs", "-1"], "--swa-anneal-epochs expects an integer in 0...1000000"),
            (["--swa", "1", "--swa-anneal", "step"], "--swa-anneal expects one of cos|linear, got 'step'"),
            (["--swa", "1", "--swa-bn", "none"], "--swa-bn expects recompute or average, got 'none'"),
        ]
        for (extra, message) in cases {
            let result = try runDicekit(["train", "--count", "8", "--size", "32", "--epochs", "1"] + extra)
            XCTAssertEqual(result.status, 2, "\(extra): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            XCTAssertTrue(lines.first?.contains(message) == true, "\(extra): \(result.stderr)")
            XCTAssertEqual(lines.dropFirst(), ["run 'dicekit train --help' for usage"], "\(extra): \(result.stderr)")
        }
    }

    func testStochasticAveragingIsWrittenScoredAndResumedBitForBitAfterAKill() throws {
        let swa =
            Array(command.prefix(while: { $0 != "--ema" })) + [
                "--swa", "2", "--swa-lr", "0.0005", "--swa-anneal-epochs", "1", "--swa-anneal", "linear",
            ]
        let root = try temporaryDirectory(self).path
        let reference = "\(root)/reference"
        let run = try runDicekit(swa + ["--out", reference])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("\"swa_start\": 2"), run.stdout)
        XCTAssertTrue(
            run.stderr.contains(
                "averaging the weights from epoch 2 (SWA, lr annealed to 0.0005, BatchNorm statistics recomputed)"),
            run.stderr)
        let file = try SafetensorsFile.read(contentsOf: "\(reference)/swa.safetensors")
        XCTAssertEqual(file.metadata["weights"], "swa")
        XCTAssertEqual(file.metadata["swa_updates"], "2")
        XCTAssertEqual(file.metadata["swa_statistics"], "recompute")
        let history = try TrainingCheckpoint.read(contentsOf: "\(reference)/last.safetensors").history
        XCTAssertEqual(history.last?.learningRate, 0.0005)
        let scored = try runDicekit([
            "eval", "--checkpoint", "\(reference)/swa.safetensors", "--data", "synthetic", "--count", "4",
            "--size", "32", "--threads", "1",
        ])
        XCTAssertEqual(scored.status, 0, scored.stderr)

        let dir = "\(root)/killed"
        let killed = try runDicekit(
            swa + ["--out", dir], environment: ["DICEKIT_TEST_KILL_AT": "checkpoint-mid-write:2"])
        XCTAssertTrue(killed.killedBySignal && killed.status == SIGKILL, "\(killed.status) \(killed.stderr)")
        let resumed = try runDicekit(
            Array(swa.prefix(while: { $0 != "--swa" })) + ["--out", dir, "--resume", "\(dir)/last.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        for name in ["last", "swa", "best"] {
            XCTAssertTrue(
                try tensors("\(dir)/\(name).safetensors") == tensors("\(reference)/\(name).safetensors"),
                "\(name).safetensors differs from the uninterrupted run's")
        }
        let changed = try runDicekit(swa.map { $0 == "linear" ? "cos" : $0 } + ["--resume", "\(dir)/last.safetensors"])
        XCTAssertEqual(changed.status, 2, changed.stderr)
        XCTAssertTrue(
            changed.stderr.contains("--swa-anneal cos differs from the value the run was started with (linear"),
            changed.stderr)
    }
}
