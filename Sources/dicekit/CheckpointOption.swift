// `--checkpoint` (eval, predict): one checkpoint, or several that predict together as an
// ensemble (`--ensemble mean|vote|logits`, `--ensemble-weights`). A folder stands for its
// best.safetensors, or, without one, for the best.safetensors of each of its subfolders (the
// fold_0 … fold_{k−1} runs of a cross-validation).

import DiceKit
import Foundation

enum CheckpointOption {
    /// The help lines of `--checkpoint`, `--ensemble` and `--ensemble-weights`.
    static let help = """
        --checkpoint C[,C…]  one checkpoint, or several predicting as an ensemble; a folder means its
                             best.safetensors, or else every SUBFOLDER/best.safetensors (the folds of a
                             cross-validation), in name order
        --ensemble mean|vote|logits   mean (default): the weighted mean of the members' probabilities;
                             vote: the class most members predict (ties to the lower index); logits: the
                             weighted mean of their logits (nnU-Net's ensemble of folds)
        --ensemble-weights W1,W2,…  one weight ≥ 0 per member (default all 1)
        """

    /// The value options this file reads.
    static let valueOptions: Set<String> = ["checkpoint", "ensemble", "ensemble-weights"]

    /// The checkpoint files `--checkpoint` names, folders expanded.
    ///
    /// - Throws: `UsageError` for an empty item, a missing path, or a folder without checkpoints.
    static func paths(_ arguments: ParsedArguments) throws -> [String] {
        let text = try arguments.required("checkpoint")
        var paths: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else {
                throw UsageError(message: "--checkpoint '\(text)' has an empty item; expected FILE or FILE,FILE,…")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory) else {
                throw DiceKitError.file(path: item, reason: "no such checkpoint file or folder")
            }
            guard isDirectory.boolValue else {
                paths.append(item)
                continue
            }
            let best = (item as NSString).appendingPathComponent("best.safetensors")
            if FileManager.default.fileExists(atPath: best) {
                paths.append(best)
                continue
            }
            let found = ((try? FileManager.default.contentsOfDirectory(atPath: item)) ?? []).sorted()
                .map {
                    ((item as NSString).appendingPathComponent($0) as NSString).appendingPathComponent(
                        "best.safetensors")
                }
                .filter { FileManager.default.fileExists(atPath: $0) }
            guard !found.isEmpty else {
                throw DiceKitError.file(
                    path: item,
                    reason:
                        "folder without best.safetensors, in itself or in a subfolder; expected a training output folder"
                )
            }
            paths += found
        }
        if arguments.string("ensemble") != nil || arguments.string("ensemble-weights") != nil, paths.count == 1 {
            throw UsageError(
                message:
                    "--ensemble and --ensemble-weights combine several checkpoints; --checkpoint names one (\(paths[0]))"
            )
        }
        return paths
    }

    /// The networks of `--checkpoint` (`paths` when already expanded; in `precision`) and, for several, their `Ensemble`; prints
    /// the members of an ensemble on stderr.
    ///
    /// - Throws: `UsageError` for bad options, `DiceKitError` for unreadable or incompatible checkpoints.
    static func load(_ arguments: ParsedArguments, paths: [String]? = nil, precision: ComputePrecision) throws -> (
        model: UNet<Float>, ensemble: Ensemble?
    ) {
        let paths = try paths ?? Self.paths(arguments)
        let combination = try arguments.choice("ensemble", as: EnsembleCombination.self, default: .mean)!
        let weights = try arguments.doubles("ensemble-weights")
        if let weights, weights.count != paths.count {
            throw UsageError(
                message:
                    "--ensemble-weights has \(weights.count) value(s) for \(paths.count) checkpoint(s); expected one each"
            )
        }
        let models = try Self.models(paths, precision: precision)
        guard models.count > 1 else { return (models[0], nil) }
        let ensemble: Ensemble
        do { ensemble = try Ensemble(models, weights: weights, combination: combination) } catch DiceKitError.value(
            let message)
        {
            throw UsageError(message: "--checkpoint \(paths.joined(separator: ",")): \(message)")
        }
        printError(
            "ensemble of \(models.count) checkpoints (\(Self.describe(combination))): "
                + zip(paths, ensemble.weights).map { "\($0) ×\(formatWeight($1))" }.joined(separator: ", "))
        return (models[0], ensemble)
    }

    /// The networks of `paths`, in `precision`.
    ///
    /// - Throws: `DiceKitError` for an unreadable checkpoint, naming it when there are several.
    static func models(_ paths: [String], precision: ComputePrecision) throws -> [UNet<Float>] {
        try paths.map { path in
            let model: UNet<Float>
            do { model = try UNet<Float>.load(contentsOf: path) } catch {
                // With several checkpoints the message must say which one failed.
                let message = "\(error)"
                guard paths.count > 1, !message.contains(path) else { throw error }
                throw DiceKitError.file(path: path, reason: message)
            }
            model.precision = precision
            return model
        }
    }

    /// The combination in words, for the member list.
    private static func describe(_ combination: EnsembleCombination) -> String {
        switch combination {
        case .mean: return "mean of probabilities"
        case .vote: return "majority vote"
        case .logits: return "mean of logits"
        }
    }

    /// "1" or "0.5": a weight without trailing zeros.
    private static func formatWeight(_ w: Double) -> String {
        w == w.rounded() && abs(w) < 1e15 ? String(Int(w)) : String(w)
    }
}
