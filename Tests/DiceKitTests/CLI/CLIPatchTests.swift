// Patch-based training through the tool: `train --patch-size` on NIfTI cases of mixed sizes
// (no --image-size), the options recorded and fixed on resume; `predict` and `eval` slide a
// window of the patch size over whole cases at their own size and agree on the Dice; 2-D data
// trains on patches too; and the misuses are refused with one line.

import Foundation
import XCTest

@testable import DiceKit

final class CLIPatchTests: XCTestCase {
    func testTrainOnPatchesThenPredictAndEvaluateWholeCases() throws {
        let dir = try temporaryDirectory(self).path
        for (name, count, seed) in [("blobs", "8", "0"), ("test", "3", "9")] {
            let synth = try runDicekit([
                "synth", "--format", "nifti", "--out", "\(dir)/\(name)", "--count", count, "--size", "16",
                "--mixed-sizes", "--seed", seed,
            ])
            XCTAssertEqual(synth.status, 0, synth.stderr)
        }
        // Cases of 12…20 per side, patches of 16: some axes are padded.
        let train = try runDicekit([
            "train", "--data", "\(dir)/blobs", "--patch-size", "16,16,16", "--patches-per-case", "2",
            "--foreground-oversampling", "0.5", "--depth", "2", "--base", "4", "--epochs", "1", "--batch-size", "4",
            "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(
            train.stderr.contains("on 12 patches of [16, 16, 16] from 6 cases, validating on 4"), train.stderr)
        let record = try TrainingCheckpoint.read(contentsOf: "\(dir)/run/last.safetensors").options
        XCTAssertEqual(record["patch-size"], "16,16,16")
        XCTAssertEqual(record["patches-per-case"], "2")
        XCTAssertEqual(record["foreground-oversampling"], "0.5")

        let resumed = try runDicekit([
            "train", "--resume", "\(dir)/run/last.safetensors", "--epochs", "2", "--patch-size", "8,8,8",
        ])
        XCTAssertEqual(resumed.status, 2, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("--patch-size 8,8,8 differs"), resumed.stderr)

        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/last.safetensors", "--input", "\(dir)/test", "--masks", "\(dir)/m",
        ])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        XCTAssertTrue(
            predict.stderr.contains("predict: --tile 16,16,16 as the checkpoint was trained on patches"),
            predict.stderr)
        let dices = try writtenMaskDices(
            masks: "\(dir)/m", data: "\(dir)/test", cases: (0..<3).map { "blob_00\($0)" })
        XCTAssertFalse(dices.isEmpty)

        // eval scores the same whole cases through the same window: the same Dice.
        let eval = try runDicekit([
            "eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/test", "--metrics", "dice,hd95",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stderr.contains("eval: --tile 16,16,16 as the checkpoint"), eval.stderr)
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any], eval.stdout)
        XCTAssertEqual(json["images"] as? Int, 3)
        let foreground = try XCTUnwrap(json["dice_foreground"] as? Double, eval.stdout)
        XCTAssertEqual(foreground, dices.reduce(0, +) / Double(dices.count), accuracy: 1e-9)
        // hd95 in millimetres from each case's header spacing (2 × 0.8 × 0.8), not 1 per axis.
        let unit = try runDicekit([
            "eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/test", "--metrics", "dice,hd95",
            "--spacing", "2,0.8,0.8",
        ])
        XCTAssertEqual(unit.status, 0, unit.stderr)
        let hd95 = { (text: String) throws -> Double? in
            ((try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["hd95_foreground"]
                as? NSNumber)?.doubleValue
        }
        // (The header stores the spacing as Float: 0.8 is 0.800000011920929.)
        let (own, given) = (try XCTUnwrap(try hd95(eval.stdout)), try XCTUnwrap(try hd95(unit.stdout)))
        XCTAssertEqual(own, given, accuracy: 1e-6 * given)
        let voxels = try runDicekit([
            "eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/test", "--metrics", "hd95",
            "--spacing", "1,1,1",
        ])
        XCTAssertNotEqual(try XCTUnwrap(try hd95(voxels.stdout)), own, accuracy: 1e-3, voxels.stderr)
    }

    func testImagesTrainOnPatchesAndMisusesAreRefused() throws {
        let dir = try temporaryDirectory(self).path
        let train = try runDicekit([
            "train", "--data", "synthetic", "--count", "6", "--size", "32", "--patch-size", "16,16", "--depth", "2",
            "--base", "4", "--epochs", "1", "--out", "\(dir)/flat",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let eval = try runDicekit([
            "eval", "--checkpoint", "\(dir)/flat/last.safetensors", "--data", "synthetic", "--count", "2", "--size",
            "32", "--overlap", "0.5",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stderr.contains("eval: --tile 16,16"), eval.stderr)
        for (arguments, expected) in [
            (["train", "--patches-per-case", "2"], "--patches-per-case needs --patch-size"),
            (["train", "--patch-size", "10,16", "--depth", "2"], "10 is not a multiple of 2^depth = 4"),
            (["train", "--patch-size", "16,x"], "--patch-size expects H,W or D,H,W"),
            (["train", "--patch-size", "16,16,16", "--depth", "2", "--count", "4", "--size", "32"], "give H,W"),
            (["train", "--patch-size", "16,16", "--foreground-oversampling", "2"], "foreground oversampling"),
        ] {
            let result = try runDicekit(arguments + ["--out", "\(dir)/x"])
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            XCTAssertEqual(
                result.stderr.split(separator: "\n").count, 2, "one line and the usage hint: \(result.stderr)")
        }
    }
}
