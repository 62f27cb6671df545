// Crash safety and resume of `dicekit train`, run as a subprocess of the built tool: a kill
// (SIGKILL, through the test hook DICEKIT_TEST_KILL_AT) at every write point of an epoch, then
// the same command plus --resume, must give the uninterrupted run's weights, optimiser state
// and metrics bit for bit (one thread: bit-equality at other thread counts is not claimed here),
// with every epoch logged exactly once; resume takes omitted options from the checkpoint and
// refuses changed ones by name; a diverging run stops with its last good checkpoint intact.

import Foundation
import XCTest

@testable import DiceKit

final class CLIResumeTests: XCTestCase {
    /// A tiny run: 6 training images (2 steps per epoch), 2 validation images, 3 epochs.
    private let command = [
        "train", "--count", "8", "--size", "32", "--depth", "2", "--base", "4", "--batch-size", "4",
        "--threads", "1", "--epochs", "3",
    ]

    /// The epochs of `dir/metrics.jsonl` as JSON lines, timings removed (they differ run to run).
    private func loggedEpochs(_ dir: String) throws -> [String] {
        try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
            var metrics = try XCTUnwrap(EpochMetrics(jsonLine: String(line)), String(line))
            metrics.seconds = 0
            metrics.imagesPerSecond = 0
            metrics.dataWaitFraction = 0 // a timing, like the two above
            return metrics.json.encoded
        }
    }

    private func tensors(_ path: String) throws -> [String: SafetensorsTensor] {
        try SafetensorsFile.read(contentsOf: path).tensors
    }

    func testAKillAtEveryWritePointResumesToTheUninterruptedRun() throws {
        let root = try temporaryDirectory(self).path
        let reference = "\(root)/reference"
        let uninterrupted = try runDicekit(command + ["--out", reference])
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.stderr)
        let expectedLog = try loggedEpochs(reference)
        XCTAssertEqual(expectedLog.count, 3)
        let expectedLast = try tensors("\(reference)/last.safetensors")
        XCTAssertTrue(expectedLast.keys.contains("optimizer.step"))
        let expectedBest = try tensors("\(reference)/best.safetensors")

        for point in [
            "checkpoint-mid-write", "checkpoint-before-rename", "checkpoint-after-rename", "metrics-before",
            "metrics-after",
        ] {
            let dir = "\(root)/\(point)"
            let killed = try runDicekit(command + ["--out", dir], environment: ["DICEKIT_TEST_KILL_AT": "\(point):2"])
            XCTAssertTrue(
                killed.killedBySignal && killed.status == SIGKILL, "\(point): \(killed.status) \(killed.stderr)")
            let committed = try TrainingCheckpoint.read(contentsOf: "\(dir)/last.safetensors").epoch
            XCTAssertEqual(
                committed, point.hasPrefix("checkpoint-") && point != "checkpoint-after-rename" ? 1 : 2, point)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter {
                $0.hasPrefix(".last.safetensors.tmp-")
            }
            XCTAssertEqual(
                leftovers.count, point == "checkpoint-mid-write" || point == "checkpoint-before-rename" ? 1 : 0, point)

            let resumed = try runDicekit(command + ["--out", dir, "--resume", "\(dir)/last.safetensors"])
            XCTAssertEqual(resumed.status, 0, "\(point): \(resumed.stderr)")
            XCTAssertEqual(
                try loggedEpochs(dir), expectedLog, "\(point): epochs 1…3 once each, with the uninterrupted figures")
            XCTAssertEqual(
                try tensors("\(dir)/last.safetensors"), expectedLast, "\(point): weights and optimiser state")
            XCTAssertEqual(try tensors("\(dir)/best.safetensors"), expectedBest, point)
            XCTAssertEqual(
                try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }, [],
                "\(point): temporary files of the killed write are removed")
        }
    }

    func testResumeTakesOmittedOptionsFromTheCheckpointAndRefusesChangedOnes() throws {
        let root = try temporaryDirectory(self).path
        let first = try runDicekit(command.dropLast() + ["1", "--out", "\(root)/run"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let last = "\(root)/run/last.safetensors"

        // The same command again: the architecture options equal the checkpoint's, so they are accepted.
        let same = try runDicekit(command.dropLast() + ["2", "--out", "\(root)/run", "--resume", last])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertEqual(try loggedEpochs("\(root)/run").count, 2)

        // A changed option is refused by name, with the checkpoint's value and the given one.
        for (option, value, stored) in [
            ("size", "64", "32"), ("base", "8", "4"), ("loss", "dice", "dice-ce"), ("seed", "5", "0"),
            ("label-smoothing", "0.1", "(not given)"), ("ce-class-weights", "1.0,2.0", "(not given)"),
            ("dice-weight", "0.5", "(not given)"),
        ] {
            let changed = try runDicekit(["train", "--\(option)", value, "--epochs", "5", "--resume", last])
            XCTAssertEqual(changed.status, 2, changed.stderr)
            XCTAssertTrue(
                changed.stderr.contains("--\(option) \(value) differs") && changed.stderr.contains("(\(stored),"),
                changed.stderr)
        }
        let augment = try runDicekit(["train", "--no-augment", "--epochs", "5", "--resume", last])
        XCTAssertTrue(augment.status == 2 && augment.stderr.contains("--no-augment true differs"), augment.stderr)
        let batchDice = try runDicekit(["train", "--batch-dice", "--epochs", "5", "--resume", last])
        XCTAssertTrue(batchDice.status == 2 && batchDice.stderr.contains("--batch-dice true differs"), batchDice.stderr)

        // --epochs is the total: no more epochs to train is an error, not a silent success.
        let done = try runDicekit(["train", "--epochs", "2", "--resume", last])
        XCTAssertEqual(done.status, 1)
        XCTAssertTrue(done.stderr.contains("already trained 2 epoch(s)"), done.stderr)
        XCTAssertEqual(done.stderr.split(separator: "\n").count, 1, done.stderr)

        // best.safetensors is model-only: resuming from it says to use last.safetensors.
        let best = try runDicekit(["train", "--epochs", "5", "--resume", "\(root)/run/best.safetensors"])
        XCTAssertEqual(best.status, 1)
        XCTAssertTrue(best.stderr.contains("resume from last.safetensors"), best.stderr)

        // Only --resume, --epochs and another --out: the data size, threads and the rest come from the
        // checkpoint (a 32² model is not resumed on the default 128² data) and the history moves along.
        let moved = try runDicekit([
            "train", "--epochs", "3", "--threads", "1", "--resume", last, "--out", "\(root)/moved",
        ])
        XCTAssertEqual(moved.status, 0, moved.stderr)
        XCTAssertTrue(moved.stderr.contains("on 6 images of [32, 32]"), moved.stderr)
        XCTAssertEqual(
            try loggedEpochs("\(root)/moved").map { try XCTUnwrap(EpochMetrics(jsonLine: $0)).epoch }, [1, 2, 3])
        XCTAssertEqual(try loggedEpochs("\(root)/moved").prefix(2), try loggedEpochs("\(root)/run")[...])
        let summary =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(root)/moved/summary.json")))
            as! [String: Any]
        XCTAssertEqual(summary["epochs"] as? Int, 3)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(root)/moved/best.safetensors"))
    }

    func testARunWithValidationDataResumes() throws {
        // The record holds val-fraction 0 beside val-data; filling it in on resume is not the
        // user giving both.
        let root = try temporaryDirectory(self).path
        for (name, seed) in [("train", "1"), ("val", "2")] {
            let synth = try runDicekit([
                "synth", "--out", "\(root)/\(name)", "--count", "5", "--size", "32", "--seed", seed,
            ])
            XCTAssertEqual(synth.status, 0, synth.stderr)
        }
        let first = try runDicekit(
            ["train"] + Array(command.dropFirst(5).dropLast()) + [
                "1", "--data", "\(root)/train", "--val-data", "\(root)/val", "--out", "\(root)/run",
            ])
        XCTAssertEqual(first.status, 0, first.stderr)
        let resumed = try runDicekit(["train", "--epochs", "2", "--resume", "\(root)/run/last.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("on 5 images of [32, 32], validating on 5"), resumed.stderr)
        let both = try runDicekit([
            "train", "--data", "\(root)/train", "--val-data", "\(root)/val", "--val-fraction", "0.2", "--out",
            "\(root)/both",
        ])
        XCTAssertTrue(both.status == 2 && both.stderr.contains("exclude each other"), both.stderr)
    }

    func testADivergingRunStopsNamingEpochAndStepAndKeepsItsLastGoodCheckpoint() throws {
        let dir = try temporaryDirectory(self).path
        let first = try runDicekit(command.dropLast() + ["1", "--norm", "none", "--out", dir])
        XCTAssertEqual(first.status, 0, first.stderr)
        // Make the next step's logits non-finite: an infinite first-layer weight gives inf, then inf·0 = NaN.
        let path = "\(dir)/last.safetensors"
        var file = try SafetensorsFile.read(contentsOf: path)
        var weight = try file.tensor(named: "down.0.0.weight", as: Float.self)
        weight.withUnsafeMutableBufferPointer { $0[0] = .infinity }
        file.setTensor(weight, named: "down.0.0.weight")
        try file.write(to: path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))

        let stopped = try runDicekit(["train", "--epochs", "3", "--resume", path])
        XCTAssertEqual(stopped.status, 1)
        let lines = stopped.stderr.split(separator: "\n")
        XCTAssertEqual(
            lines.last.map(String.init),
            "dicekit train: training diverged at epoch 2, step 1: loss is nan; last good checkpoint \(path) (epoch 1)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), good, "the last good checkpoint is intact")
        XCTAssertTrue(stopped.stdout.contains("\"diverged\": \"training diverged at epoch 2, step 1"), stopped.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/curves.svg"))
        XCTAssertEqual(try loggedEpochs(dir).count, 1)
        // Into another folder, before that folder holds a checkpoint: the good one is the resumed one.
        let elsewhere = try runDicekit(["train", "--epochs", "3", "--resume", path, "--out", "\(dir)/other"])
        XCTAssertEqual(elsewhere.status, 1)
        XCTAssertTrue(elsewhere.stderr.hasSuffix("last good checkpoint \(path) (epoch 1)\n"), elsewhere.stderr)

        // skip:2 drops two updates (the rest of epoch 2), then stops on the third in a row.
        let skipping = try runDicekit(["train", "--epochs", "3", "--on-nonfinite", "skip:2", "--resume", path])
        XCTAssertEqual(skipping.status, 1)
        XCTAssertTrue(
            skipping.stderr.contains(
                "training diverged at epoch 3, step 1: loss is nan after 2 skipped step(s) in a row; "
                    + "last good checkpoint \(path) (epoch 2)"), skipping.stderr)
        let summary =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/summary.json")))
            as! [String: Any]
        XCTAssertEqual(summary["skipped_steps"] as? Int, 2)
        XCTAssertEqual(summary["epochs"] as? Int, 2)
        XCTAssertEqual(try runDicekit(["train", "--on-nonfinite", "skip:0"]).status, 2)
    }
}
