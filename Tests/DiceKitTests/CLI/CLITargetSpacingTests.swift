// Target spacing through the tool: `synth --mixed-spacings` writes scans of one field of view at
// different voxel sizes; `train --target-spacing median` resamples them to the cases' median and
// records it (fixed on resume); `predict` and `eval` take the recorded spacing, map each case's
// scores back to its own grid and agree on the Dice; and the misuses are refused with one line.

import Foundation
import XCTest

@testable import DiceKit

final class CLITargetSpacingTests: XCTestCase {
    func testTrainAtTheMedianSpacingThenPredictAndEvaluateOnEachScansGrid() throws {
        let dir = try temporaryDirectory(self).path
        for (name, count, seed) in [("blobs", "6", "0"), ("test", "2", "5")] {
            let synth = try runDicekit([
                "synth", "--format", "nifti", "--out", "\(dir)/\(name)", "--count", count, "--size", "12",
                "--mixed-spacings", "--seed", seed,
            ])
            XCTAssertEqual(synth.status, 0, synth.stderr)
        }
        let spacings = try (0..<6).map {
            try NIfTI.read(contentsOf: "\(dir)/blobs/imagesTr/blob_00\($0)_0000.nii.gz").spacing
        }
        XCTAssertGreaterThan(Set(spacings).count, 1, "\(spacings)")
        let median = TargetSpacing.median(of: spacings)
        let train = try runDicekit([
            "train", "--data", "\(dir)/blobs", "--target-spacing", "median", "--patch-size", "16,16,16", "--depth",
            "2", "--base", "4", "--epochs", "1", "--batch-size", "4", "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("volumes resampled to spacing"), train.stderr)
        let record = try TrainingCheckpoint.read(contentsOf: "\(dir)/run/last.safetensors").options
        XCTAssertEqual(record["target-spacing"], "median")
        XCTAssertEqual(try TargetSpacing(parsing: try XCTUnwrap(record["trained-spacing"])), .spacing(median))

        let resumed = try runDicekit([
            "train", "--resume", "\(dir)/run/last.safetensors", "--epochs", "2", "--target-spacing", "1",
        ])
        XCTAssertEqual(resumed.status, 2, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("--target-spacing 1.0,1.0,1.0 differs"), resumed.stderr)

        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/last.safetensors", "--input", "\(dir)/test", "--masks", "\(dir)/m",
        ])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        XCTAssertTrue(
            predict.stderr.contains("predict: --target-spacing \(record["trained-spacing"]!)"), predict.stderr)
        let dices = try writtenMaskDices(
            masks: "\(dir)/m", data: "\(dir)/test", cases: (0..<2).map { "blob_00\($0)" })
        XCTAssertFalse(dices.isEmpty)

        // eval resamples alike and scores each case on its own grid: predict's Dice.
        let eval = try runDicekit([
            "eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/test",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stderr.contains("eval: --target-spacing"), eval.stderr)
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any], eval.stdout)
        let foreground = try XCTUnwrap(json["dice_foreground"] as? Double, eval.stdout)
        XCTAssertEqual(foreground, dices.reduce(0, +) / Double(dices.count), accuracy: 1e-9)
    }

    func testMisusesAreRefusedWithOneLine() throws {
        let dir = try temporaryDirectory(self).path
        let cases: [([String], String)] = [
            (["train", "--data", "synthetic3d", "--target-spacing", "1"], "applies to data read from files"),
            (["train", "--data", dir, "--target-spacing", "1", "--image-size", "8,8,8"], "give one of them"),
            (["train", "--data", dir, "--target-spacing", "0,1,1"], "expected DZ,DY,DX"),
            (
                [
                    "predict", "--checkpoint", "x.safetensors", "--input", dir, "--masks", "\(dir)/m",
                    "--target-spacing", "median",
                ],
                "for train"
            ),
            (["synth", "--out", "\(dir)/s", "--format", "png", "--mixed-spacings"], "applies to --format nifti"),
        ]
        for (arguments, expected) in cases {
            let run = try runDicekit(arguments)
            XCTAssertEqual(run.status, 2, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(expected), "\(arguments): \(run.stderr)")
        }
    }
}
