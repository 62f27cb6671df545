// Data-parallel training: the trainer's distributed path. With a `communicator` of p > 1 ranks,
// `fit` runs on every rank with the same settings and data set:
//   - at the start, the ranks check that their settings and data agree and rank 0 broadcasts the
//     weights and buffers (so a model initialised or resumed anywhere starts identical);
//   - each epoch, every rank derives the same shuffled order from the seed and takes every p-th
//     sample of each global batch of p·B (DistributedShards), augmented with the generator of
//     its position in that order, so the global batches are one process's with batch p·B;
//   - each step, the loss statistics are gathered between the loss's two passes (exact global
//     Dice, DiceLoss+Exchange.swift), every rank backpropagates its own samples, and the
//     gradients are summed over the ranks (in buckets started while backward runs,
//     GradientBuckets.swift), so clipping and the optimiser step see the global gradient and
//     the weights stay identical;
//   - validation splits each global batch the same way; its loss is the global batch's and its
//     Dice/IoU sums and counts are summed over the ranks;
//   - decisions (non-finite values, Ctrl-C) are taken on all ranks together; only rank 0
//     writes files and reports progress.
// Batch normalisation is synchronised by default (`synchronizesBatchNorm`): the statistics of the
// whole global batch in the forward pass and its gradient sums in the backward pass
// (BatchNormSynchronizer); otherwise each rank's own. Before validation, rank 0's running
// statistics are broadcast so every rank evaluates the model rank 0 saves. See Docs/Distributed.md.

import Foundation

extension Trainer {
    /// Samples per step over all ranks: `configuration.batchSize` (per rank) × ranks.
    public var globalBatchSize: Int { configuration.batchSize * communicator.size }

    /// Checks that every rank trains the same model with the same settings on the same data,
    /// then broadcasts rank 0's weights, buffers and weight average. Called by `fit` when distributed.
    ///
    /// - Throws: `DiceKitError.value` when the data set has fewer samples than ranks, when a
    ///   rank's settings differ from rank 0's, or when a rank runs its convolutions in another
    ///   precision than rank 0 (`checkSamePrecision`).
    func prepareDistributed(training: any SegmentationSource, validation: (any SegmentationSource)?) throws {
        try checkDistributedLoss()
        guard training.count >= communicator.size else {
            throw DiceKitError.value(
                "the training set has \(training.count) images for \(communicator.size) ranks; expected at least one image per rank"
            )
        }
        try checkSamePrecision()
        let c = configuration
        let m = model.configuration
        let settings =
            "\(c.epochs) \(c.batchSize) \(c.learningRate) \(c.optimizer) \(c.schedule) \(c.loss) \(c.lossOptions) \(c.ignoreIndex.map(String.init) ?? "-") \(c.seed) "
            + "\(c.gradientClip.map { "\($0)" } ?? "-") \(c.weightDecay) \(c.momentum) \(c.augmentation) "
            + "\(m.classes) \(m.baseWidth) \(m.depth) \(m.normalization.name) \(m.inputChannels) \(m.spatialRank) "
            + "\(training.count) \(training.spatialShape) \(validation?.count ?? 0) history \(history.count) sync-bn \(synchronizesBatchNorm) "
            + "deep-supervision \(c.deepSupervision?.name ?? "-") \(model.deepSupervisionOutputs) "
            + "parameters \(model.parameters.all.map { "\($0.name)\($0.value.shape)" }.joined(separator: ",")) "
            + "average \(averageSettings.sorted { $0.key < $1.key }) \(weightAverage?.updates ?? 0)"
        let hash = Self.fingerprint(settings)
        let all = try communicator.allGather([Double(hash >> 32), Double(hash & 0xFFFF_FFFF)])
        if let rank = all.indices.first(where: { all[$0] != all[0] }) {
            throw DiceKitError.value(
                "rank \(rank)'s training settings, model or data differ from rank 0's; expected every rank to run the same command on the same data"
            )
        }
        try broadcastValues(of: model.parameters.all)
        if let weightAverage { try broadcastValues(of: weightAverage.parameters.all) }
        let synchronizer = synchronizesBatchNorm ? BatchNormSynchronizer(communicator: communicator) : nil
        for layer in model.batchNorms { layer.synchronizer = synchronizer }
    }

