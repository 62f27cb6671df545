// Training, resuming, evaluating and predicting on masks with unlabelled pixels, end to end
// through the built tool: `dicekit synth --void-border` writes VOC-style void outlines (255),
// `--ignore-index 255` trains on them, is recorded for resume, and scores without them; every
// misuse is a one-line error that names the fix.

import Foundation
import XCTest

@testable import DiceKit

final class CLIIgnoreIndexTests: XCTestCase {
    private let tiny = [
        "--depth", "2", "--base", "4", "--batch-size", "4", "--threads", "1", "--mask-encoding", "index",
    ]

    /// The JSON object that `text` holds.
    private func object(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// A PNG folder of 10 synthetic 32² images with 2-pixel void borders.
    private func voidData() throws -> String {
        let root = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--out", "\(root)/data", "--count", "10", "--size", "32", "--format", "png", "--void-border", "1",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        XCTAssertTrue(synth.stderr.contains("--ignore-index 255"), synth.stderr)
        // Only the PNG folder: the .npy copy would be read first.
        for file in ["images.npy", "masks.npy"] { try FileManager.default.removeItem(atPath: "\(root)/data/\(file)") }
        return "\(root)/data"
    }

    func testTrainResumeEvalAndPredictLeaveTheVoidOut() throws {
        let data = try voidData()
        let mask = try PNG.read(contentsOf: "\(data)/masks/0000.png")
        XCTAssertTrue(mask.pixels.contains(255) && mask.pixels.contains(1), "class indices with 255 borders")
        let out = (data as NSString).deletingLastPathComponent + "/run"
        let train = ["train", "--data", data, "--ignore-index", "255", "--out", out] + tiny
        let first = try runDicekit(train + ["--epochs", "1"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let configuration = try XCTUnwrap(try object(first.stdout)["configuration"] as? [String: Any])
        XCTAssertEqual(configuration["ignore_index"] as? Int, 255, first.stdout)
        XCTAssertEqual(configuration["classes"] as? Int, 2, "255 is not a class")

        // The ignore index is fixed for the run: omitted it is the checkpoint's, changed it is refused.
        let resumed = try runDicekit(
            ["train", "--resume", "\(out)/last.safetensors", "--epochs", "2", "--out", out, "--threads", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let changed = try runDicekit(
            train.map { $0 == "255" ? "254" : $0 } + ["--epochs", "3", "--resume", "\(out)/last.safetensors"])
        XCTAssertEqual(changed.status, 2)
        XCTAssertTrue(changed.stderr.contains("--ignore-index 254 differs"), changed.stderr)

        let checkpoint = "\(out)/best.safetensors"
        let eval = try runDicekit([
            "eval", "--checkpoint", checkpoint, "--data", data, "--mask-encoding", "index", "--ignore-index", "255",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(try object(eval.stdout)["images"] as? Int, 10, eval.stdout)
        let missing = try runDicekit(["eval", "--checkpoint", checkpoint, "--data", data, "--mask-encoding", "index"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("give --ignore-index 255"), missing.stderr)
        let surface = try runDicekit([
            "eval", "--checkpoint", checkpoint, "--data", data, "--mask-encoding", "index", "--ignore-index", "255",
            "--metrics", "dice,hd95",
        ])
        XCTAssertEqual(surface.status, 2)
        XCTAssertTrue(surface.stderr.contains("surface distances need every pixel labelled"), surface.stderr)

        let predicted = try runDicekit([
            "predict", "--checkpoint", checkpoint, "--input", data, "--masks", "\(out)/masks", "--mask-encoding",
            "index", "--ignore-index", "255",
        ])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        XCTAssertTrue(predicted.stdout.contains("\"dice\""), predicted.stdout)
    }

    func testMisusesAreOneLineErrors() throws {
        let data = try voidData()
        let cases: [([String], String)] = [
            (["--ignore-index", "255", "--mask-encoding", "binary"], "needs class-index masks"),
            (["--ignore-index", "1"], "ignore index 1 is one of the class indices 0..<2"),
            (["--ignore-index", "255", "--loss", "dice-hausdorff"], "--ignore-index with loss dice-hausdorff"),
            ([], "give --ignore-index 255 if it marks unlabelled pixels"),
        ]
        for (extra, text) in cases {
            var arguments = ["train", "--data", data, "--epochs", "1"] + tiny
            if extra.contains("binary") { arguments.removeLast(2) }
            let result = try runDicekit(arguments + extra + ["--out", data + "/../bad"])
            XCTAssertNotEqual(result.status, 0, "\(extra)")
            XCTAssertTrue(result.stderr.contains(text), "\(extra): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Fatal"), result.stderr)
        }
        let synthetic = try runDicekit(["train", "--ignore-index", "255", "--epochs", "1"])
        XCTAssertEqual(synthetic.status, 2)
        XCTAssertTrue(synthetic.stderr.contains("--ignore-index applies to data read from files"), synthetic.stderr)
    }
}
