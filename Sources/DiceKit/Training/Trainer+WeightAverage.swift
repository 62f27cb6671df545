// Training with an exponential moving average of the weights (`TrainingConfiguration.
// weightAveraging`, `WeightAverage`): every optimiser step that updates the weights then updates
// the average; validation scores the averaged weights (with BatchNorm statistics recomputed for
// them when asked: PyTorch's `update_bn`), `best.safetensors` holds them when their validation
// Dice improves and `ema.safetensors` after every epoch (model-only files, PyTorch state_dicts);
// `last.safetensors` keeps the trained weights, and the average under "ema.", so a resumed run
// continues both bit for bit. In a distributed run every rank keeps the same average
// (the weights are the same on every rank; rank 0's values are broadcast at the start).

extension Trainer {
    /// Runs `body` with the averaged weights in the model when the run keeps an average (the
    /// trained weights are put back afterwards), otherwise with the trained weights.
    public func withAveragedWeights<R>(_ body: () throws -> R) rethrows -> R {
        guard let weightAverage else { return try body() }
        return try weightAverage.installed(in: model.parameters, body)
    }

    /// The metadata a model-only file of the averaged weights adds: "weights" = "ema", the decay,
    /// the warm-up, the BatchNorm statistics ("average" or "recompute") and the update count.
    var averagedWeightsMetadata: [String: String] {
        guard let weightAverage else { return [:] }
        let a = weightAverage.averaging
        return [
            "weights": "ema", "ema_decay": "\(a.decay)", "ema_warmup": "\(a.warmup)",
            "ema_statistics": a.statisticsName, "ema_updates": "\(weightAverage.updates)",
        ]
    }

    /// An epoch's validation scores (nil without a validation set) and, with a weight average,
    /// the averaged model's file (`modelFile` with `averagedWeightsMetadata`; nil on ranks other
    /// than 0), from one installation of the average, with the BatchNorm statistics recomputed
    /// over `training` first when the averaging asks for it. Without an average, the model's scores.
    func validateEpoch(
        _ epoch: Int, training: any SegmentationSource, validation: (any SegmentationSource)?
    ) throws -> (scores: (loss: Double, dice: [Double], iou: [Double])?, averaged: SafetensorsFile?) {
        guard let weightAverage else { return (try validation.map { try evaluate($0) }, nil) }
        return try weightAverage.installed(in: model.parameters) {
            if weightAverage.averaging.recomputesStatistics { try recomputeBatchNormStatistics(on: training) }
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
        let a = weightAverage.averaging
        return weightAverage.parameters.stateDict(metadata: [
            "decay": "\(a.decay)", "warmup": "\(a.warmup)", "statistics": a.statisticsName,
            "updates": "\(weightAverage.updates)",
        ])
    }

    /// Restores the average from a checkpoint's `averagedWeights`.
    ///
    /// - Throws: `DiceKitError.value` when the checkpoint has an average and the configuration
    ///   none, or the other way round, or their decay, warm-up or statistics differ; or when the stored
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
            decay: state.metadata["decay"].flatMap(Double.init) ?? .nan, warmup: state.metadata["warmup"] == "true",
            recomputesStatistics: state.metadata["statistics"] == "recompute")
        guard let weightAverage, stored == configured else {
            throw DiceKitError.value(
                "\(path) holds a weight average of decay \(state.metadata["decay"] ?? "?") (\(stored.summary)); the configuration has \(configured.map { "decay \($0.decay) (\($0.summary))" } ?? "none"); expected the same"
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
