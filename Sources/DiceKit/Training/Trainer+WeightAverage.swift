// Training with an exponential moving average of the weights (`TrainingConfiguration.
// weightAveraging`, `WeightAverage`): every optimiser step that updates the weights then updates
// the average; validation scores the averaged weights, `best.safetensors` holds them when their
// validation Dice improves and `ema.safetensors` after every epoch (model-only files, PyTorch
// state_dicts); `last.safetensors` keeps the trained weights, and the average under "ema.", so a
// resumed run continues both bit for bit. In a distributed run every rank keeps the same average
// (the weights are the same on every rank; rank 0's values are broadcast at the start).

extension Trainer {
    /// Runs `body` with the averaged weights in the model when the run keeps an average (the
    /// trained weights are put back afterwards), otherwise with the trained weights.
    public func withAveragedWeights<R>(_ body: () throws -> R) rethrows -> R {
        guard let weightAverage else { return try body() }
        return try weightAverage.installed(in: model.parameters, body)
    }

    /// The metadata a model-only file of the averaged weights adds: "weights" = "ema", the decay,
    /// the warm-up and the update count.
    var averagedWeightsMetadata: [String: String] {
        guard let weightAverage else { return [:] }
        return [
            "weights": "ema", "ema_decay": "\(weightAverage.averaging.decay)",
            "ema_warmup": "\(weightAverage.averaging.warmup)", "ema_updates": "\(weightAverage.updates)",
        ]
    }

    /// Writes the averaged weights alone (as `saveModel`, with `averagedWeightsMetadata`).
    ///
    /// - Throws: as `saveModel`.
    func saveAveragedModel(to path: String, epoch: Int) throws {
        try withAveragedWeights { try saveModel(to: path, epoch: epoch, metadata: averagedWeightsMetadata) }
    }

    /// The average as a training checkpoint stores it (`TrainingCheckpoint.averagedWeights`), or nil.
    var averagedWeightsState: SafetensorsFile? {
        guard let weightAverage else { return nil }
        let a = weightAverage.averaging
        return weightAverage.parameters.stateDict(metadata: [
            "decay": "\(a.decay)", "warmup": "\(a.warmup)", "updates": "\(weightAverage.updates)",
        ])
    }

    /// Restores the average from a checkpoint's `averagedWeights`.
    ///
    /// - Throws: `DiceKitError.value` when the checkpoint has an average and the configuration
    ///   none, or the other way round, or their decay or warm-up differ; or when the stored
    ///   average does not fit the model or has no valid update count.
    func restoreAverage(_ state: SafetensorsFile?, path: String) throws {
        let configured = configuration.weightAveraging
        guard let state else {
            if let configured {
                throw DiceKitError.value(
                    "\(path) holds no weight average, but the configuration keeps one (decay \(configured.decay)); expected a checkpoint of a run with the same weight average, or none"
                )
            }
            return
        }
        let stored = WeightAveraging(
            decay: state.metadata["decay"].flatMap(Double.init) ?? .nan, warmup: state.metadata["warmup"] == "true")
        guard let weightAverage, stored == configured else {
            throw DiceKitError.value(
                "\(path) holds a weight average of decay \(state.metadata["decay"] ?? "?") (warm-up \(stored.warmup)); the configuration has \(configured.map { "decay \($0.decay) (warm-up \($0.warmup))" } ?? "none"); expected the same"
            )
        }
        guard let updates = state.metadata["updates"].flatMap({ Int($0) }) else {
            throw DiceKitError.value(
                "\(path): metadata 'ema.updates' is \(state.metadata["updates"].map { "'\($0)'" } ?? "missing"); expected an integer ≥ 0"
            )
        }
        let expected = Set(weightAverage.parameters.all.map(\.name))
        if let odd = Set(state.names).symmetricDifference(expected).sorted().first {
            throw DiceKitError.value(
                "\(path): the weight average \(expected.contains(odd) ? "lacks" : "has an unexpected") tensor 'ema.\(odd)'; expected one per parameter and buffer of the model"
            )
        }
        try weightAverage.parameters.load(state)
        try weightAverage.restore(updates: updates)
    }
}
