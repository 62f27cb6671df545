// Training with an average of the weights (`WeightAverage`): with an exponential moving average
// (`TrainingConfiguration.weightAveraging`) every optimiser step that updates the weights then
// updates the average; with stochastic weight averaging (`stochasticWeightAveraging`) the end of
// every epoch from its start does, and the later epochs take its learning rate. Validation scores
// the averaged weights once the average has an update (with BatchNorm statistics recomputed for
// them when asked: PyTorch's `update_bn`), `best.safetensors` holds them when their validation
// Dice improves and `ema.safetensors` (or `swa.safetensors`) after every epoch (model-only files,
// PyTorch state_dicts); `last.safetensors` keeps the trained weights, and the average under
// "ema.", so a resumed run continues both bit for bit. In a distributed run every rank keeps the
// same average (the weights are the same on every rank; rank 0's values are broadcast at the start).

extension Trainer {
    /// Runs `body` with the averaged weights in the model when the run keeps an average (the
    /// trained weights are put back afterwards), otherwise with the trained weights.
    /// Before the average's first update (stochastic weight averaging before its start epoch
    /// ends) that is the trained weights.
    public func withAveragedWeights<R>(_ body: () throws -> R) rethrows -> R {
        guard let weightAverage, weightAverage.updates > 0 else { return try body() }
        return try weightAverage.installed(in: model.parameters, body)
    }

    /// The learning rate of every step of `epoch` under stochastic weight averaging (epochs after
    /// its start; the start rate is that of the start epoch's last step, in the history), or nil.
    func averagedLearningRate(epoch: Int) -> Double? {
        guard let swa = configuration.stochasticWeightAveraging, epoch > swa.start, history.count >= swa.start else {
            return nil
        }
        return swa.learningRate(epoch: epoch, startRate: history[swa.start - 1].learningRate)
    }

    /// "ema" or "swa": the kind of average, in file names and metadata.
    var averageKind: String { configuration.stochasticWeightAveraging == nil ? "ema" : "swa" }

    /// The file that holds the averaged model after every epoch: ema.safetensors or swa.safetensors.
    var averagedWeightsFileName: String { "\(averageKind).safetensors" }

    /// Whether the averaged model is validated with BatchNorm statistics recomputed for it.
    var averageRecomputesStatistics: Bool {
        configuration.weightAveraging?.recomputesStatistics ?? configuration.stochasticWeightAveraging?
            .recomputesStatistics ?? false
    }

    /// The settings of the average as a checkpoint stores them (without the update count):
    /// "decay", "warmup" and "statistics" for a moving average; "rule" = "swa", "start", "lr"
    /// ("none" to keep the rate), "anneal_epochs", "anneal" and "statistics" for stochastic
    /// weight averaging. Empty without an average.
    var averageSettings: [String: String] {
        if let a = configuration.weightAveraging {
            return ["decay": "\(a.decay)", "warmup": "\(a.warmup)", "statistics": a.statisticsName]
        }
        guard let swa = configuration.stochasticWeightAveraging else { return [:] }
        return [
            "rule": "swa", "start": "\(swa.start)", "lr": swa.learningRate.map { "\($0)" } ?? "none",
            "anneal_epochs": "\(swa.annealEpochs)", "anneal": swa.anneal.rawValue, "statistics": swa.statisticsName,
        ]
    }

    /// The metadata a model-only file of the averaged weights adds: "weights" = "ema" (or
    /// "swa"), and the settings and the update count, each prefixed "ema_" (or "swa_").
    var averagedWeightsMetadata: [String: String] {
        guard let weightAverage else { return [:] }
        let kind = averageKind
        var metadata = ["weights": kind, "\(kind)_updates": "\(weightAverage.updates)"]
        for (key, value) in averageSettings where key != "rule" { metadata["\(kind)_\(key)"] = value }
        return metadata
    }

    /// An epoch's validation scores (nil without a validation set) and, with a weight average,
    /// the averaged model's file (`modelFile` with `averagedWeightsMetadata`; nil on ranks other
    /// than 0), from one installation of the average, with the BatchNorm statistics recomputed
    /// over `training` first when the averaging asks for it. Without an average, or before its
    /// first update, the model's scores.
    func validateEpoch(
        _ epoch: Int, training: any SegmentationSource, validation: (any SegmentationSource)?
    ) throws -> (scores: (loss: Double, dice: [Double], iou: [Double])?, averaged: SafetensorsFile?) {
        guard let weightAverage, weightAverage.updates > 0 else {
            return (try validation.map { try evaluate($0) }, nil)
        }
        return try weightAverage.installed(in: model.parameters) {
            if averageRecomputesStatistics { try recomputeBatchNormStatistics(on: training) }
            let scores = try validation.map { try evaluate($0) }
            return (scores, communicator.rank == 0 ? modelFile(epoch: epoch, metadata: averagedWeightsMetadata) : nil)
        }
    }

