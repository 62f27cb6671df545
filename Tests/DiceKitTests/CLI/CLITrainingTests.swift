// `dicekit grad` against PyTorch's parameter gradients (Fixtures/unet), and the training
// commands' error handling.

import Foundation
import XCTest

@testable import DiceKit

final class CLITrainingTests: XCTestCase {
    func testGradMatchesPyTorch() throws {
        let out = try temporaryDirectory(self).appendingPathComponent("g.safetensors").path
        let result = try runDicekit([
            "grad", "--checkpoint", fixtureURL("unet/weights.safetensors").path,
            "--images", fixtureURL("unet/images.npy").path,
            "--labels", fixtureURL("unet/labels.npy").path, "--out", out,
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("{\"loss\": 0.50236"), result.stdout)
        let ours = try SafetensorsFile.read(contentsOf: out)
        let reference = try SafetensorsFile.read(contentsOf: fixtureURL("unet/grads.safetensors").path)
        XCTAssertEqual(ours.names, reference.names)
        for name in reference.names {
            let expected = try reference.tensor(named: name, as: Float.self)
            // As UNetInteropTests: observed 9.1e-7 of the tensor's largest magnitude.
            XCTAssertLessThanOrEqual(scaledError(try ours.tensor(named: name, as: Float.self), expected), 5e-6, name)
        }
    }

    func testTrainPredictEvalOnATinyRun() throws {
        let dir = try temporaryDirectory(self).path
        let train = try runDicekit([
            "train", "--count", "8", "--size", "32", "--depth", "2", "--base", "4",
            "--epochs", "1", "--batch-size", "4", "--out", dir,
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("\"val_dice_foreground\""), train.stdout)
        let eval = try runDicekit([
            "eval", "--checkpoint", "\(dir)/last.safetensors", "--data", "synthetic",
            "--count", "4", "--size", "32",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("\"dice_foreground\""), eval.stdout)
        let images = "\(dir)/x.npy"
        var generator = SeededGenerator(seed: 1)
        try NPY.write(Tensor<Float>.uniform([2, 32, 32, 3], generator: &generator), to: images)
        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/last.safetensors", "--input", images,
            "--logits", "\(dir)/logits.npy", "--out", "\(dir)/overlays",
        ])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        XCTAssertEqual(try NPY.read(contentsOf: "\(dir)/logits.npy").shape, [2, 32, 32, 2])
        XCTAssertEqual(
            try PNG.read(contentsOf: "\(dir)/overlays/0001.png").width, 2 * 32 + 4,
            "image and prediction panels with a 4-pixel gap")
    }

    func testTrainingCommandErrors() throws {
        XCTAssertEqual(try runDicekit(["train", "--epochs", "0"]).status, 2)
        XCTAssertEqual(try runDicekit(["train", "--optimizer", "rmsprop"]).status, 2)
        XCTAssertEqual(try runDicekit(["train", "--data", "/nonexistent"]).status, 1)
        let badSize = try runDicekit([
            "train", "--size", "36", "--count", "4", "--epochs", "1", "--out", try temporaryDirectory(self).path,
        ])
        XCTAssertEqual(badSize.status, 1)
        XCTAssertTrue(badSize.stderr.contains("divisible by 16"), badSize.stderr)
        let missing = try runDicekit(["eval", "--checkpoint", "/nonexistent.safetensors", "--data", "synthetic"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        XCTAssertEqual(try runDicekit(["grad", "--checkpoint", "x"]).status, 2, "missing --images is a usage error")
        XCTAssertEqual(try runDicekit(["predict", "--checkpoint", "x", "--input", "y.npy"]).status, 2)
        let otherLoss = try runDicekit(["train", "--loss", "dice", "--ce-class-weights", "1,2"])
        XCTAssertEqual(otherLoss.status, 2, otherLoss.stderr)
        XCTAssertTrue(
            otherLoss.stderr.contains("--ce-class-weights with loss dice; expected loss dice-ce"), otherLoss.stderr)
        let smoothing = try runDicekit(["train", "--label-smoothing", "nan"])
        XCTAssertEqual(smoothing.status, 2, smoothing.stderr)
        let count = try runDicekit([
            "train", "--count", "4", "--size", "32", "--epochs", "1", "--ce-class-weights", "1,2,3",
            "--out", try temporaryDirectory(self).path,
        ])
        XCTAssertEqual(count.status, 1, count.stderr)
        XCTAssertTrue(count.stderr.contains("class weights have 3 values; expected 2"), count.stderr)
        XCTAssertEqual(count.stderr.split(separator: "\n").count, 1, count.stderr)
    }

    /// `--ce-class-weights` and `--label-smoothing` reach the loss (the training loss changes) and
    /// the summary's configuration.
    func testCrossEntropyOptionsReachTheLossAndTheSummary() throws {
        let root = try temporaryDirectory(self).path
        func train(_ out: String, _ extra: [String]) throws -> [String: Any] {
            let run = try runDicekit(
                [
                    "train", "--count", "8", "--size", "32", "--depth", "2", "--base", "4", "--epochs", "1",
                    "--batch-size", "4", "--threads", "1", "--no-augment", "--out", "\(root)/\(out)",
                ] + extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(out)/summary.json"))
            return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        let plain = try train("plain", [])
        let weighted = try train("weighted", ["--ce-class-weights", "0.25,4", "--label-smoothing", "0.2"])
        let configuration = try XCTUnwrap(weighted["configuration"] as? [String: Any])
        XCTAssertEqual(configuration["ce_class_weights"] as? [Double], [0.25, 4])
        XCTAssertEqual(configuration["label_smoothing"] as? Double, 0.2)
        XCTAssertNil((plain["configuration"] as? [String: Any])?["ce_class_weights"])
        let plainLoss = try XCTUnwrap(plain["final_train_loss"] as? Double)
        let weightedLoss = try XCTUnwrap(weighted["final_train_loss"] as? Double)
        XCTAssertGreaterThan(abs(plainLoss - weightedLoss), 1e-3 * plainLoss, "the options changed nothing")
    }

    /// A loss option reaches the loss and the summary, and is recorded in a canonical form: a
    /// distance matrix given as .npy resumes with the same values given inline, not with others.
    func testLossOptionsReachTheLossAndResumeInCanonicalForm() throws {
        let root = try temporaryDirectory(self).path
        let matrix = "\(root)/m.npy"
        // Asymmetric: the loss divides the matrix by its largest entry (as MONAI), so two classes
        // need unequal distances to differ from the default 1 − I.
        try NPY.write(Tensor<Double>(shape: [2, 2], scalars: [0, 3, 1, 0]), to: matrix)
        let base = [
            "train", "--count", "8", "--size", "32", "--depth", "2", "--base", "4", "--batch-size", "4",
            "--threads", "1", "--no-augment", "--loss", "wasserstein",
        ]
        func summary(_ out: String) throws -> [String: Any] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(out)/summary.json"))
            return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        let plain = try runDicekit(base + ["--epochs", "1", "--out", "\(root)/plain"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let given = try runDicekit(base + ["--epochs", "1", "--distance-matrix", matrix, "--out", "\(root)/m"])
        XCTAssertEqual(given.status, 0, given.stderr)
        let configuration = try XCTUnwrap(try summary("m")["configuration"] as? [String: Any])
        XCTAssertEqual(configuration["distance_matrix"] as? [Double], [0, 3, 1, 0])
        let a = try XCTUnwrap(try summary("plain")["final_train_loss"] as? Double)
        let b = try XCTUnwrap(try summary("m")["final_train_loss"] as? Double)
        XCTAssertGreaterThan(abs(a - b), 1e-3 * a, "the distance matrix changed nothing")

        let last = "\(root)/m/last.safetensors"
        let inline = try runDicekit(base + ["--epochs", "2", "--distance-matrix", "0,3,1,0", "--resume", last])
        XCTAssertEqual(inline.status, 0, inline.stderr)
        let other = try runDicekit(base + ["--epochs", "3", "--distance-matrix", "0,2,1,0", "--resume", last])
        XCTAssertEqual(other.status, 2, other.stderr)
        XCTAssertTrue(other.stderr.contains("--distance-matrix 0.0,2.0,1.0,0.0 differs"), other.stderr)
        let omitted = try runDicekit(base + ["--epochs", "3", "--resume", last])
        XCTAssertEqual(omitted.status, 0, omitted.stderr)
        XCTAssertEqual(
            try XCTUnwrap(try summary("m")["configuration"] as? [String: Any])["distance_matrix"] as? [Double],
            [0, 3, 1, 0], "the resumed run took the stored matrix")
    }
}
