// The training checkpoint (`last.safetensors`): everything a resumed run needs, in ONE file, so
// that writing it (temporary file, fsync, rename) is the run's single commit point per epoch.
//
//   tensors   the model's state_dict (PyTorch names and layouts, as `UNet.save` writes, plus the
//             deep-supervision heads "deep_supervision.*" when the run has them), and the
//             optimiser state under the prefix "optimizer." ("optimizer.step",
//             "optimizer.<parameter>.exp_avg", …; see `Optimizer`); with a weight average,
//             its state_dict under the prefix "ema." ("ema.down.0.0.weight", …)
//   metadata  the model's configuration ("dicekit.*"), "dicekit.checkpoint" = "training",
//             "epoch", "loss", the optimiser's own metadata under "optimizer." (its kind, lr, …),
//             "dicekit.history" (a JSON array: one metrics.jsonl object per finished epoch) and
//             "dicekit.options" (a JSON object of the settings a resumed run must repeat);
//             with a moving average "ema.decay", "ema.warmup", "ema.statistics" and "ema.updates";
//             with stochastic weight averaging "ema.rule" = "swa", "ema.start", "ema.lr",
//             "ema.anneal_epochs", "ema.anneal", "ema.statistics" and "ema.updates"
//
// The model-only checkpoint (`best.safetensors`) has "dicekit.checkpoint" = "model" and no
// "optimizer." tensors, so it loads into PyTorch with `load_state_dict(strict=True)`; it keeps
// "dicekit.options" too, so that it tells what it was trained on (its fold, seed and data).

import Foundation

/// A training checkpoint: model, optimiser state, epoch, history and the run's fixed settings.
public struct TrainingCheckpoint {
    /// The prefix of the optimiser's tensors and metadata inside the file.
    public static let optimizerPrefix = "optimizer."

    /// The model's tensors and metadata (what `UNet.load` reads; "optimizer." entries excluded).
    public var model: SafetensorsFile
    /// The optimiser state as `OptimizerState.safetensors` writes it (names without the prefix).
    public var optimizerState: SafetensorsFile
    /// The last finished epoch (≥ 1).
    public var epoch: Int
    /// Every finished epoch, 1 … `epoch`, in order.
    public var history: [EpochMetrics]
    /// Settings a resumed run must repeat (option name → canonical value), as given by
    /// `TrainingConfiguration.recordedOptions`.
    public var options: [String: String]
    /// The weight average (`WeightAverage`), if the run keeps one: its state_dict, with its
    /// settings and "updates" in the metadata (names without the prefix; the file header lists them).
    public var averagedWeights: SafetensorsFile?

    /// A checkpoint of the given parts.
    public init(
        model: SafetensorsFile, optimizerState: SafetensorsFile, epoch: Int, history: [EpochMetrics],
        options: [String: String], averagedWeights: SafetensorsFile? = nil
    ) {
        self.model = model
        self.optimizerState = optimizerState
        self.epoch = epoch
        self.history = history
        self.options = options
        self.averagedWeights = averagedWeights
    }

    /// The prefix of the weight average's tensors and metadata inside the file.
    public static let averagedWeightsPrefix = UNetConfiguration.averagedWeightsPrefix

    /// The single safetensors file holding every part (see the file header for the layout).
    public var file: SafetensorsFile {
        var file = model
        file.metadata["dicekit.checkpoint"] = "training"
        file.metadata["epoch"] = "\(epoch)"
        file.metadata["dicekit.history"] = JSONValue.array(history.map(\.json)).encoded
        file.metadata[Self.optionsKey] = Self.encoded(options: options)
        for (name, tensor) in optimizerState.tensors { file.tensors[Self.optimizerPrefix + name] = tensor }
        for (key, value) in optimizerState.metadata { file.metadata[Self.optimizerPrefix + key] = value }
        if let averagedWeights {
            for (name, tensor) in averagedWeights.tensors { file.tensors[Self.averagedWeightsPrefix + name] = tensor }
            for (key, value) in averagedWeights.metadata { file.metadata[Self.averagedWeightsPrefix + key] = value }
        }
        return file
    }