    /// Checks that every rank runs its convolutions in the precision rank 0 runs them in (the
    /// effective one: a `--precision bf16` rank on a CPU without bfloat16 runs float32), so that
    /// the ranks' gradients are those of one process. The bfloat16 arithmetic may differ between
    /// machines (dot products, rounded operands, AMX tiles): its products are the same.
    ///
    /// - Throws: `DiceKitError.value` naming the first rank that differs and both precisions.
    func checkSamePrecision() throws {
        let running = model.precision.effective
        let all = try communicator.allGather([running == .bfloat16 ? 1 : 0])
        guard let rank = all.indices.first(where: { all[$0] != all[0] }) else { return }
        let name = { (code: [Double]) in
            code == [1] ? ComputePrecision.bfloat16.rawValue : ComputePrecision.float.rawValue
        }
        throw DiceKitError.value(
            "rank \(rank) runs its convolutions in \(name(all[rank])) and rank 0 in \(name(all[0])) (--precision bf16 "
                + "runs in float32 on a CPU without AVX512-BF16 or AMX-BF16); expected every rank in the same precision"
        )
    }

    /// Sets the values of `parameters` on every rank to rank 0's.
    func broadcastValues(of parameters: [Parameter<Float>]) throws {
        for parameter in parameters {
            var values = parameter.value.scalars
            try communicator.broadcast(&values, root: 0)
            parameter.value = Tensor(uncheckedShape: parameter.value.shape, storage: values)
        }
    }

    /// Checks that the loss can be computed over the global batch across the ranks: a
    /// `DistributedSegmentationLoss` (its batch-wide terms are exchanged) or a mean over the
    /// samples (`averagesOverSamples`). Every `LossKind` qualifies with the settings it makes.
    ///
    /// - Throws: `DiceKitError.option` for a loss that is neither.
    func checkDistributedLoss() throws {
        guard !(loss is any DistributedSegmentationLoss), !averagesOverSamples else { return }
        throw DiceKitError.option(
            "--distributed with loss \(configuration.loss.rawValue): its batch-wide terms are not exchanged across "
                + "ranks; expected a loss of the Dice family, focal, lovasz, mcc or a per-sample mean")
    }

    /// Whether the loss is the mean of per-sample values with a normalisation that does not depend
    /// on the batch (Wasserstein Dice, clDice and Dice + clDice with the mean reduction; clDice's
    /// sums run over one sample's channels and positions): the global batch's loss is then
    /// Σ_r (B_r / B)·(rank r's mean), and its gradient rank r's scaled by B_r / B. (Focal and
    /// Lovász exchange themselves: `DistributedSegmentationLoss`.)
    var averagesOverSamples: Bool {
        switch loss {
        case let wasserstein as WassersteinDiceLoss: return wasserstein.reduction == .mean
        case let clDice as ClDiceLoss: return clDice.reduction == .mean
        case let compound as DiceClDiceLoss:
            // clDice per sample; Dice per (sample, class), C values per sample in the mean.
            let dice = compound.dice
            return compound.clDice.reduction == .mean && dice.reduction == .mean && !dice.batch
                && dice.emptyClass == .smooth && dice.ignoreIndex == nil && dice.preset == nil
        default: return false
        }
    }

    /// The global batch's loss and d(it)/d(this rank's logits) (nil logits: a rank without
    /// samples in this step, which contributes nothing but takes part in the collectives).
    func distributedLoss(_ batch: SegmentationBatch, logits: Tensor<Float>?, gradient: Bool) throws -> (
        value: Double, gradient: Tensor<Float>?
    ) {
        let (prediction, labels) = try lossInputs(batch, logits: logits)
        let result = try exchangedLoss(
            prediction, target: .labels(labels), contributes: logits != nil, gradient: gradient)
        return (Double(result.value), result.gradient)
    }

