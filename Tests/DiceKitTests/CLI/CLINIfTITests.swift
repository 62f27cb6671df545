// NIfTI through the tool: `synth --format nifti` writes an nnU-Net raw data set of mixed sizes,
// `train` reads it with a D,H,W image size and records the size and normalisation, `predict`
// takes them from the checkpoint and writes CASE.nii.gz on each scan's own grid with its
// geometry, scoring against labelsTs; and the misuses are refused with one line.

import Foundation
import XCTest

@testable import DiceKit

final class CLINIfTITests: XCTestCase {
    func testSynthTrainAndPredictMasksOnTheScansOwnGrid() throws {
        let dir = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--format", "nifti", "--out", "\(dir)/blobs", "--count", "6", "--size", "16", "--mixed-sizes",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        XCTAssertTrue(synth.stderr.contains("wrote 6 synthetic NIfTI volumes of 12…20 per side"), synth.stderr)
        let first = try NIfTI.read(contentsOf: "\(dir)/blobs/imagesTr/blob_000_0000.nii.gz")
        let info = try runDicekit(["info", "\(dir)/blobs/imagesTr/blob_000_0000.nii.gz"])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(
            info.stdout.contains(
                "\"format\": \"nifti\", \"shape\": [\((first.extents + [1]).map(String.init).joined(separator: ", "))]"),
            info.stdout)
        XCTAssertEqual(first.spacing, [2, 0.8, 0.8].map { Double(Float($0)) })
        XCTAssertGreaterThan(first.values.max()!, 200)

        let mixed = try runDicekit([
            "train", "--data", "\(dir)/blobs", "--depth", "2", "--epochs", "1", "--out", "\(dir)/x",
        ])
        XCTAssertEqual(mixed.status, 1)
        XCTAssertTrue(mixed.stderr.contains("--image-size D,H,W"), mixed.stderr)

        let train = try runDicekit([
            "train", "--data", "\(dir)/blobs", "--depth", "2", "--base", "4", "--epochs", "1", "--batch-size", "2",
            "--image-size", "16,16,16", "--intensity", "zscore", "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("\"blob\""), "dataset.json names the classes: \(train.stdout)")

        // A test set laid out as nnU-Net's imagesTs/labelsTs.
        let test = try runDicekit([
            "synth", "--format", "nifti", "--out", "\(dir)/test", "--count", "4", "--size", "16", "--mixed-sizes",
            "--seed", "9",
        ])
        XCTAssertEqual(test.status, 0, test.stderr)
        try FileManager.default.moveItem(atPath: "\(dir)/test/imagesTr", toPath: "\(dir)/test/imagesTs")
        try FileManager.default.moveItem(atPath: "\(dir)/test/labelsTr", toPath: "\(dir)/test/labelsTs")
        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/last.safetensors", "--input", "\(dir)/test", "--masks",
            "\(dir)/masks",
            "--probabilities", "\(dir)/prob",
        ])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        XCTAssertTrue(
            predict.stderr.contains("predict: --intensity zscore --image-size 16,16,16 as the checkpoint was trained"),
            predict.stderr)
        for name in ["blob_000", "blob_001"] {
            let image = try NIfTI.read(contentsOf: "\(dir)/test/imagesTs/\(name)_0000.nii.gz")
            let truth = try NIfTI.readLabels(contentsOf: "\(dir)/test/labelsTs/\(name).nii.gz")
            let mask = try NIfTI.readLabels(contentsOf: "\(dir)/masks/\(name).nii.gz")
            XCTAssertEqual(mask.extents, image.extents, name)
            XCTAssertEqual(mask.spacing, image.spacing, name)
            XCTAssertTrue(Set(mask.labels).isSubset(of: [0, 1]), name)
            let probabilities = try NPY.read(contentsOf: "\(dir)/prob/\(name)_prob.npy")
            XCTAssertEqual(probabilities.shape, image.extents + [2], name)
            // The mask is the argmax of the written probabilities, and its Dice is the one reported.
            let p = probabilities.tensor(of: Float.self).scalars
            let argmax = (0..<mask.labels.count).map { Int32(p[2 * $0 + 1] > p[2 * $0] ? 1 : 0) }
            XCTAssertEqual(mask.labels, argmax, name)
            let both = zip(mask.labels, truth.labels).filter { $0 == 1 && $1 == 1 }.count
            let sizes = mask.labels.filter { $0 == 1 }.count + truth.labels.filter { $0 == 1 }.count
            let dice = 2 * Double(both) / Double(sizes)
            let line = try XCTUnwrap(predict.stdout.split(separator: "\n").first { $0.contains("\"\(name)\"") })
            XCTAssertTrue(
                line.contains("\"shape\": [\(image.extents.map(String.init).joined(separator: ", "))]"), String(line))
            guard truth.labels.contains(1) else {
                // No blob in this scan: the class is absent from the truth, its Dice is undefined.
                XCTAssertTrue(line.contains("\"dice_foreground\": null"), String(line))
                continue
            }
            let reported = try XCTUnwrap(
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["dice_foreground"]
                    as? NSNumber,
                String(line))
            XCTAssertEqual(reported.doubleValue, dice, accuracy: 1e-9, name)
        }
        // eval reads the volumes resized as the checkpoint was trained and scores each on its own
        // grid, as predict does: its Dice is the mean of predict's per-case Dice, with or without
        // a window.
        let perCase = predict.stdout.split(separator: "\n").compactMap { line -> Double? in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["dice_foreground"]
                as? Double
        }
        XCTAssertFalse(perCase.isEmpty, predict.stdout)
        for window in [[], ["--tile", "16,16,16"]] {
            let eval = try runDicekit(
                ["eval", "--checkpoint", "\(dir)/run/last.safetensors", "--data", "\(dir)/test"] + window)
            XCTAssertEqual(eval.status, 0, eval.stderr)
            let scores = try XCTUnwrap(
                (try JSONSerialization.jsonObject(with: Data(eval.stdout.split(separator: "\n").last!.utf8))
                    as? [String: Any])?["dice"] as? [Double],
                eval.stdout)
            XCTAssertEqual(scores[1], perCase.reduce(0, +) / Double(perCase.count), accuracy: 1e-6, "\(window)")
        }
        // One file as the input: the same mask.
        let single = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/last.safetensors", "--input",
            "\(dir)/test/imagesTs/blob_001_0000.nii.gz", "--masks", "\(dir)/single",
        ])
        XCTAssertEqual(single.status, 0, single.stderr)
        XCTAssertEqual(
            try NIfTI.readLabels(contentsOf: "\(dir)/single/blob_001.nii.gz"),
            try NIfTI.readLabels(contentsOf: "\(dir)/masks/blob_001.nii.gz"))
    }

    func testMisusesAreRefusedWithOneLine() throws {
        let dir = try temporaryDirectory(self).path
        for (arguments, expected) in [
            (["train", "--data", "synthetic", "--intensity", "zscore"], "--intensity applies to data read from files"),
            (["train", "--data", "synthetic3d", "--intensity", "window:1,0"], "--intensity"),
            (["synth", "--format", "nifti", "--out", "\(dir)/a", "--classes", "3"], "two-class 3-D blobs"),
            (["train", "--data", "\(dir)/none", "--image-size", "1,2,3,4"], "--image-size"),
        ] {
            let result = try runDicekit(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
        // A 2-D checkpoint and NIfTI input.
        let synth = try runDicekit(["synth", "--format", "nifti", "--out", "\(dir)/v", "--count", "2", "--size", "16"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let train = try runDicekit([
            "train", "--data", "synthetic", "--count", "8", "--size", "16", "--depth", "2", "--base", "4", "--epochs",
            "1", "--out", "\(dir)/flat",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/flat/best.safetensors", "--input", "\(dir)/v", "--masks", "\(dir)/m",
        ])
        XCTAssertEqual(predict.status, 1, predict.stderr)
        XCTAssertTrue(
            predict.stderr.contains("NIfTI volumes; a 2-D network needs pictures or .npy images"), predict.stderr)
    }
}
