// Region-based training through the tool: `train --regions` learns overlapping regions of the
// three-class polyps (polyp ∪ instrument, instrument), records them in the checkpoint, and
// `eval` and `predict` score each region alike; lesions and post-processing follow the regions;
// an nnU-Net dataset.json with regions sets them, in the file's order; and the misuses are
// refused with one line.

import Foundation
import XCTest

@testable import DiceKit

final class CLIRegionTests: XCTestCase {
    func testTrainRegionsThenEvaluateAndPredictScoreEachRegionAlike() throws {
        let dir = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--out", "\(dir)/data", "--count", "40", "--size", "32", "--classes", "3", "--png",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let train = try runDicekit([
            "train", "--data", "\(dir)/data", "--mask-encoding", "index", "--regions", "1,2;2", "--loss", "dice-ce",
            "--batch-dice", "--epochs", "6", "--batch-size", "8", "--base", "8", "--depth", "2", "--lr", "0.01",
            "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("2 regions"), train.stderr)
        let model = try UNet<Float>.load(contentsOf: "\(dir)/run/best.safetensors")
        XCTAssertEqual(model.configuration.classes, 2)
        XCTAssertEqual(model.configuration.regions, try LabelRegions(parsing: "1,2;2"))
        let summary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any], train.stdout)
        let best = try XCTUnwrap(summary["best_val_dice"] as? [Double])
        XCTAssertEqual(best.count, 3, "background, then the two regions")
        XCTAssertGreaterThan((best[1] + best[2]) / 2, 0.4, "the regions are learnt: \(best)")

        let eval = try runDicekit([
            "eval", "--checkpoint", "\(dir)/run/best.safetensors", "--data", "\(dir)/data", "--mask-encoding", "index",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stderr.contains("labels 1+2"), eval.stderr)
        let scores = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any], eval.stdout)
        let dice = try XCTUnwrap(scores["dice"] as? [Double])
        XCTAssertEqual(dice.count, 3)

        // predict's per-image Dice of each region, averaged over the images that hold it, is eval's.
        let predict = try runDicekit([
            "predict", "--checkpoint", "\(dir)/run/best.safetensors", "--input", "\(dir)/data", "--mask-encoding",
            "index", "--masks", "\(dir)/masks", "--mask-values", "index",
        ])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        let lines = predict.stdout.split(separator: "\n").map {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(lines.count, 40)
        for k in 0..<3 {
            let values = lines.compactMap { ($0?["dice"] as? [Any])?[k] as? Double }
            XCTAssertEqual(values.reduce(0, +) / Double(values.count), dice[k], accuracy: 1e-9, "scored region \(k)")
        }
        // The masks hold the labels the regions write back: 0, 1 (polyp) and 2 (instrument).
        let mask = try PNG.read(contentsOf: "\(dir)/masks/0000_mask.png")
        XCTAssertTrue(Set(mask.pixels).isSubset(of: [0, 1, 2]), "\(Set(mask.pixels))")
    }

    func testTheFocalLovaszAndMCCLossesTrainRegionsToo() throws {
        let dir = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--out", "\(dir)/data", "--count", "24", "--size", "32", "--classes", "3", "--png",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        for loss in ["focal", "dice-focal", "generalized-dice-focal", "lovasz-hinge", "mcc"] {
            let train = try runDicekit([
                "train", "--data", "\(dir)/data", "--mask-encoding", "index", "--regions", "1,2;2", "--loss", loss,
                "--epochs", "6", "--batch-size", "8", "--base", "8", "--depth", "2", "--lr", "0.01",
                "--out", "\(dir)/\(loss)",
            ])
            XCTAssertEqual(train.status, 0, "\(loss): \(train.stderr)")
            XCTAssertTrue(train.stderr.contains("2 regions"), train.stderr)
            let summary = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any], train.stdout)
            let best = try XCTUnwrap(summary["best_val_dice"] as? [Double], loss)
            XCTAssertEqual(best.count, 3, loss)
            XCTAssertGreaterThan((best[1] + best[2]) / 2, 0.3, "\(loss) learns the regions: \(best)")
        }
    }

    func testLesionsAndPostprocessingFollowTheRegions() throws {
        let dir = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--out", "\(dir)/data", "--count", "12", "--size", "32", "--classes", "3", "--png",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        // Briefly trained, so that the predictions hold stray components.
        let train = try runDicekit([
            "train", "--data", "\(dir)/data", "--mask-encoding", "index", "--regions", "1,2;2", "--epochs", "2",
            "--batch-size", "4", "--base", "4", "--depth", "2", "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let checkpoint = ["--checkpoint", "\(dir)/run/last.safetensors"]
        let data = ["--mask-encoding", "index"]
        let predict = { (name: String, extra: [String]) in
            let run = try runDicekit(
                ["predict"] + checkpoint + [
                    "--input", "\(dir)/data", "--masks", "\(dir)/\(name)", "--mask-values", "index",
                ]
                    + data + extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            return try (0..<12).map { i in
                try LabelMap(
                    shape: [1, 32, 32],
                    labels: try PNG.read(contentsOf: "\(dir)/\(name)/\(String(format: "%04d", i))_mask.png").pixels.map(
                        Int.init))
            }
        }
        let targets = try (0..<12).map { i in
            try LabelMap(
                shape: [1, 32, 32],
                labels: try PNG.read(contentsOf: "\(dir)/data/masks/\(String(format: "%04d", i)).png").pixels.map(
                    Int.init))
        }
        let raw = try predict("raw", [])
        let regions = try LabelRegions(parsing: "1,2;2")

        // Lesions are the components of each region's mask.
        let eval = try runDicekit(
            ["eval"] + checkpoint + ["--data", "\(dir)/data"] + data + [
                "--metrics", "dice,pq,lesion-sensitivity", "--choose-postprocessing", "\(dir)/pp.json",
            ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let scores = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any], eval.stdout)
        let lesions = try XCTUnwrap(scores["lesions"] as? [String: [Int]], eval.stdout)
        var expected = [InstanceMatchCounts](repeating: InstanceMatchCounts(), count: 2)
        for (p, t) in zip(raw, targets) {
            let counts = try PanopticQualityMetric().counts(predicted: regions.masks(p), target: regions.masks(t))
            for (r, count) in counts.enumerated() { expected[r] = expected[r] + count }
        }
        XCTAssertEqual(lesions["tp"], [0] + expected.map(\.truePositives))
        XCTAssertEqual(lesions["fp"], [0] + expected.map(\.falsePositives))
        XCTAssertEqual(lesions["fn"], [0] + expected.map(\.falseNegatives))
        XCTAssertGreaterThan(expected.map(\.falsePositives).reduce(0, +), 0, "stray components to filter")

        // The choice is made by regions, and the plan predict applies is the library's on the raw masks.
        let choice = try PostprocessingPlan.choose(
            predicted: raw, targets: targets, classes: 2, regions: regions)
        XCTAssertEqual(choice.trials.map(\.column), [nil, 1, 2])
        let file = try String(contentsOfFile: "\(dir)/pp.json", encoding: .utf8)
        XCTAssertTrue(file.contains("\"regions\"") && file.contains("\"1,2;2\""), file)
        XCTAssertEqual(try PostprocessingPlan(contentsOf: "\(dir)/pp.json", classes: 3, regions: regions), choice.plan)
        let chosen = try predict("chosen", ["--postprocess", "\(dir)/pp.json"])
        XCTAssertEqual(chosen, try raw.map { try choice.plan.apply(to: $0) })

        // --keep-largest filters each region's labels together.
        let largest = try predict("largest", ["--keep-largest", "1"])
        let plan = try PostprocessingPlan(regions: regions, keepLargest: 1)
        XCTAssertEqual(largest, try raw.map { try plan.apply(to: $0) })
        for map in largest {
            for region in regions.regions {
                let mask = map.storage.map { region.contains($0) }
                XCTAssertLessThanOrEqual(try ConnectedComponents(mask: mask, shape: [32, 32]).sizes.count, 1)
            }
        }
        let classes = try runDicekit(
            ["predict"] + checkpoint + [
                "--input", "\(dir)/data", "--masks", "\(dir)/refused", "--keep-largest", "1", "--postprocess-classes",
                "1",
            ])
        XCTAssertEqual(classes.status, 2, classes.stderr)
        XCTAssertTrue(
            classes.stderr.contains(
                "--postprocess-classes with regions 1,2;2: each region's labels are filtered together"),
            classes.stderr)
    }

    func testAnNNUNetDatasetJSONWithRegionsSetsThemInTheFilesOrder() throws {
        let dir = try temporaryDirectory(self).path
        let path = "\(dir)/dataset.json"
        try """
        {"channel_names": {"0": "T1"}, "labels": {"background": 0, "whole tumor": [1, 2, 3],
         "tumor core": [2, 3], "enhancing tumor": 3}, "regions_class_order": [1, 2, 3],
         "numTraining": 0, "file_ending": ".nii.gz"}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let regions = try XCTUnwrap(try LabelRegions.readDatasetJSON(contentsOf: path))
        XCTAssertEqual(regions.regions, [[1, 2, 3], [2, 3], [3]])
        XCTAssertEqual(regions.order, [1, 2, 3])
        XCTAssertEqual(regions.names, ["whole tumor", "tumor core", "enhancing tumor"])
        XCTAssertNil(try ClassNames.readDatasetJSON(contentsOf: path))
        try """
        {"labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3]}}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try LabelRegions.readDatasetJSON(contentsOf: path)) {
            XCTAssertEqual(
                "\($0)",
                "\(path): labels hold regions (lists of labels) but there is no \"regions_class_order\"; expected one label per region, as nnU-Net needs"
            )
        }
        try """
        {"labels": {"background": 0, "tumor": [1, 2], "ignore": 3}, "regions_class_order": [1]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try LabelRegions.readDatasetJSON(contentsOf: path)) {
            XCTAssertEqual("\($0)", "\(path): an \"ignore\" label 3; give it as the ignore index (--ignore-index 3)")
        }
        try """
        {"labels": {"background": 0, "liver": 1}}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertNil(try LabelRegions.readDatasetJSON(contentsOf: path))

        // Through the tool: the NIfTI blobs relabelled as one region of label 1.
        let synth = try runDicekit([
            "synth", "--format", "nifti", "--out", "\(dir)/blobs", "--count", "4", "--size", "16",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        try """
        {"channel_names": {"0": "MR"}, "labels": {"background": 0, "blob": [1]}, "regions_class_order": [1],
         "numTraining": 4, "file_ending": ".nii.gz"}
        """.write(toFile: "\(dir)/blobs/dataset.json", atomically: true, encoding: .utf8)
        let train = try runDicekit([
            "train", "--data", "\(dir)/blobs", "--depth", "2", "--base", "4", "--epochs", "1", "--batch-size", "2",
            "--loss", "dice", "--out", "\(dir)/run",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let model = try UNet<Float>.load(contentsOf: "\(dir)/run/last.safetensors")
        XCTAssertEqual(model.configuration.regions?.names, ["blob"])
        let clash = try runDicekit([
            "train", "--data", "\(dir)/blobs", "--regions", "1;1", "--region-order", "1,1", "--epochs", "1",
            "--out", "\(dir)/clash",
        ])
        XCTAssertEqual(clash.status, 2, clash.stderr)
        XCTAssertTrue(clash.stderr.contains("disagrees with the dataset.json's regions 1 (order 1)"), clash.stderr)
    }

    func testEvalScoresAClassCheckpointByRegions() throws {
        let dir = try temporaryDirectory(self).path
        let data = ["--data", "synthetic", "--count", "12", "--size", "32"]
        let train = try runDicekit(
            ["train"] + data + [
                "--classes", "3", "--epochs", "1", "--base", "4", "--depth", "2", "--out", "\(dir)/run",
            ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let checkpoint = ["eval", "--checkpoint", "\(dir)/run/last.safetensors"] + data
        let byClass = try runDicekit(checkpoint)
        let byRegion = try runDicekit(checkpoint + ["--regions", "1,2;2"])
        XCTAssertEqual(byRegion.status, 0, byRegion.stderr)
        XCTAssertTrue(
            byRegion.stdout.contains(#""class_names": ["background", "labels 1+2", "labels 2"]"#), byRegion.stdout)
        // The background and region "2" are the classes 0 and 2; region "1+2" is their union.
        let json = { (text: String) in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        let classDice = try XCTUnwrap(try json(byClass.stdout)["dice"] as? [Double])
        let regionDice = try XCTUnwrap(try json(byRegion.stdout)["dice"] as? [Double])
        XCTAssertEqual(regionDice[0], classDice[0], accuracy: 1e-12)
        XCTAssertEqual(regionDice[2], classDice[2], accuracy: 1e-12)
        let short = try runDicekit(checkpoint + ["--regions", "1"])
        XCTAssertEqual(short.status, 2, short.stderr)
        XCTAssertTrue(
            short.stderr.contains("--regions 1 cover labels up to 1; the checkpoint predicts labels up to 2"),
            short.stderr)
    }

    func testMisusesAreRefusedWithOneLine() throws {
        let dir = try temporaryDirectory(self).path
        let base = [
            "train", "--data", "synthetic", "--classes", "3", "--count", "16", "--size", "32", "--epochs", "1", "--out",
            "\(dir)/run",
        ]
        // Deep supervision downsamples the label maps; every head predicts the regions.
        let supervised = try runDicekit(
            base + ["--regions", "1,2;2", "--deep-supervision", "same", "--base", "4", "--depth", "3"])
        XCTAssertEqual(supervised.status, 0, supervised.stderr)
        let heads = try TrainingCheckpoint.read(contentsOf: "\(dir)/run/last.safetensors").model.tensors
            .filter { $0.key.hasPrefix("deep_supervision.") && $0.key.hasSuffix(".weight") }
        XCTAssertEqual(heads.count, 2)
        XCTAssertTrue(heads.values.allSatisfy { $0.shape.first == 2 }, "\(heads.mapValues(\.shape))")
        for (extra, expected) in [
            (
                ["--regions", "1,2;2", "--loss", "lovasz-softmax"],
                "regions with loss lovasz-softmax (it has no form that reads each region on its own); expected loss dice, dice-ce, jaccard"
            ),
            (["--regions", "1,2;2", "--exclude-background"], "--exclude-background with regions"),
            (["--regions", "1,2;2", "--class-weights", "auto"], "--class-weights auto balances classes, not regions"),
            (["--region-order", "1,2"], "--region-order 1,2 needs --regions"),
            (["--regions", "1,2;1,2"], "--regions: value error: region 1 (labels 1,2) lies inside later regions"),
            (["--regions", "1"], "data has labels up to 2; the model's regions 1 cover labels up to 1"),
        ] {
            let run = try runDicekit(base + extra)
            XCTAssertNotEqual(run.status, 0, "\(extra)")
            XCTAssertTrue(run.stderr.contains(expected), "\(extra): \(run.stderr)")
            XCTAssertEqual(run.stderr.split(separator: "\n").filter { $0.hasPrefix("dicekit") }.count, 1, run.stderr)
        }
    }
}
