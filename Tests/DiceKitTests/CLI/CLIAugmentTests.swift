// `dicekit train --augment`: names listed in the help, bad names and contradictory options
// refused before any data is read, the choice recorded for resume, and a JPEG folder trained
// through the streamed path with the data wait in the summary.

import XCTest

@testable import DiceKit

final class CLIAugmentTests: XCTestCase {
    func testAugmentOptionsAreListedAndChecked() throws {
        let help = try runDicekit(["train", "--help"])
        for name in Augmentation.Kind.allCases.map(\.rawValue) + ["--no-augment"] {
            XCTAssertTrue(help.stdout.contains(name), name)
        }
        let unknown = try runDicekit(["train", "--augment", "flip,warp"])
        XCTAssertEqual(unknown.status, 2, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("'warp'"), unknown.stderr)
        let both = try runDicekit(["train", "--augment", "flip", "--no-augment"])
        XCTAssertEqual(both.status, 2, both.stderr)
        XCTAssertTrue(both.stderr.contains("--no-augment"), both.stderr)
    }

    func testStreamedFolderTrainingRecordsTheAugmentationAndTheDataWait() throws {
        let dir = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--format", "jpeg", "--mixed-sizes", "--count", "6", "--size", "32", "--out", "\(dir)/data",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let command = [
            "train", "--data", "\(dir)/data", "--image-size", "32", "--depth", "1", "--base", "2", "--batch-size", "2",
            "--val-fraction", "0.34", "--augment", "flip,scale-crop,affine,gamma", "--out", "\(dir)/run",
        ]
        let run = try runDicekit(command + ["--epochs", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let summary = try String(contentsOfFile: "\(dir)/run/summary.json", encoding: .utf8)
        XCTAssertTrue(summary.contains("\"data_wait_fraction\""), summary)
        let checkpoint = try TrainingCheckpoint.read(contentsOf: "\(dir)/run/last.safetensors")
        XCTAssertEqual(checkpoint.options["augment"], "flip,gamma,scale-crop,affine")

        let changed = try runDicekit([
            "train", "--data", "\(dir)/data", "--augment", "flip", "--epochs", "2",
            "--resume", "\(dir)/run/last.safetensors",
        ])
        XCTAssertEqual(changed.status, 2, changed.stderr)
        XCTAssertTrue(changed.stderr.contains("--augment"), changed.stderr)
        let resumed = try runDicekit(command + ["--epochs", "2", "--resume", "\(dir)/run/last.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
    }
}