    /// The training loss of the global batch and its gradient with respect to this rank's
    /// `prediction`: exchanged by the loss itself (`DistributedSegmentationLoss`), or, for a mean
    /// over samples (`averagesOverSamples`), this rank's mean scaled by B_r / B and summed.
    func exchangedLoss(
        _ prediction: Tensor<Float>, target: SegmentationTarget<Float>, contributes: Bool, gradient: Bool
    ) throws -> DiceLossResult<Float> {
        if let exchanging = loss as? any DistributedSegmentationLoss {
            return try exchanging.evaluate(
                prediction, target: target, contributes: contributes, gradient: gradient, across: communicator)
        }
        let local = try loss.evaluate(prediction, target: target, gradient: gradient)
        return try SampleMeanExchange(communicator: communicator, contributes: contributes, mean: true)
            .combine(local, samples: prediction.shape.first ?? 0)
    }

    /// FNV-1a, 64 bits: equal strings give equal values on every machine.
    static func fingerprint(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// This rank's batches of `epoch` (the whole batches in one process), read, resized and
    /// augmented on a background thread while the steps run. A rank may get an
    /// empty batch in an epoch's last step; it still takes part in the step's collectives.
    ///
    /// - Throws: `DiceKitError.option` for augmentation settings out of range.
    func epochBatches(_ training: any SegmentationSource, epoch: Int) throws -> BatchPrefetcher {
        let seed = configuration.seed &+ UInt64(epoch)
        let plan: BatchPlan
        if communicator.isDistributed {
            let shards = DistributedShards(
                order: SegmentationDataset.permutation(training.count, seed: seed),
                batchPerRank: configuration.batchSize, ranks: communicator.size)
            let rank = communicator.rank
            plan = try BatchPlan(
                source: training, seed: seed, augmentation: configuration.augmentation,
                positions: (0..<shards.steps).map { shards.positions(step: $0, rank: rank) })
        } else {
            plan = try BatchPlan(
                source: training, size: configuration.batchSize, seed: seed,
                augmentation: configuration.augmentation)
        }
        return try BatchPrefetcher(plan: plan, depth: configuration.prefetchDepth)
    }

    /// One distributed step: forward on this rank's samples, the loss over the global batch,
    /// backward, the gradients summed over the ranks, clipping and the optimiser step.
    func distributedStep(_ batch: SegmentationBatch) throws -> StepOutcome {
        model.parameters.zeroGradients()
        let contributes = batch.count > 0
        // Synchronised batch norm: a rank without samples still runs forward and backward (on a
        // zero placeholder image, contributing nothing) to take part in the layers' collectives.
        let synchronizer = model.batchNorms.first?.synchronizer
        synchronizer?.contributes = contributes
        let input =
            contributes
            ? batch.images : synchronizer.map { _ in Tensor<Float>(shape: [1] + batch.images.shape.dropFirst()) }
        let output = try input.map { try model.forward($0, mode: .training) }
        let logits = contributes ? output : nil
        let bad = logits.map { $0.withUnsafeBufferPointer { $0.contains { !$0.isFinite } } } ?? false
        if try communicator.anyRank(bad) { return StepOutcome(loss: .nan, nonFinite: ("loss", .nan)) }
        let result = try distributedLoss(batch, logits: logits, gradient: true)
        let value = result.value // the global batch's: the same on every rank
        guard value.isFinite else { return StepOutcome(loss: value, nonFinite: ("loss", value)) }
        // The gradients are summed over the ranks in buckets, each started as backward finishes
        // its stage (GradientBuckets), so the transfers overlap the rest of backward.
        let buckets = GradientBuckets(model: model, communicator: communicator)
        model.backwardStageFinished = { buckets.stageFinished($0) }
        defer { model.backwardStageFinished = nil }
        if contributes {
            try model.backward(result.gradient!)
        } else if let output {
            try model.backward(Tensor(shape: output.shape)) // zeros: only the collectives matter
        }
        try buckets.finish()
        let norm = try clipGradientNorm(
            model.parameters.trainable, maxNorm: configuration.gradientClip ?? .greatestFiniteMagnitude)
        guard norm.isFinite else { return StepOutcome(loss: value, nonFinite: ("gradient norm", norm)) }
        optimizer.step(model.parameters.trainable)
        return StepOutcome(loss: value)
    }

    /// The logits and labels for the loss; on a rank without samples, a one-sample placeholder
    /// of the right shapes (it contributes nothing to the exchange).
    private func lossInputs(_ batch: SegmentationBatch, logits: Tensor<Float>?) throws -> (Tensor<Float>, LabelMap) {
        if let logits { return (logits, try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)) }
        let spatial = Array(batch.labelShape.dropFirst())
        let positions = spatial.reduce(1, *)
        return (
            Tensor(shape: [1] + spatial + [model.configuration.classes]),
            try LabelMap(shape: [1] + spatial, int32Labels: [Int32](repeating: 0, count: positions))
        )
    }

