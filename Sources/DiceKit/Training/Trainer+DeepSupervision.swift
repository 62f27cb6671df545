// Training with deep supervision (`TrainingConfiguration.deepSupervision`): the U-Net gets a 1×1
// head on each lower decoder level (UNet+DeepSupervision.swift), each step takes
// `DeepSupervisionLoss` over the full-resolution output and those heads' outputs against the
// labels resampled to their sizes, and back-propagates all of them. Validation, the best model
// and prediction use the full-resolution output alone.

extension Trainer {
    /// Adds the deep-supervision heads `configuration` asks for to `model` (unless it has them
    /// already, e.g. built by a previous trainer) and returns the loss over its outputs; nil
    /// without deep supervision.
    ///
    /// - Throws: `DiceKitError.invalidOption` for levels beyond the model's depth or a model
    ///   with another number of heads.
    static func enableDeepSupervision(
        _ model: UNet<Float>, _ configuration: TrainingConfiguration, loss: any SegmentationLoss
    ) throws -> DeepSupervisionLoss? {
        guard let weighting = configuration.deepSupervision else { return nil }
        let depth = model.configuration.depth
        let outputs = configuration.deepSupervisionLevels ?? depth
        guard depth >= 2, (2...depth).contains(outputs) else {
            throw DiceKitError.invalidOption(
                name: "deep supervision levels", value: "\(outputs)",
                expected: "2...\(depth) for a depth-\(depth) U-Net (full resolution included)")
        }
        if model.deepSupervisionOutputs == 1 {
            try model.enableDeepSupervision(outputs: outputs, seed: configuration.seed)
        } else if model.deepSupervisionOutputs != outputs {
            throw DiceKitError.invalidOption(
                name: "deep supervision levels", value: "\(outputs)",
                expected: "\(model.deepSupervisionOutputs), the outputs of the model's deep-supervision heads")
        }
        _ = try weighting.weights(levels: outputs) // explicit weights: enough of them
        return DeepSupervisionLoss(loss: loss, weighting: weighting)
    }

    /// One step with deep supervision: forward through every head, the weighted loss, backward
    /// from every output, clipping and the optimiser step, with `step`'s checks for non-finite
    /// values. With several ranks, `distributedDeepSupervisionStep`.
    func deepSupervisionStep(_ batch: SegmentationBatch) throws -> StepOutcome {
        if communicator.isDistributed { return try distributedDeepSupervisionStep(batch) }
        model.parameters.zeroGradients()
        let outputs = try model.forwardDeepSupervision(batch.images, mode: .training)
        if outputs.contains(where: { $0.withUnsafeBufferPointer { $0.contains { !$0.isFinite } } }) {
            return StepOutcome(loss: .nan, nonFinite: ("loss", .nan))
        }
        let result = try deepSupervisionLoss!.evaluate(
            outputs, target: .labels(try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)),
            gradient: true)
        let value = Double(result.value)
        guard value.isFinite else { return StepOutcome(loss: value, nonFinite: ("loss", value)) }
        try model.backward(deepSupervision: result.gradients!)
        let norm = try clipGradientNorm(
            model.parameters.trainable, maxNorm: configuration.gradientClip ?? .greatestFiniteMagnitude)
        guard norm.isFinite else { return StepOutcome(loss: value, nonFinite: ("gradient norm", norm)) }
        optimizer.step(model.parameters.trainable)
        return StepOutcome(loss: value)
    }

    /// One distributed step with deep supervision (`distributedStep` with every output): each
    /// level's loss is the global batch's (`distributedDeepSupervisionLoss`), the gradients of all
    /// heads are summed over the ranks in the buckets started as backward finishes each stage.
    func distributedDeepSupervisionStep(_ batch: SegmentationBatch) throws -> StepOutcome {
        model.parameters.zeroGradients()
        let contributes = batch.count > 0
        let synchronizer = model.batchNorms.first?.synchronizer
        synchronizer?.contributes = contributes
        // A rank without samples runs a zero placeholder image: in training mode when batch norm
        // is synchronised (its layers' collectives), else in evaluation mode (nothing changes),
        // only for the outputs' shapes, which the Dice exchange's placeholders need.
        let input = contributes ? batch.images : Tensor<Float>(shape: [1] + batch.images.shape.dropFirst())
        let outputs = try model.forwardDeepSupervision(
            input, mode: contributes || synchronizer != nil ? .training : .evaluation)
        let bad = contributes && outputs.contains { $0.withUnsafeBufferPointer { $0.contains { !$0.isFinite } } }
        if try communicator.anyRank(bad) { return StepOutcome(loss: .nan, nonFinite: ("loss", .nan)) }
        let result = try distributedDeepSupervisionLoss(batch, outputs: outputs, contributes: contributes)
        let value = result.value
        guard value.isFinite else { return StepOutcome(loss: value, nonFinite: ("loss", value)) }
        let buckets = GradientBuckets(model: model, communicator: communicator)
        model.backwardStageFinished = { buckets.stageFinished($0) }
        defer { model.backwardStageFinished = nil }
        if contributes {
            _ = try model.backward(deepSupervision: result.gradients)
        } else if synchronizer != nil {
            _ = try model.backward(deepSupervision: outputs.map { Tensor(shape: $0.shape) }) // the collectives only
        }
        try buckets.finish()
        let norm = try clipGradientNorm(
            model.parameters.trainable, maxNorm: configuration.gradientClip ?? .greatestFiniteMagnitude)
        guard norm.isFinite else { return StepOutcome(loss: value, nonFinite: ("gradient norm", norm)) }
        optimizer.step(model.parameters.trainable)
        return StepOutcome(loss: value)
    }

    /// The global batch's deep-supervision loss Σ_l w_l·L_l and d(it)/d(this rank's outputs):
    /// each level's loss is exchanged across the ranks (`exchangedLoss`). On a rank without
    /// samples `outputs` come from a placeholder image and only supply the shapes.
    func distributedDeepSupervisionLoss(_ batch: SegmentationBatch, outputs: [Tensor<Float>], contributes: Bool)
        throws -> (value: Double, gradients: [Tensor<Float>])
    {
        let supervision = deepSupervisionLoss!
        let spatial = Array(batch.labelShape.dropFirst())
        let labels =
            contributes
            ? try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)
            : try LabelMap(shape: [1] + spatial, int32Labels: [Int32](repeating: 0, count: spatial.reduce(1, *)))
        let result = try supervision.evaluate(outputs, target: .labels(labels), gradient: true) {
            try exchangedLoss($0, target: $1, contributes: contributes, gradient: true)
        }
        return (Double(result.value), result.gradients ?? [])
    }
}