    /// Splits a file written by `file` into its parts and checks them.
    ///
    /// - Parameter path: where the file came from, for the messages.
    /// - Throws: `DiceKitError.value` for a model-only checkpoint (best.safetensors, a PyTorch
    ///   state_dict, or the two-file form of earlier versions), or a missing or malformed epoch,
    ///   history or option record.
    public init(_ file: SafetensorsFile, path: String) throws {
        let m = file.metadata
        guard m["dicekit.checkpoint"] == "training" else {
            let older = FileManager.default.fileExists(atPath: Self.olderOptimizerPath(for: path))
            throw DiceKitError.value(
                older
                    ? "\(path) is a checkpoint of an earlier DiceKit (optimiser state in a separate .optim.safetensors file), which cannot be resumed; start a new run"
                    : "\(path) holds model weights only (best.safetensors or a PyTorch state_dict), which cannot be resumed; resume from last.safetensors of the same run"
            )
        }
        guard let epoch = m["epoch"].flatMap({ Int($0) }), epoch >= 1 else {
            throw DiceKitError.value(
                "\(path): metadata 'epoch' is \(m["epoch"].map { "'\($0)'" } ?? "missing"); expected an integer ≥ 1")
        }
        guard let history = m["dicekit.history"].flatMap(EpochMetrics.history(jsonArray:)) else {
            throw DiceKitError.value(
                "\(path): metadata 'dicekit.history' is missing or not a JSON array of epoch objects")
        }
        guard history.map(\.epoch) == Array(1...epoch) else {
            throw DiceKitError.value(
                "\(path): metadata 'dicekit.history' holds epochs \(history.map(\.epoch).prefix(8)); expected 1…\(epoch), one object each"
            )
        }
        guard let options = Self.recordedOptions(in: m) else {
            throw DiceKitError.value("\(path): metadata 'dicekit.options' is missing or not a JSON object of strings")
        }
        var model = SafetensorsFile()
        var optimizer = SafetensorsFile()
        var average = SafetensorsFile()
        for (name, tensor) in file.tensors {
            if name.hasPrefix(Self.optimizerPrefix) {
                optimizer.tensors[String(name.dropFirst(Self.optimizerPrefix.count))] = tensor
            } else if name.hasPrefix(Self.averagedWeightsPrefix) {
                average.tensors[String(name.dropFirst(Self.averagedWeightsPrefix.count))] = tensor
            } else {
                model.tensors[name] = tensor
            }
        }
        for (key, value) in m {
            if key.hasPrefix(Self.optimizerPrefix) {
                optimizer.metadata[String(key.dropFirst(Self.optimizerPrefix.count))] = value
            } else if key.hasPrefix(Self.averagedWeightsPrefix) {
                average.metadata[String(key.dropFirst(Self.averagedWeightsPrefix.count))] = value
            } else if !["dicekit.checkpoint", "dicekit.history", "dicekit.options"].contains(key) {
                model.metadata[key] = value
            }
        }
        guard !optimizer.tensors.isEmpty else {
            throw DiceKitError.value(
                "\(path) has no optimizer.* tensors; expected the optimiser state of a training checkpoint")
        }
        guard average.tensors.isEmpty == average.metadata.isEmpty else {
            throw DiceKitError.value(
                "\(path) has ema.* \(average.tensors.isEmpty ? "metadata" : "tensors") only; expected a weight average's tensors and metadata together, or neither"
            )
        }
        self.init(
            model: model, optimizerState: optimizer, epoch: epoch, history: history, options: options,
            averagedWeights: average.tensors.isEmpty ? nil : average)
    }

    /// The metadata key of the recorded options.
    public static let optionsKey = "dicekit.options"

    /// The options record as the metadata stores it: a JSON object of strings, keys sorted.
    public static func encoded(options: [String: String]) -> String {
        JSONValue.object(options.keys.sorted().map { JSONField($0, .string(options[$0]!)) }).encoded
    }

    /// The options recorded in a checkpoint's metadata (a training checkpoint's, or a
    /// `best.safetensors` of this version), or nil when it has no well-formed record.
    public static func recordedOptions(in metadata: [String: String]) -> [String: String]? {
        guard let text = metadata[optionsKey], let data = text.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: String]
    }

    /// Reads and checks a training checkpoint (see `init(_:path:)`).
    ///
    /// - Throws: `SafetensorsError` for an unreadable file; `DiceKitError.value` as `init(_:path:)`.
    public static func read(contentsOf path: String) throws -> TrainingCheckpoint {
        try TrainingCheckpoint(try SafetensorsFile.read(contentsOf: path), path: path)
    }

    /// The file-name suffix of a safetensors checkpoint.
    static let fileSuffix = ".safetensors"

    /// `X.optim.safetensors` beside `X.safetensors`: where earlier versions kept the optimiser state.
    static func olderOptimizerPath(for checkpoint: String) -> String {
        let stem = checkpoint.hasSuffix(fileSuffix) ? String(checkpoint.dropLast(fileSuffix.count)) : checkpoint
        return stem + ".optim" + fileSuffix
    }
}
