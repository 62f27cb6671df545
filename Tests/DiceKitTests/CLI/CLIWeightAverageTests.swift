// `dicekit train --ema D [--ema-warmup]` as a subprocess of the built tool: the averaged weights
// in ema.safetensors and best.safetensors (which `eval` reads like any model), the average in
// last.safetensors; a kill in the middle of an epoch's checkpoint write, then --resume, gives the
// uninterrupted run bit for bit; the options are fixed on resume and checked with one line.

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
        ]
        for (extra, message) in cases {
            let result = try runDicekit(["train", "--count", "8", "--size", "32", "--epochs", "1"] + extra)
            XCTAssertEqual(result.status, 2, "\(extra): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            XCTAssertTrue(lines.first?.contains(message) == true, "\(extra): \(result.stderr)")
            XCTAssertEqual(lines.dropFirst(), ["run 'dicekit train --help' for usage"], "\(extra): \(result.stderr)")
        }
    }
}