    /// The sum of `count` over the ranks (one process: `count`).
    func globalCount(_ count: Int) throws -> Int {
        guard communicator.isDistributed else { return count }
        var value = [Double(count)]
        try communicator.allReduceSum(&value)
        return Int(value[0])
    }

    /// Tells the communicator where training is, for the line that reports a rank that ends or
    /// fails: "epoch 3, step 1; last good checkpoint runs/x/last.safetensors (epoch 2)".
    func noteProgress(_ position: String, lastSaved: (path: String, epoch: Int)?) {
        communicator.noteProgress(
            "\(position); last good checkpoint " + (lastSaved.map { "\($0.path) (epoch \($0.epoch))" } ?? "none yet"))
    }

    /// Whether Ctrl-C was pressed on any rank (all ranks stop after the same step).
    func stopRequested() throws -> Bool {
        try communicator.anyRank(InterruptFlag.isRequested)
    }

    /// `evaluate` across the ranks: each takes every p-th sample of each global batch; the
    /// loss is the global batch's, and the Dice/IoU sums and counts are summed over the ranks.
    /// Rank 0's buffers (BatchNorm running statistics) are broadcast first.
    func distributedEvaluate(
        _ dataset: any SegmentationSource, batchSize: Int, postprocessing: (any LabelPostprocessor)?,
        predict: (Tensor<Float>) throws -> (Tensor<Float>, LabelMap),
        observe: ((_ predicted: LabelMap, _ target: LabelMap) throws -> Void)?
    ) throws -> (loss: Double, dice: [Double], iou: [Double]) {
        try broadcastValues(of: model.parameters.all.filter { !$0.isTrainable })
        let regions = model.configuration.regions
        let classes = regions?.scoredCount ?? model.configuration.classes
        let shards = DistributedShards(
            order: Array(0..<dataset.count), batchPerRank: batchSize, ranks: communicator.size)
        // Per class: Σ Dice, Σ IoU, images with the class; then the loss sum.
        var sums = [Double](repeating: 0, count: 3 * classes)
        var lossSum = 0.0
        for step in 0..<shards.steps {
            let indices = shards.indices(step: step, rank: communicator.rank)
            let part = try dataset.samples(indices)
            let prediction = indices.isEmpty ? nil : try predict(part.images)
            let logits = prediction?.0
            let bad = logits.map { $0.withUnsafeBufferPointer { $0.contains { !$0.isFinite } } } ?? false
            let batch = SegmentationBatch(
                images: part.images, labels: part.labels, labelShape: part.labelShape, indices: indices)
            if try communicator.anyRank(bad) {
                lossSum += .nan // weights that diverged give a NaN loss, not an input error
            } else {
                lossSum += try distributedLoss(batch, logits: logits, gradient: false).value
            }
            guard var predicted = prediction?.1 else { continue }
            let target = try LabelMap(shape: part.labelShape, int32Labels: part.labels)
            if let postprocessing { predicted = try postprocessing.apply(to: predicted) }
            try observe?(predicted, target)
            for score in try OverlapPool.scores(
                predicted: predicted, target: target, classes: classes, ignoreIndex: configuration.ignoreIndex,
                regions: regions)
            {
                sums[score.class] += score.dice
                sums[classes + score.class] += score.iou
                sums[2 * classes + score.class] += 1
            }
        }
        try communicator.allReduceSum(&sums)
        let dice = (0..<classes).map { sums[2 * classes + $0] > 0 ? sums[$0] / sums[2 * classes + $0] : .nan }
        let iou = (0..<classes).map { sums[2 * classes + $0] > 0 ? sums[classes + $0] / sums[2 * classes + $0] : .nan }
        return (lossSum / Double(max(shards.steps, 1)), dice, iou)
    }
}
