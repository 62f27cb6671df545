// `eval --folds K --fold I|all`: which checkpoint scores which images. A checkpoint of
// `train --folds K --fold I` records its fold, seed and data (in best.safetensors, or in the
// last.safetensors beside it), so eval checks that it scores each one on the fold it never
// trained on, cut as train cut it; `--fold all` scores every fold's checkpoint on its own fold
// and pools the images (nnU-Net's cross-validation summary).

import DiceKit
import Foundation

extension EvalCommand {
    /// One evaluation pass: a network (or ensemble) and the images it scores.
    struct Pass {
        /// The fold scored (with `--folds`), and the checkpoint that held it out (`--fold all`).
        let fold: Int?, checkpoint: String?
        let model: UNet<Float>
        let ensemble: Ensemble?
        let dataset: EvalData
    }

    /// What a pass scores: samples of one size, in batches, or whole cases of any size, one at a
    /// time through a sliding window (a network trained on patches).
    enum EvalData {
        case samples(any SegmentationSource)
        case cases(any CaseSource)

        /// The number of images (cases).
        var count: Int {
            switch self {
            case .samples(let source): return source.count
            case .cases(let cases): return cases.count
            }
        }
    }

    /// The passes of an evaluation: the whole set, fold I for every checkpoint, or each fold
    /// with its own checkpoint.
    ///
    /// - Parameters:
    ///   - open: opens the data set for the checkpoints' class count.
    ///   - split: the options that decide the folds, canonical as train records them (data,
    ///     seed, and count and size for synthetic data).
    /// - Throws: `UsageError` when an option differs from a checkpoint's record or `--fold all`
    ///   is given ensemble options; `DiceKitError` for a checkpoint that held out another fold
    ///   or, with `--fold all`, records no fold.
    static func passes(
        _ folds: FoldOption.Evaluation?, arguments: ParsedArguments, paths: [String], precision: ComputePrecision,
        open: (_ classes: Int) throws -> EvalData, seed: UInt64, split: [String: String]
    ) throws -> [Pass] {
        switch folds {
        case nil:
            let (model, ensemble) = try CheckpointOption.load(arguments, paths: paths, precision: precision)
            let dataset = try open(model.configuration.labelClasses)
            return [Pass(fold: nil, checkpoint: nil, model: model, ensemble: ensemble, dataset: dataset)]
        case .one(let fold):
            for path in paths { _ = try checkedFold(of: path, folds: fold.folds, expected: fold.fold, split: split) }
            let (model, ensemble) = try CheckpointOption.load(arguments, paths: paths, precision: precision)
            let dataset = try open(model.configuration.labelClasses)
            return [
                Pass(
                    fold: fold.fold, checkpoint: nil, model: model, ensemble: ensemble,
                    dataset: try heldOut(fold, of: dataset, seed: seed))
            ]
        case .all(let k):
            if let option = ["ensemble", "ensemble-weights"].first(where: { arguments.string($0) != nil }) {
                throw UsageError(
                    message: "--\(option) with --fold all: each fold is scored by its own checkpoint, not an ensemble")
            }
            var byFold: [Int: String] = [:]
            for path in paths {
                let fold = try checkedFold(of: path, folds: k, expected: nil, split: split)
                if let other = byFold[fold] {
                    throw DiceKitError.value(
                        "\(other) and \(path) both held out fold \(fold); expected one checkpoint per fold")
                }
                byFold[fold] = path
            }
            if let missing = (0..<k).first(where: { byFold[$0] == nil }) {
                throw DiceKitError.value(
                    "--fold all: no checkpoint held out fold \(missing) of \(k) (found folds \(byFold.keys.sorted().map(String.init).joined(separator: ","))); train it with --folds \(k) --fold \(missing)"
                )
            }
            let ordered = (0..<k).map { byFold[$0]! }
            let models = try CheckpointOption.models(ordered, precision: precision)
            if let odd = models.firstIndex(where: { !$0.configuration.predictsLike(models[0].configuration) }) {
                throw DiceKitError.value(
                    "\(ordered[odd]) predicts \(models[odd].configuration.classes) classes from \(models[odd].configuration.inputChannels) channel(s); fold 0's checkpoint \(models[0].configuration.classes) from \(models[0].configuration.inputChannels)"
                )
            }
            let dataset = try open(models[0].configuration.labelClasses)
            return try (0..<k).map { i in
                Pass(
                    fold: i, checkpoint: ordered[i], model: models[i], ensemble: nil,
                    dataset: try heldOut(try CrossValidationFold(folds: k, fold: i), of: dataset, seed: seed))
            }
        }
    }

    /// The images of `fold` (the validation part of train's split).
    private static func heldOut(_ fold: CrossValidationFold, of dataset: EvalData, seed: UInt64) throws -> EvalData {
        do {
            switch dataset {
            case .samples(let source): return .samples(try fold.split(source, seed: seed).validation)
            case .cases(let cases):
                return .cases(try CaseSubset(cases, indices: fold.indices(count: cases.count, seed: seed).validation))
            }
        } catch DiceKitError.option(let message) {
            throw UsageError(message: "--folds \(fold.folds): \(message)")
        }
    }

    /// The fold `path` held out, checked against `--folds`, `expected` (`--fold I`) and the
    /// options that cut the folds. Without a record the fold cannot be known: `--fold I` goes on
    /// with a note, `--fold all` stops.
    static func checkedFold(of path: String, folds: Int, expected: Int?, split: [String: String]) throws -> Int {
        guard let record = try record(of: path) else {
            guard let expected else {
                throw DiceKitError.value(
                    "\(path) does not record the fold it held out (no option record in it or in a last.safetensors beside it); score it alone with --fold I"
                )
            }
            printError("note: \(path) records no training options; cannot check that it held out fold \(expected)")
            return expected
        }
        guard let recordedFolds = record["folds"].flatMap(Int.init), let fold = record["fold"].flatMap(Int.init) else {
            throw DiceKitError.value(
                "\(path) was trained without --folds (it validated on \(record["val-data"].map { "--val-data \($0)" } ?? "--val-fraction \(record["val-fraction"] ?? "?")")); its training images would be scored as held out"
            )
        }
        guard recordedFolds == folds else {
            throw UsageError(
                message:
                    "--folds \(folds): \(path) held out fold \(fold) of \(recordedFolds) folds; give --folds \(recordedFolds)"
            )
        }
        if let expected, fold != expected {
            throw DiceKitError.value(
                "\(path) held out fold \(fold), not fold \(expected): it trained on the images of fold \(expected)")
        }
        for key in ["data", "seed", "count", "size"] {
            guard let given = split[key], let trained = record[key], given != trained else { continue }
            throw UsageError(
                message:
                    "--\(key) \(given): \(path) was trained with --\(key) \(trained), and another value cuts other folds; give --\(key) \(trained)"
            )
        }
        return fold
    }

    /// The options recorded with a checkpoint: in its own metadata (best.safetensors of this
    /// version, last.safetensors), else in the last.safetensors beside it; nil without a record.
    /// Only the files' headers are read, with every check a whole read makes of them.
    static func record(of path: String) throws -> [String: String]? {
        if let own = TrainingCheckpoint.recordedOptions(in: try SafetensorsFile.readMetadata(contentsOf: path)) {
            return own
        }
        let beside = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "last.safetensors")
        guard (beside as NSString).standardizingPath != (path as NSString).standardizingPath,
            let metadata = try? SafetensorsFile.readMetadata(contentsOf: beside)
        else { return nil }
        return TrainingCheckpoint.recordedOptions(in: metadata)
    }
}
