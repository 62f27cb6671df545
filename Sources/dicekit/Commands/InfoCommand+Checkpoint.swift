// `dicekit info FILE.safetensors`: what a checkpoint holds, read and checked as `eval` and
// `--resume` read it: its kind, the U-Net it describes, whether every value is finite (a
// diverged run's is not), and for a training checkpoint its epoch, history and precisions.

import DiceKit

extension InfoCommand {
    /// Whether `path` names a safetensors file (by its suffix).
    static func isSafetensors(_ path: String) -> Bool { path.lowercased().hasSuffix(".safetensors") }

    /// The JSON object of a safetensors file: {"file", "format": "safetensors", "tensors",
    /// "finite", "checkpoint" ("training", "model" or null for a file DiceKit did not write),
    /// "model" (the U-Net: "in", "classes", "base", "depth", "spatial_rank", "normalization",
    /// "parameters", counted as PyTorch's `parameters()`; null when the tensors do not describe one, with "model_error" saying why),
    /// "epoch", "loss", and for a training checkpoint "history": {"epochs", "best_epoch",
    /// "best_val_dice_foreground", "precisions" (those the epochs ran in, in order of first use)}}.
    ///
    /// - Throws: `SafetensorsError` for a missing or malformed file; `DiceKitError.value` for a
    ///   training checkpoint whose epoch, history or options do not parse.
    static func checkpointInfo(_ path: String) throws -> JSONValue {
        let file = try SafetensorsFile.read(contentsOf: path)
        let training =
            file.metadata["dicekit.checkpoint"] == "training" ? try TrainingCheckpoint(file, path: path) : nil
        let model = training?.model ?? file
        var fields = [
            JSONField("file", .string(path)), JSONField("format", .string("safetensors")),
            JSONField("tensors", .integer(file.tensors.count)), JSONField("finite", .bool(try allFinite(file))),
            JSONField("checkpoint", file.metadata["dicekit.checkpoint"].map(JSONValue.string) ?? .null),
        ]
        do {
            let c = try UNetConfiguration.inferred(from: model)
            // PyTorch's `parameters()`: BatchNorm's running statistics are buffers.
            let buffers = ["running_mean", "running_var", "num_batches_tracked"]
            let parameters = model.tensors.filter { name, _ in
                !UNetConfiguration.isTrainingState(name) && !buffers.contains { name.hasSuffix("." + $0) }
            }.values.reduce(0) { $0 + $1.count }
            fields.append(
                JSONField(
                    "model",
                    .object([
                        JSONField("in", .integer(c.inputChannels)), JSONField("classes", .integer(c.classes)),
                        JSONField("base", .integer(c.baseWidth)), JSONField("depth", .integer(c.depth)),
                        JSONField("spatial_rank", .integer(c.spatialRank)),
                        JSONField("normalization", .string(c.normalization.name)),
                        JSONField("parameters", .integer(parameters)),
                    ])))
        } catch let error as DiceKitError {
            fields += [JSONField("model", .null), JSONField("model_error", .string(error.description))]
        }
        fields.append(
            JSONField(
                "epoch", (training?.epoch ?? file.metadata["epoch"].flatMap { Int($0) }).map(JSONValue.integer) ?? .null
            ))
        fields.append(JSONField("loss", file.metadata["loss"].map(JSONValue.string) ?? .null))
        if let history = training?.history {
            let best = history.indices.filter { history[$0].validationDiceForeground != nil }.max {
                history[$0].validationDiceForeground! < history[$1].validationDiceForeground!
            }
            var precisions: [ComputePrecision] = []
            for case let p? in history.map(\.precision) where !precisions.contains(p) { precisions.append(p) }
            fields.append(
                JSONField(
                    "history",
                    .object([
                        JSONField("epochs", .integer(history.count)),
                        JSONField("best_epoch", best.map { .integer(history[$0].epoch) } ?? .null),
                        JSONField(
                            "best_val_dice_foreground",
                            best.flatMap { history[$0].validationDiceForeground }.map(JSONValue.number) ?? .null),
                        JSONField("precisions", .array(precisions.map { .string($0.rawValue) })),
                    ])))
        }
        return .object(fields)
    }

    /// Whether every float32 value of `file` is finite.
    private static func allFinite(_ file: SafetensorsFile) throws -> Bool {
        for (name, tensor) in file.tensors where tensor.dtype == .float32 {
            if !(try file.tensor(named: name, as: Float.self)).scalars.allSatisfy(\.isFinite) { return false }
        }
        return true
    }
}
