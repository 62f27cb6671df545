// The data options of `train`, `eval` and `predict` through the tool: 3-D volumes, a
// Kvasir-like JPEG folder of mixed sizes made by `synth`, a separate validation set, class
// names, and the usage errors every data option gives before any data is read.

import XCTest

@testable import DiceKit

final class CLIDataTests: XCTestCase {
    /// Issue 14: `train --data vol.npy --depth 2` on volumes [N, 16, 16, 16, 1] trains a 3-D U-Net.
    func testVolumesTrainEvaluateAndPredict() throws {
        let dir = try temporaryDirectory(self).path
        let volumes = try SegmentationDataset.syntheticBlobs3D(count: 6, seed: 3)
        try NPY.write(volumes.images, to: "\(dir)/vol.npy")
        try NPY.write(
            try NPYArray(integers: volumes.labels.map(Int.init), shape: volumes.labelShape, dtype: .uint8),
            to: "\(dir)/vol_masks.npy")
        let train = try runDicekit([
            "train", "--data", "\(dir)/vol.npy", "--depth", "2", "--base", "4", "--epochs", "1",
            "--batch-size", "2", "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("[16, 16, 16]"), train.stderr)
        XCTAssertEqual(try UNet<Float>.load(contentsOf: "\(dir)/run/last.safetensors").configuration.spatialRank, 3)
        let eval = try runDicekit(["eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/vol.npy"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("\"images\": 6"), eval.stdout)
        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/last.safetensors", "--input", "\(dir)/vol.npy",
            "--logits", "\(dir)/logits.npy",
        ])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        XCTAssertEqual(try NPY.read(contentsOf: "\(dir)/logits.npy").shape, [6, 16, 16, 16, 2])
        let synthetic = try runDicekit([
            "train", "--data", "synthetic3d", "--count", "4", "--size", "16", "--depth", "2",
            "--base", "4", "--epochs", "1", "--batch-size", "2", "--out", "\(dir)/run3d",
        ])
        XCTAssertEqual(synthetic.status, 0, synthetic.stderr)
    }

    func testKvasirLikeJPEGFolderTrainsWithAnImageSize() throws {
        let dir = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--out", "\(dir)/kvasir", "--format", "jpeg", "--mixed-sizes", "--count", "10", "--size", "32",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/kvasir/masks").sorted()
        XCTAssertEqual(files.count, 10)
        XCTAssertTrue(files.allSatisfy { $0.hasSuffix(".jpg") }, "\(files)")
        let sizes = try files.map { try JPEG.read(contentsOf: "\(dir)/kvasir/images/\($0)") }.map {
            [$0.width, $0.height]
        }
        XCTAssertGreaterThan(Set(sizes).count, 1, "mixed sizes")

        let refused = try runDicekit(["train", "--data", "\(dir)/kvasir", "--epochs", "1", "--out", "\(dir)/no"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("--image-size"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)

        let train = try runDicekit([
            "train", "--data", "\(dir)/kvasir", "--image-size", "32,48", "--resize", "fit", "--depth", "2",
            "--base", "4", "--epochs", "1", "--batch-size", "4", "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("[32, 48]"), train.stderr)
        XCTAssertTrue(train.stdout.contains("\"class_names\": [\"background\",\"polyp\"]"), train.stdout)
        let summary = try String(contentsOfFile: "\(dir)/run/summary.json", encoding: .utf8)
        XCTAssertTrue(summary.contains("class_names"), summary)

        let eval = try runDicekit([
            "eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/kvasir",
            "--image-size", "32,48", "--resize", "fit",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stderr.contains("polyp"), eval.stderr)
        XCTAssertTrue(eval.stdout.contains("\"class_names\": [\"background\", \"polyp\"]"), eval.stdout)
        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/last.safetensors", "--input", "\(dir)/kvasir",
            "--image-size", "32,48", "--resize", "fit", "--out", "\(dir)/overlays",
        ])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        // eval scores each picture on its own grid, as predict does: its Dice is the mean of predict's.
        let polyp = { (line: Substring) -> Double? in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let dice = object["dice"] as? [Any], let value = dice[1] as? Double
            else { return nil }
            return value
        }
        let perImage = try predict.stdout.split(separator: "\n").compactMap(polyp)
        XCTAssertGreaterThan(perImage.count, 5) // a picture without a polyp has none (null)
        let evaluated = try XCTUnwrap(try polyp(Substring(eval.stdout.split(separator: "\n").last!)))
        XCTAssertEqual(evaluated, perImage.reduce(0, +) / Double(perImage.count), accuracy: 1e-6)
        // The network sees 32 × 48; the overlay and the mask are on the picture's own grid.
        let picture = try JPEG.read(contentsOf: "\(dir)/kvasir/images/0000.jpg")
        XCTAssertEqual(try PNG.read(contentsOf: "\(dir)/overlays/0000.png").width, 3 * picture.width + 8)
        let mask = try PNG.read(contentsOf: "\(dir)/overlays/0000_mask.png")
        XCTAssertEqual([mask.width, mask.height], [picture.width, picture.height])

        // Read at their own size, the pictures get a notice naming the size the network was trained at.
        let unsized = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/last.safetensors", "--input", "\(dir)/kvasir", "--masks",
            "\(dir)/own",
        ])
        XCTAssertEqual(unsized.status, 0, unsized.stderr)
        XCTAssertTrue(
            unsized.stderr.contains("predict: the checkpoint was trained on pictures resized to 32 × 48"),
            unsized.stderr)
        XCTAssertFalse(predict.stderr.contains("trained on pictures") || eval.stderr.contains("trained on pictures"))
        // eval takes the folder as it is: each picture whole, at its own size.
        let native = try runDicekit(["eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/kvasir"])
        XCTAssertEqual(native.status, 0, native.stderr)
        XCTAssertTrue(
            native.stderr.contains("eval: the checkpoint was trained on pictures resized to 32 × 48"), native.stderr)
        XCTAssertTrue(native.stdout.contains("\"images\": 10"), native.stdout)

        // On patches each picture is a case of its own size: no image size; eval slides the patch.
        let patches = try runDicekit([
            "train", "--data", "\(dir)/kvasir", "--patch-size", "16,16", "--depth", "2", "--base", "4",
            "--epochs", "1", "--batch-size", "4", "--out", "\(dir)/patches",
        ])
        XCTAssertEqual(patches.status, 0, patches.stderr)
        let whole = try runDicekit([
            "eval", "--checkpoint", "\(dir)/patches/last.safetensors", "--data", "\(dir)/kvasir",
        ])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertTrue(whole.stderr.contains("eval: --tile 16,16 as the checkpoint was trained"), whole.stderr)
        XCTAssertTrue(whole.stdout.contains("\"images\": 10"), whole.stdout)

        // A separate validation set: the same folder, so every image is validated.
        let withValidation = try runDicekit([
            "train", "--data", "\(dir)/kvasir", "--val-data", "\(dir)/kvasir", "--image-size", "32",
            "--depth", "2", "--base", "4", "--epochs", "1", "--batch-size", "4", "--out", "\(dir)/val",
        ])
        XCTAssertEqual(withValidation.status, 0, withValidation.stderr)
        XCTAssertTrue(
            withValidation.stderr.contains("on 10 images of [32, 32], validating on 10"), withValidation.stderr)
    }

    func testDataOptionErrorsComeFirst() throws {
        let dir = try temporaryDirectory(self).path
        XCTAssertEqual(
            try runDicekit([
                "synth", "--out", "\(dir)/png", "--format", "png", "--count", "2", "--size", "16", "--classes", "3",
            ]).status, 0)
        XCTAssertEqual(try runDicekit(["synth", "--out", "\(dir)/npy", "--count", "2", "--size", "16"]).status, 0)
        for file in ["images.npy", "masks.npy"] { try FileManager.default.removeItem(atPath: "\(dir)/png/\(file)") }
        let usage: [([String], String)] = [
            (["train", "--data", "\(dir)/png", "--resize", "fit"], "--resize needs --image-size"),
            (["train", "--resize", "fit"], "--resize applies to data read from files"),
            (["train", "--data", "\(dir)/png", "--image-size", "0,3"], "--image-size"),
            (["train", "--data", "\(dir)/png", "--image-size", "32", "--resize", "squash"], "stretch|fit|crop"),
            (["train", "--data", "\(dir)/npy", "--image-size", "32"], ".npy data set"),
            (["train", "--data", "\(dir)/npy", "--mask-encoding", "palette"], "palette"),
            (["train", "--mask-encoding", "index"], "--mask-encoding applies"),
            (["train", "--data", "\(dir)/png", "--mask-encoding", "rgb"], "binary|index|palette"),
            (
                ["train", "--data", "\(dir)/png", "--val-data", "\(dir)/png", "--val-fraction", "0.1"],
                "exclude each other"
            ),
            (["train", "--data", "\(dir)/png", "--classes", "2"], "disagrees with the 3 names"),
            (["train", "--data", "synthetic3d", "--classes", "3"], "--classes 3"),
            (["train", "--data", "\(dir)/png", "--count", "3"], "--count applies"),
            (["synth", "--out", "\(dir)/x", "--format", "jpeg", "--classes", "3"], "--format png"),
            (["synth", "--out", "\(dir)/x", "--mixed-sizes"], "--format png or jpeg"),
            (["eval", "--checkpoint", "x", "--data", "synthetic", "--val-data", "\(dir)/png"], "unknown option"),
        ]
        for (arguments, text) in usage {
            let result = try runDicekit(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
        // Class-index PNG masks read as binary: one line naming the fix (issue 14's silent failure).
        let indices = try runDicekit(["train", "--data", "\(dir)/png", "--epochs", "1", "--out", "\(dir)/r"])
        XCTAssertEqual(indices.status, 1)
        XCTAssertTrue(indices.stderr.contains("--mask-encoding index"), indices.stderr)
        XCTAssertEqual(indices.stderr.split(separator: "\n").count, 1, indices.stderr)
        // A corrupt JPEG in a folder: one line naming the file, exit 1.
        XCTAssertEqual(
            try runDicekit(["synth", "--out", "\(dir)/jpeg", "--format", "jpeg", "--count", "2", "--size", "16"])
                .status, 0)
        let file = "\(dir)/jpeg/images/0001.jpg"
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: file))
        let corrupt = try runDicekit(["train", "--data", "\(dir)/jpeg", "--epochs", "1", "--out", "\(dir)/c"])
        XCTAssertEqual(corrupt.status, 1)
        XCTAssertTrue(corrupt.stderr.contains("0001.jpg: truncated JPEG file"), corrupt.stderr)
        XCTAssertEqual(corrupt.stderr.split(separator: "\n").count, 1, corrupt.stderr)
        let missing = try runDicekit(["train", "--data", "\(dir)/npy", "--val-data", "\(dir)/none"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("--val-data"), missing.stderr)
    }
}