    /// PyTorch's `torch.optim.swa_utils.update_bn(loader, model)`: every BatchNorm's running
    /// statistics start afresh (mean 0, variance 1) and become the mean of the batch statistics
    /// of one pass over `source` in training mode (batches of `configuration.batchSize` in the
    /// source's order, no augmentation; momentum 1/n for the n-th batch, PyTorch's
    /// `momentum=None`). The weights do not change, nor does a model without BatchNorm. With
    /// several ranks this is a collective: each global batch is split as in `evaluate`, and with
    /// synchronised batch norm the statistics are the global batch's.
    ///
    /// - Throws: as the forward pass and the source's reads.
    public func recomputeBatchNormStatistics(on source: any SegmentationSource) throws {
        let norms = model.batchNorms
        guard !norms.isEmpty else { return }
        let momenta = norms.map(\.momentum)
        defer { for (layer, momentum) in zip(norms, momenta) { layer.momentum = momentum } }
        for layer in norms { layer.resetRunningStatistics() }
        var batches = 0
        func pass(_ images: Tensor<Float>) throws {
            batches += 1
            for layer in norms { layer.momentum = 1 / Double(batches) }
            _ = try model.forward(images, mode: .training)
        }
        guard communicator.isDistributed else {
            let prefetcher = try BatchPrefetcher(
                plan: BatchPlan(source: source, size: configuration.batchSize), depth: configuration.prefetchDepth)
            defer { prefetcher.cancel() }
            while let batch = try prefetcher.next() { try pass(batch.images) }
            return
        }
        // A rank without samples in a step still runs forward (on a zero placeholder that
        // contributes nothing) when the statistics are synchronised, as in a training step.
        let synchronizer = norms.first?.synchronizer
        defer { synchronizer?.contributes = true }
        let shards = DistributedShards(
            order: Array(0..<source.count), batchPerRank: configuration.batchSize, ranks: communicator.size)
        for step in 0..<shards.steps {
            let indices = shards.indices(step: step, rank: communicator.rank)
            synchronizer?.contributes = !indices.isEmpty
            if !indices.isEmpty {
                try pass(try source.samples(indices).images)
            } else if synchronizer != nil {
                try pass(Tensor(shape: [1] + source.spatialShape + [source.channels]))
            }
        }
    }

    /// The average as a training checkpoint stores it (`TrainingCheckpoint.averagedWeights`), or nil.
    var averagedWeightsState: SafetensorsFile? {
        guard let weightAverage else { return nil }
        return weightAverage.parameters.stateDict(
            metadata: averageSettings.merging(["updates": "\(weightAverage.updates)"]) { _, new in new })
    }

    /// Restores the average from a checkpoint's `averagedWeights`.
    ///
    /// - Throws: `DiceKitError.value` when the checkpoint has an average and the configuration
    ///   none, or the other way round, or their settings differ; or when the stored average does
    ///   not fit the model or has no valid update count.
    func restoreAverage(_ state: SafetensorsFile?, path: String) throws {
        let configured = averageSettings
        func describe(_ settings: [String: String]) -> String {
            settings.isEmpty
                ? "none" : settings.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        guard let state else {
            if !configured.isEmpty {
                throw DiceKitError.value(
                    "\(path) holds no weight average, but the configuration keeps one (\(describe(configured))); expected a checkpoint of a run with the same weight average, or none"
                )
            }
            return
        }
        let stored = state.metadata.filter { $0.key != "updates" }
        guard let weightAverage, stored == configured else {
            throw DiceKitError.value(
                "\(path) holds a weight average (\(describe(stored))); the configuration has \(describe(configured)); expected the same"
            )
        }
        guard let updates = state.metadata["updates"].flatMap({ Int($0) }), updates >= 0 else {
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
        for parameter in weightAverage.parameters.all {
            let (stored, shape) = (
                state.tensors[parameter.name]!.shape, parameter.checkpointLayout.checkpointShape(parameter.value.shape)
            )
            guard stored == shape else {
                throw DiceKitError.shape(
                    "\(path): the weight average's tensor 'ema.\(parameter.name)' has shape \(stored); the model expects \(shape)"
                )
            }
        }
        try weightAverage.parameters.load(state)
        try weightAverage.restore(updates: updates)
    }
}
