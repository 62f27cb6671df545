// Cross-validation and ensembles through the built tool: `train --folds K --fold I` holds out
// fold I, `eval --folds K --fold I` scores exactly that fold (its Dice equals the run's own
// validation Dice), and `eval`/`predict` with several checkpoints (or a folder of fold runs)
// predict as an ensemble whose probabilities are the mean of each checkpoint's own (or whose
// logits are the mean of theirs); `eval --fold all` pools each fold scored by its own checkpoint
// and chooses a post-processing on those predictions, which `--postprocess FILE` applies; every
// misuse is a one-line error.

import XCTest

@testable import DiceKit

final class CLICrossValidationTests: XCTestCase {
    private let small = [
        "--data", "synthetic", "--count", "12", "--size", "32", "--base", "2", "--depth", "2", "--epochs", "1",
        "--batch-size", "4", "--threads", "1", "--seed", "3",
    ]

    /// Trains folds 0 and 1 of 2 into ROOT/cv/fold_0 and fold_1.
    private func trainFolds(_ root: String) throws {
        for fold in 0..<2 {
            let run = try runDicekit(
                ["train"] + small + ["--folds", "2", "--fold", "\(fold)", "--out", "\(root)/cv/fold_\(fold)"])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stderr.contains("on 6 images of [32, 32], validating on 6"), run.stderr)
        }
    }

    private func json(_ result: ToolResult) throws -> [String: Any] {
        XCTAssertEqual(result.status, 0, result.stderr)
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").last)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func testEvalOfAFoldReproducesTheRunsValidationAndEnsemblesAverage() throws {
        let root = try temporaryDirectory(self).path
        try trainFolds(root)
        for fold in 0..<2 {
            let summary = try json(
                ToolResult(
                    status: 0, killedBySignal: false,
                    stdout: String(contentsOfFile: "\(root)/cv/fold_\(fold)/summary.json", encoding: .utf8)
                        .replacingOccurrences(
                            of: "\n", with: ""), stderr: ""))
            let scored = try json(
                try runDicekit(
                    [
                        "eval", "--checkpoint", "\(root)/cv/fold_\(fold)", "--data", "synthetic", "--count", "12",
                        "--size", "32", "--seed", "3", "--folds", "2", "--fold", "\(fold)",
                    ]))
            XCTAssertEqual(scored["images"] as? Int, 6)
            XCTAssertEqual(
                scored["dice_foreground"] as? Double, summary["val_dice_foreground"] as? Double, "fold \(fold)")
        }

        // The folder stands for both folds; the ensemble's Dice is that of the mean probabilities.
        let ensemble = try json(
            try runDicekit([
                "eval", "--checkpoint", "\(root)/cv", "--data", "synthetic", "--size", "32", "--count", "5",
            ]))
        let models = try (0..<2).map { try UNet<Float>.load(contentsOf: "\(root)/cv/fold_\($0)/best.safetensors") }
        let data = try SegmentationDataset.syntheticPolyps(
            count: 5, seed: 2000, configuration: SyntheticPolypConfiguration(size: 32, classes: 2))
        let p = try models.map { try Predictor.probabilities(try Predictor.logits($0, images: data.images)) }
        let mean = try Tensor<Float>(shape: p[0].shape, scalars: zip(p[0].scalars, p[1].scalars).map { ($0 + $1) / 2 })
        let polyp = try presentDice(
            predicted: try Predictor.argmax(mean),
            target: try LabelMap(shape: data.labelShape, int32Labels: data.labels), classes: 2)[1]
        XCTAssertEqual(
            try XCTUnwrap(ensemble["dice_foreground"] as? Double), polyp.reduce(0, +) / Double(polyp.count),
            accuracy: 1e-12)
    }

    func testFoldAllPoolsEveryFoldScoredByItsOwnCheckpoint() throws {
        let root = try temporaryDirectory(self).path
        try trainFolds(root)
        let data = ["--data", "synthetic", "--count", "12", "--size", "32", "--seed", "3", "--folds", "2"]
        let pp = "\(root)/postprocessing.json"
        let all = try json(
            try runDicekit(
                ["eval", "--checkpoint", "\(root)/cv", "--fold", "all", "--choose-postprocessing", pp] + data))
        XCTAssertEqual(all["images"] as? Int, 12)
        let folds = try XCTUnwrap(all["folds"] as? [[String: Any]])
        XCTAssertEqual(folds.map { $0["fold"] as? Int }, [0, 1])

        // By hand: each fold's images (train's split), its own checkpoint's labels, MONAI's
        // per-image Dice pooled over both folds.
        let synthetic = try SegmentationDataset.syntheticPolyps(
            count: 12, seed: 1003, configuration: SyntheticPolypConfiguration(size: 32, classes: 2))
        var pooled: [Double] = []
        var observed: (predicted: [LabelMap], targets: [LabelMap]) = ([], [])
        for fold in 0..<2 {
            let single = try json(
                try runDicekit(["eval", "--checkpoint", "\(root)/cv/fold_\(fold)", "--fold", "\(fold)"] + data))
            XCTAssertEqual(folds[fold]["dice_foreground"] as? Double, single["dice_foreground"] as? Double)
            XCTAssertEqual(folds[fold]["images"] as? Int, 6)
            let held = try CrossValidationFold(folds: 2, fold: fold).split(synthetic, seed: 3).validation
            let images = try held.samples(Array(0..<held.count))
            let model = try UNet<Float>.load(contentsOf: "\(root)/cv/fold_\(fold)/best.safetensors")
            let predicted = try Predictor.argmax(try Predictor.logits(model, images: images.images))
            let target = try LabelMap(shape: images.labelShape, int32Labels: images.labels)
            pooled += try presentDice(predicted: predicted, target: target, classes: 2)[1]
            observed.predicted.append(predicted)
            observed.targets.append(target)
        }
        XCTAssertEqual(
            try XCTUnwrap(all["dice_foreground"] as? Double), pooled.reduce(0, +) / Double(pooled.count),
            accuracy: 1e-12)

        // The post-processing file is the library's choice on the same predictions, and applies.
        let selection = try PostprocessingPlan.choose(
            predicted: observed.predicted, targets: observed.targets, classes: 2)
        XCTAssertEqual(try PostprocessingPlan(contentsOf: pp, classes: 2, spatialRank: 2), selection.plan)
        let choice = try XCTUnwrap(all["postprocessing"] as? [String: Any])
        XCTAssertEqual(
            try XCTUnwrap(choice["dice_foreground_before"] as? Double),
            PostprocessingSelection.foregroundMean(selection.baseline), accuracy: 1e-12)
        // With the minimum-size search, the library's choice with it.
        let searched = "\(root)/searched.json"
        let run = try runDicekit(
            [
                "eval", "--checkpoint", "\(root)/cv", "--fold", "all", "--choose-postprocessing", searched,
                "--search-min-size",
            ]
                + data)
        XCTAssertEqual(run.status, 0, run.stderr)
        let withSizes = try PostprocessingPlan.choose(
            predicted: observed.predicted, targets: observed.targets, classes: 2, minimumSizeSearch: true)
        XCTAssertEqual(try PostprocessingPlan(contentsOf: searched, classes: 2, spatialRank: 2), withSizes.plan)
        XCTAssertGreaterThan(withSizes.trials.count, selection.trials.count)
        XCTAssertTrue(
            run.stderr.contains("post-processing: keep the components of class 1 of 2+ positions"), run.stderr)
        let applied = try json(
            try runDicekit(["eval", "--checkpoint", "\(root)/cv", "--fold", "all", "--postprocess", pp] + data))
        XCTAssertEqual(applied["images"] as? Int, 12)
        // A plan that keeps one foreground component: eval's Dice is that of the filtered labels.
        try #"{"classes": 2, "spatial_rank": 2, "steps": [{"keep_largest": 1, "merge_classes": true}]}"#.write(
            toFile: "\(root)/keep.json", atomically: true, encoding: .utf8)
        let kept = try json(
            try runDicekit(
                ["eval", "--checkpoint", "\(root)/cv", "--fold", "all", "--postprocess", "\(root)/keep.json"] + data))
        let filter = try ComponentFilter(keepLargest: 1, mergeClasses: true)
        var filtered: [Double] = []
        for (predicted, target) in zip(observed.predicted, observed.targets) {
            filtered += try presentDice(predicted: try filter.apply(to: predicted), target: target, classes: 2)[1]
        }
        XCTAssertEqual(
            try XCTUnwrap(kept["dice_foreground"] as? Double), filtered.reduce(0, +) / Double(filtered.count),
            accuracy: 1e-12)
    }

    func testTheLogitsEnsembleWritesTheWeightedMeanLogits() throws {
        let root = try temporaryDirectory(self).path
        try trainFolds(root)
        let synth = try runDicekit([
            "synth", "--out", "\(root)/images", "--count", "2", "--size", "32", "--format", "png",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let (a, b) = ("\(root)/cv/fold_0/best.safetensors", "\(root)/cv/fold_1/best.safetensors")
        var own: [[Float]] = []
        for (i, checkpoint) in [a, b].enumerated() {
            let run = try runDicekit([
                "predict", "--checkpoint", checkpoint, "--input", "\(root)/images", "--logits", "\(root)/l\(i).npy",
            ])
            XCTAssertEqual(run.status, 0, run.stderr)
            own.append(try NPY.read(contentsOf: "\(root)/l\(i).npy").tensor(of: Float.self).scalars)
        }
        let run = try runDicekit([
            "predict", "--checkpoint", "\(a),\(b)", "--ensemble", "logits", "--ensemble-weights", "3,1", "--input",
            "\(root)/images", "--logits", "\(root)/both.npy", "--masks", "\(root)/masks",
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("ensemble of 2 checkpoints (mean of logits)"), run.stderr)
        let values = try NPY.read(contentsOf: "\(root)/both.npy").tensor(of: Float.self).scalars
        for i in values.indices { XCTAssertEqual(values[i], 0.75 * own[0][i] + 0.25 * own[1][i], accuracy: 1e-5) }
        let mask = try PNG.read(contentsOf: "\(root)/masks/0000_mask.png")
        for p in 0..<(32 * 32) { XCTAssertEqual(Int(mask.pixels[p]), values[2 * p + 1] > values[2 * p] ? 1 : 0) }
    }

    func testPredictWithSeveralCheckpointsWritesTheWeightedMeanProbabilities() throws {
        let root = try temporaryDirectory(self).path
        try trainFolds(root)
        let synth = try runDicekit([
            "synth", "--out", "\(root)/images", "--count", "3", "--size", "36", "--format", "png",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let (a, b) = ("\(root)/cv/fold_0/best.safetensors", "\(root)/cv/fold_1/best.safetensors")
        var own: [[Float]] = []
        for (i, checkpoint) in [a, b].enumerated() {
            let run = try runDicekit([
                "predict", "--checkpoint", checkpoint, "--input", "\(root)/images", "--probabilities",
                "\(root)/p\(i).npy", "--tta", "flip",
            ])
            XCTAssertEqual(run.status, 0, run.stderr)
            own.append(try NPY.read(contentsOf: "\(root)/p\(i).npy").tensor(of: Float.self).scalars)
        }
        let run = try runDicekit([
            "predict", "--checkpoint", "\(a),\(b)", "--ensemble-weights", "1,3", "--input", "\(root)/images",
            "--probabilities", "\(root)/both.npy", "--masks", "\(root)/masks", "--tta", "flip",
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("ensemble of 2 checkpoints (mean of probabilities)"), run.stderr)
        let both = try NPY.read(contentsOf: "\(root)/both.npy")
        XCTAssertEqual(both.shape, [3, 36, 36, 2])
        let values = both.tensor(of: Float.self).scalars
        for i in values.indices { XCTAssertEqual(values[i], 0.25 * own[0][i] + 0.75 * own[1][i], accuracy: 1e-6) }
        // The mask is the class of largest mean probability.
        let mask = try PNG.read(contentsOf: "\(root)/masks/0000_mask.png")
        for p in 0..<(36 * 36) { XCTAssertEqual(Int(mask.pixels[p]), values[2 * p + 1] > values[2 * p] ? 1 : 0) }
    }

    func testMisusesAreOneLineErrors() throws {
        let root = try temporaryDirectory(self).path
        try trainFolds(root)
        let one = "\(root)/cv/fold_0/best.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: one))
        try bytes.prefix(300).write(to: URL(fileURLWithPath: "\(root)/truncated.safetensors"))
        let data = ["--data", "synthetic", "--count", "12", "--size", "32", "--seed", "3"]
        let plain = try runDicekit(["train"] + small + ["--out", "\(root)/other/plain"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        for (arguments, status, expected) in [
            (["train", "--folds", "3"], 2, "--folds 3 needs --fold I, the fold to hold out (0...2)"),
            (["train", "--fold", "1"], 2, "--fold 1 needs --folds K"),
            (["train", "--folds", "3", "--fold", "3"], 2, "--fold expects an integer in 0...2"),
            (["train", "--folds", "1", "--fold", "0"], 2, "--folds expects an integer in 2...10000"),
            (["train", "--folds", "2", "--fold", "0", "--val-fraction", "0.1"], 2, "exclude each other"),
            (
                ["train", "--count", "3", "--size", "32", "--folds", "4", "--fold", "0", "--out", "\(root)/few"], 1,
                "3 sample(s) into 4 folds"
            ),
            (
                ["predict", "--checkpoint", "\(root)/cv", "--input", root, "--logits", "\(root)/l.npy"], 2,
                "an ensemble of --ensemble mean has no logits"
            ),
            (["eval", "--checkpoint", "\(root)/cv", "--fold", "all"] + data, 2, "--fold all needs --folds K"),
            (
                ["eval", "--checkpoint", "\(root)/cv", "--folds", "2", "--fold", "all", "--ensemble", "vote"] + data, 2,
                "--ensemble with --fold all"
            ),
            (
                ["eval", "--checkpoint", "\(root)/cv/fold_0", "--folds", "2", "--fold", "all"] + data, 1,
                "no checkpoint held out fold 1 of 2"
            ),
            (
                ["eval", "--checkpoint", "\(root)/cv,\(one)", "--folds", "2", "--fold", "all"] + data, 1,
                "both held out fold 0"
            ),
            (
                ["eval", "--checkpoint", one, "--folds", "2", "--fold", "1"] + data, 1,
                "held out fold 0, not fold 1: it trained on the images of fold 1"
            ),
            (["eval", "--checkpoint", one, "--folds", "3", "--fold", "0"] + data, 2, "give --folds 2"),
            (
                [
                    "eval", "--checkpoint", one, "--folds", "2", "--fold", "0", "--data", "synthetic", "--count", "12",
                    "--size", "32", "--seed", "4",
                ], 2,
                "--seed 4: \(one) was trained with --seed 3, and another value cuts other folds; give --seed 3"
            ),
            (
                [
                    "eval", "--checkpoint", one, "--folds", "2", "--fold", "0", "--data", "synthetic", "--size", "32",
                    "--seed", "3",
                ], 2,
                "--count 400: \(one) was trained with --count 12"
            ),
            (
                ["eval", "--checkpoint", "\(root)/other/plain", "--folds", "2", "--fold", "0"] + data, 1,
                "was trained without --folds (it validated on --val-fraction 0.2)"
            ),
            (
                ["eval", "--checkpoint", one, "--choose-postprocessing", "\(root)/p.json", "--keep-largest", "1"]
                    + data, 2, "the choice is made on the predictions before post-processing"
            ),
            (
                ["eval", "--checkpoint", one, "--search-min-size"] + data, 2,
                "--search-min-size applies to --choose-postprocessing FILE"
            ),
            (
                ["eval", "--checkpoint", one, "--postprocess", "\(root)/p.json", "--min-size", "3"] + data, 2,
                "the file holds the whole post-processing"
            ),
            (
                ["eval", "--checkpoint", one, "--postprocess", "\(root)/none.json"] + data, 1,
                "cannot read the post-processing file"
            ),
            (
                ["eval", "--checkpoint", one, "--ensemble", "vote", "--data", "synthetic"], 2,
                "combine several checkpoints"
            ),
            (
                ["eval", "--checkpoint", "\(root)/cv", "--ensemble-weights", "1,2,3", "--data", "synthetic"], 2,
                "3 value(s) for 2 checkpoint(s)"
            ),
            (
                ["eval", "--checkpoint", "\(root)/cv", "--ensemble-weights", "0,0", "--data", "synthetic"], 2,
                "positive sum"
            ),
            (["eval", "--checkpoint", "\(one),", "--data", "synthetic"], 2, "has an empty item"),
            (["eval", "--checkpoint", root, "--data", "synthetic"], 1, "folder without best.safetensors"),
            (["eval", "--checkpoint", "\(root)/none", "--data", "synthetic"], 1, "no such checkpoint file or folder"),
            (
                ["eval", "--checkpoint", "\(one),\(root)/truncated.safetensors", "--data", "synthetic"], 1,
                "\(root)/truncated.safetensors: bad safetensors header"
            ),
        ] {
            let result = try runDicekit(arguments)
            XCTAssertEqual(result.status, Int32(status), "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            XCTAssertLessThanOrEqual(
                result.stderr.split(separator: "\n").filter { !$0.hasPrefix("run 'dicekit") }.count, 1,
                result.stderr)
        }

        // A fold is fixed for a run: resuming with another one is refused, the same one continues.
        let last = "\(root)/cv/fold_0/last.safetensors"
        let other = try runDicekit(["train", "--fold", "1", "--folds", "2", "--epochs", "2", "--resume", last])
        XCTAssertEqual(other.status, 2, other.stderr)
        XCTAssertTrue(other.stderr.contains("--fold 1 differs") && other.stderr.contains("(0,"), other.stderr)
        let same = try runDicekit(["train", "--epochs", "2", "--threads", "1", "--resume", last])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(same.stderr.contains("on 6 images of [32, 32], validating on 6"), same.stderr)
    }
}
