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
    /// values.
    ///
    /// - Throws: `DiceKitError.option` with a communicator of several ranks (the distributed loss
    ///   exchange covers one output).
    func deepSupervisionStep(_ batch: SegmentationBatch) throws -> StepOutcome {
        guard !communicator.isDistributed else {
            throw DiceKitError.option("deep supervision with \(communicator.size) ranks; expected one process")
        }
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
}
