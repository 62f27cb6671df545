// The training loop: mini-batches with augmentation, forward, Dice-family loss and its
// closed-form gradient, backward, gradient clipping, the learning-rate schedule and the
// optimiser step; validation Dice and IoU per class after every epoch; checkpoints of the last
// and the best epoch (atomic writes; see TrainingCheckpoint); metrics.jsonl, summary.json and
// curves.svg; a non-finite loss or gradient norm stops (or skips) before the update; Ctrl-C saves
// and stops cleanly.

import Foundation

/// Trains a `UNet<Float>` on a `SegmentationSource` (a `SegmentationDataset` in memory, or a
/// folder or .npy data set read batch by batch); see `fit(training:validation:reporter:)`.
public final class Trainer {
    /// The network being trained.
    public let model: UNet<Float>
    /// The run's settings.
    public let configuration: TrainingConfiguration
    /// The optimiser (its state is saved inside each training checkpoint).
    public let optimizer: any Optimizer<Float>
    /// Every finished epoch so far (restored when resuming).
    public private(set) var history: [EpochMetrics] = []
    /// The processes that train together (default: this one alone). Set before `fit`; with
    /// more than one rank, `fit` runs data-parallel (Trainer+Distributed.swift): the batch size
    /// is per rank and only rank 0 writes files and reports progress.
    public var communicator: any Communicator = SingleProcessCommunicator()
    /// The running average of the weights when `configuration.weightAveraging` is set (updated
    /// after every optimiser step) or `configuration.stochasticWeightAveraging` (updated at the
    /// end of every epoch from its start; see Trainer+WeightAverage.swift), otherwise nil.
    public let weightAverage: WeightAverage<Float>?
    /// With more than one rank and `--norm batch`: whether BatchNorm uses the statistics of the
    /// whole global batch (synchronised batch norm, default true) or of each rank's share.
    public var synchronizesBatchNorm = true
    /// Whether `evaluate` throws on model outputs that are not finite (`Predictor.requireFinite`:
    /// a checkpoint whose weights overflow Float on the images; `dicekit eval` sets it) instead
    /// of counting the batch's loss as NaN (default false: a training run's validation, whose
    /// divergence the run reports).
    public var rejectsNonFiniteOutputs = false

    let loss: any SegmentationLoss
    /// `loss` over the deep-supervision outputs when `configuration.deepSupervision` is set.
    let deepSupervisionLoss: DeepSupervisionLoss?
    /// The checkpoint `resume` read, if any.
    private var resumedFrom: String?

    /// A trainer for `model`.
    ///
    /// - Throws: `DiceKitError.option` for invalid settings.
    public init(model: UNet<Float>, configuration: TrainingConfiguration) throws {
        try configuration.validate()
        self.model = model
        self.configuration = configuration
        model.precision = configuration.precision
        switch configuration.optimizer {
        case .adam:
            optimizer = try Adam<Float>(
                learningRate: configuration.learningRate, weightDecay: configuration.weightDecay)
        case .adamw:
            optimizer = try AdamW<Float>(
                learningRate: configuration.learningRate, weightDecay: configuration.weightDecay)
        case .sgd:
            optimizer = try SGD<Float>(
                learningRate: configuration.learningRate, momentum: configuration.momentum,
                weightDecay: configuration.weightDecay, nesterov: configuration.momentum > 0)
        }
        loss = try configuration.probedObjective(
            classes: model.configuration.classes, spatialRank: model.configuration.spatialRank,
            regions: model.configuration.regions)
        deepSupervisionLoss = try Self.enableDeepSupervision(model, configuration, loss: loss)
        if let averaging = configuration.weightAveraging {
            weightAverage = try WeightAverage(averaging, of: model.parameters)
        } else if configuration.stochasticWeightAveraging != nil {
            weightAverage = try WeightAverage(.equal, of: model.parameters)
        } else {
            weightAverage = nil
        }
    }

    /// Restores the weights, the optimiser state, the weight average and the epoch history of a
    /// training checkpoint (`last.safetensors`, see `TrainingCheckpoint`); `fit` then continues
    /// with the next epoch.
    ///
    /// - Throws: `DiceKitError` when the checkpoint belongs to another architecture or optimiser,
    ///   or has a weight average where the configuration has none or another (or the other way round).
    ///
    /// - Parameter path: where the checkpoint was read from, named as the last good checkpoint
    ///   if the run diverges before it writes one of its own (default nil).
    public func resume(from checkpoint: TrainingCheckpoint, path: String? = nil) throws {
        try restoreAverage(checkpoint.averagedWeights, path: path ?? "the checkpoint") // refusals first
        try model.parameters.load(checkpoint.model)
        try optimizer.loadState(OptimizerState(checkpoint.optimizerState), parameters: model.parameters.trainable)
        history = checkpoint.history
        resumedFrom = path
    }

    /// Reads `path` with `TrainingCheckpoint.read(contentsOf:)` and resumes from it.
    ///
    /// - Throws: `SafetensorsError` for an unreadable file; `DiceKitError.value` for a
    ///   model-only checkpoint (best.safetensors) or one of another model or optimiser.
    public func resume(fromCheckpoint path: String) throws {
        try resume(from: try TrainingCheckpoint.read(contentsOf: path), path: path)
    }

    /// Trains until epoch `configuration.epochs` (continuing after `history` when resumed).
    ///
    /// After every epoch: validation loss, Dice and IoU per class (MONAI's `DiceMetric` with
    /// empty classes excluded, mean over images); when the foreground Dice improves,
    /// `best.safetensors` (model only); then `last.safetensors` (model, optimiser state, epoch,
    /// history: the epoch's commit point); then the epoch's line in `metrics.jsonl`. At the end
    /// `summary.json` and `curves.svg`. A resumed run first rewrites `metrics.jsonl` from the
    /// history and removes temporary files that killed writes left in the output directory.
    /// A SIGINT (Ctrl-C) finishes the current step (or, when it arrives during an epoch's
    /// validation, that validation), saves `last.safetensors` and returns a summary marked
    /// interrupted.
    ///
    /// Each epoch's batches are prepared on a background thread (`BatchPrefetcher`, at most
    /// `configuration.prefetchDepth` ahead); the batches are the same as reading them in turn,
    /// and the share of the epoch spent waiting for them is `EpochMetrics.dataWaitFraction`.
    ///
    /// - Throws: `TrainingDivergence` when a non-finite loss or gradient norm stops the run
    ///   (after summary.json and curves.svg are written; see `NonFinitePolicy`);
    ///   `DiceKitError.option` when `history` already holds `configuration.epochs` epochs, when
    ///   the plateau schedule or early stopping has no validation set, or when `history` already
    ///   meets the early-stopping rule;
    ///   `DiceKitError` for data that does not fit the model; file errors, and the source's error
    ///   for a sample that cannot be read (it names the file).
    public func fit(
        training: any SegmentationSource, validation: (any SegmentationSource)?,
        reporter: ProgressReporter? = nil
    ) throws -> TrainingSummary {
        let reporter = communicator.rank == 0 ? reporter : nil
        guard configuration.epochs > history.count else {
            throw DiceKitError.option(
                "epochs \(configuration.epochs), but \(history.count) epoch(s) are already done; expected more than \(history.count)"
            )
        }
        try checkCompatible(training)
        if let validation { try checkCompatible(validation) }
        if communicator.isDistributed { try prepareDistributed(training: training, validation: validation) }
        let start = ProcessInfo.processInfo.systemUptime
        let stepsPerEpoch = (training.count + globalBatchSize - 1) / globalBatchSize
        let totalSteps = stepsPerEpoch * configuration.epochs
        let schedule: LearningRateSchedule
        switch configuration.schedule {
        case .constant: schedule = .constant
        case .cosine: schedule = .cosine(warmup: min(stepsPerEpoch, totalSteps - 1), total: totalSteps)
        case .poly: schedule = .polynomial(total: totalSteps)
        case .plateau: schedule = .constant // the base is set per epoch, below
        }
        if validation == nil, configuration.schedule == .plateau || configuration.earlyStopping != nil {
            throw DiceKitError.option(
                "\(configuration.schedule == .plateau ? "the plateau schedule" : "early stopping") watches the validation Dice; expected a validation set"
            )
        }
        if let rule = configuration.earlyStopping, let verdict = rule.verdict(history) {
            throw DiceKitError.option(
                "early stopping: the history already has \(verdict.waited) validated epoch(s) without improvement since epoch \(verdict.bestEpoch) (patience \(rule.patience)); expected a larger patience to continue"
            )
        }
        let output = communicator.rank == 0 ? configuration.outputDirectory : nil
        var log: MetricsLog?
        if let output {
            try FileSystem.createDirectory(output)
            AtomicFile.removeLeftovers(in: output)
            let path = "\(output)/metrics.jsonl"
            if !history.isEmpty { try MetricsLog.rewrite(history, to: path) }
            log = try MetricsLog(path: path, append: !history.isEmpty)
        }
        var bestDice = history.compactMap(\.validationDiceForeground).max() ?? -.infinity
        var interrupted = false
        var skippedSteps = 0
        var skippedInARow = 0
        var divergence: TrainingDivergence?
        var lastSaved: (path: String, epoch: Int)? = history.isEmpty ? nil : resumedFrom.map { ($0, history.count) }
        var stoppedEarly: EarlyStoppingRecord?
        InterruptFlag.install()
        defer { InterruptFlag.uninstall() }
        // The bfloat16 activation copies' memory, kept from step to step, is given back at the end.
        defer { BFloat16Storage.releaseKeptMappings() }

        epochs: for epoch in (history.count + 1)...configuration.epochs {
            let epochStart = ProcessInfo.processInfo.systemUptime
            let baseRate =
                configuration.schedule == .plateau
                ? configuration.plateau.learningRate(base: configuration.learningRate, after: history)
                : configuration.learningRate
            var lossSum = 0.0
            var steps = 0
            var images = 0
            // The next batches are decoded and augmented on a background thread meanwhile.
            let batches = try epochBatches(training, epoch: epoch)
            defer { batches.cancel() }
            var index = -1
            while let batch = try batches.next() {
                index += 1
                if communicator.isDistributed {
                    noteProgress("epoch \(epoch), step \(index + 1)", lastSaved: lastSaved)
                    CrashTestPoint.reach(index == 0 ? "rank-epoch-start" : "rank-step", epoch: epoch)
                    try CrashTestPoint.failIfRequested(index == 0 ? "rank-epoch-start" : "rank-step", epoch: epoch)
                }
                let stepIndex = (epoch - 1) * stepsPerEpoch + index
                optimizer.learningRate =
                    averagedLearningRate(epoch: epoch)
                    ?? schedule.learningRate(base: baseRate, step: stepIndex)
                let outcome = try step(batch)
                if let bad = outcome.nonFinite {
                    if case .skip(let limit) = configuration.onNonFinite, skippedInARow < limit {
                        skippedSteps += 1
                        skippedInARow += 1
                        if try stopRequested() {
                            interrupted = true
                            break
                        }
                        continue
                    }
                    divergence = TrainingDivergence(
                        epoch: epoch, step: index + 1, quantity: bad.quantity, value: bad.value,
                        skippedInARow: skippedInARow, lastCheckpoint: lastSaved,
                        summary: TrainingSummary(epochs: [], seconds: 0))
                    break epochs
                }
                skippedInARow = 0
                if configuration.weightAveraging != nil { weightAverage?.update(from: model.parameters) }
                lossSum += outcome.loss
                steps += 1
                let stepImages = try globalCount(batch.count)
                images += stepImages
                reporter?.step(epoch: epoch, step: index + 1, loss: outcome.loss, images: stepImages)
                if try stopRequested() {
                    interrupted = true
                    break
                }
            }
            let seconds = ProcessInfo.processInfo.systemUptime - epochStart
            batches.cancel()
            if let swa = configuration.stochasticWeightAveraging, epoch >= swa.start, steps > 0 {
                weightAverage?.update(from: model.parameters)
            }
            var metrics = EpochMetrics(
                epoch: epoch, trainLoss: steps > 0 ? lossSum / Double(steps) : .nan,
                learningRate: optimizer.learningRate, seconds: seconds,
                imagesPerSecond: Double(images) / max(seconds, 1e-9),
                dataWaitFraction: min(1, batches.waitSeconds / max(seconds, 1e-9)),
                precision: model.precision.effective)
            // With a weight average: the average's scores and model file (nil for an interrupted epoch).
            let (scores, averaged) =
                interrupted ? (nil, nil) : try validateEpoch(epoch, training: training, validation: validation)
            if let scores {
                metrics.validationLoss = scores.loss
                metrics.validationDice = scores.dice
                metrics.validationIoU = scores.iou
            }
            if interrupted && steps == 0 {
                reporter?.message(
                    "interrupted before a step of epoch \(epoch); kept \(output.map { "\($0)/last.safetensors" } ?? "nothing (no output directory)")"
                )
                break epochs
            }
            history.append(metrics)
            if let output {
                // The order makes a kill anywhere recoverable: best (and ema) first (a kill after
                // them redoes this epoch, which rewrites them identically), then last.safetensors
                // (the commit point: model, optimiser, average, epoch and history in one rename),
                // then the log line (rewritten from the checkpoint's history on resume).
                if let dice = metrics.validationDiceForeground, dice > bestDice {
                    bestDice = dice
                    try (averaged ?? modelFile(epoch: epoch)).write(to: "\(output)/best.safetensors")
                }
                try averaged?.write(to: "\(output)/\(averagedWeightsFileName)")
                try saveCheckpoint(to: "\(output)/last.safetensors", epoch: epoch)
                lastSaved = ("\(output)/last.safetensors", epoch)
                CrashTestPoint.reach("metrics-before", epoch: epoch)
                try log?.append(metrics)
                CrashTestPoint.reach("metrics-after", epoch: epoch)
            } else if let directory = configuration.outputDirectory {
                lastSaved = ("\(directory)/last.safetensors", epoch) // what rank 0 saved, for fault reports
            }
            if communicator.isDistributed { noteProgress("the end of epoch \(epoch)", lastSaved: lastSaved) }
            reporter?.endEpoch(metrics)
            // A stop asked for during validation (or the statistics pass before it) ends the run
            // here, at a finished epoch, rather than after the next epoch's first step.
            if !interrupted, epoch < configuration.epochs, try stopRequested() { interrupted = true }
            if interrupted {
                reporter?.message(
                    "interrupted: saved \(output.map { "\($0)/last.safetensors" } ?? "nothing (no output directory)")")
                break epochs
            }
            if let rule = configuration.earlyStopping, let verdict = rule.verdict(history), epoch < configuration.epochs
            {
                stoppedEarly = EarlyStoppingRecord(epoch: epoch, bestEpoch: verdict.bestEpoch, patience: rule.patience)
                reporter?.message(
                    "stopping early after epoch \(epoch): no validation Dice improvement for \(verdict.waited) epoch(s) since epoch \(verdict.bestEpoch) (patience \(rule.patience))"
                )
                break epochs
            }
        }
        let summary = TrainingSummary(
            epochs: history, interrupted: interrupted, diverged: divergence?.description,
            skippedSteps: skippedSteps, stoppedEarly: stoppedEarly,
            seconds: ProcessInfo.processInfo.systemUptime - start,
            configuration: describe())
        if let output {
            try summary.write(to: "\(output)/summary.json")
            try CurvePlot.write(history, to: "\(output)/curves.svg")
        }
        if var divergence {
            divergence.summary = summary
            throw divergence
        }
        return summary
    }

    /// One optimiser step on a batch; returns the batch's loss. When the loss or the gradient
    /// norm is not finite the update is dropped (weights and optimiser state unchanged) and the
    /// non-finite loss (or NaN) is returned.
    ///
    /// With a `communicator` of several ranks this is a collective: every rank calls it with its
    /// share of the global batch and gets the global batch's loss (`fit` also broadcasts rank 0's
    /// weights and sets up synchronised batch norm first; a direct caller does that itself).
    /// With a moving average (`configuration.weightAveraging`) the average follows the step;
    /// stochastic weight averaging is `fit`'s, once per epoch (a direct caller calls
    /// `weightAverage.update(from:)` itself).
    public func trainStep(_ batch: SegmentationBatch) throws -> Double {
        let outcome = try step(batch)
        if outcome.nonFinite == nil, configuration.weightAveraging != nil {
            weightAverage?.update(from: model.parameters)
        }
        return outcome.nonFinite == nil ? outcome.loss : (outcome.loss.isFinite ? .nan : outcome.loss)
    }

    /// What one step produced: its loss, and the non-finite quantity that dropped its update.
    struct StepOutcome {
        var loss: Double
        var nonFinite: (quantity: String, value: Double)?
    }

    /// Forward, loss, backward, clipping and the optimiser step, checking the loss (before the
    /// backward pass) and the global gradient norm (before the update) for non-finite values.
    private func step(_ batch: SegmentationBatch) throws -> StepOutcome {
        if deepSupervisionLoss != nil { return try deepSupervisionStep(batch) }
        if communicator.isDistributed { return try distributedStep(batch) }
        model.parameters.zeroGradients()
        let logits = try model.forward(batch.images, mode: .training)
        // The loss rejects non-finite logits as bad input; here they mean the run diverged,
        // and the loss they would give is NaN.
        if logits.withUnsafeBufferPointer({ $0.contains { !$0.isFinite } }) {
            return StepOutcome(loss: .nan, nonFinite: ("loss", .nan))
        }
        let result = try loss.evaluate(
            logits, target: .labels(try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)),
            gradient: true)
        let value = Double(result.value)
        guard value.isFinite else { return StepOutcome(loss: value, nonFinite: ("loss", value)) }
        try model.backward(result.gradient!)
        let norm = try clipGradientNorm(
            model.parameters.trainable, maxNorm: configuration.gradientClip ?? .greatestFiniteMagnitude)
        guard norm.isFinite else { return StepOutcome(loss: value, nonFinite: ("gradient norm", norm)) }
        optimizer.step(model.parameters.trainable)
        return StepOutcome(loss: value)
    }

    /// Validation loss, and Dice and IoU per class (index 0 = background; with regions, the
    /// background then each region) of the arg-max prediction (the regions' labels), each the mean over images in which the class is present (MONAI's
    /// `DiceMetric(include_background=True, ignore_empty=True, reduction="mean_batch")`).
    /// With a `communicator` of several ranks this is a collective: the ranks split each global
    /// batch of `batchSize` (per rank) × ranks and every rank returns the whole set's figures.
    ///
    /// `observe`, when given, is called once per batch with the arg-max prediction and the
    /// target of that batch, so that other metrics (e.g. surface distances) come from the same
    /// forward pass; in a distributed run each rank observes its own share of the batch.
    /// `postprocessing`, when given, filters the arg-max prediction's components first (the loss
    /// is the network's): the scores and `observe` see the filtered labels.
    /// `ensemble`, when given, predicts instead of `model` (whose BatchNorm statistics are still
    /// the ones broadcast in a distributed run): the labels are `Ensemble.labels` of its combined
    /// probabilities, and the loss is this trainer's loss of `Ensemble.logits(fromProbabilities:)`.
    ///
    /// - Throws: `DiceKitError.value` for an ensemble whose channels or classes differ from
    ///   `model`'s; otherwise as the forward passes and the data set's reads.
    public func evaluate(
        _ dataset: any SegmentationSource, batchSize: Int? = nil, postprocessing: (any LabelPostprocessor)? = nil,
        ensemble: Ensemble? = nil, observe: ((_ predicted: LabelMap, _ target: LabelMap) throws -> Void)? = nil
    ) throws -> (loss: Double, dice: [Double], iou: [Double]) {
        try checkCompatible(dataset)
        let predict = try predictions(ensemble)
        if communicator.isDistributed {
            return try distributedEvaluate(
                dataset, batchSize: batchSize ?? configuration.batchSize, postprocessing: postprocessing,
                predict: predict, observe: observe)
        }
        var pool = overlapPool()
        var lossSum = 0.0
        var batches = 0
        let prefetcher = try BatchPrefetcher(
            plan: BatchPlan(source: dataset, size: batchSize ?? configuration.batchSize),
            depth: configuration.prefetchDepth)
        defer { prefetcher.cancel() }
        while let batch = try prefetcher.next() {
            var (logits, predicted) = try predict(batch.images)
            let target = try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)
            // Non-finite logits (weights that diverged) give a NaN loss, not an input error.
            let finite = !logits.withUnsafeBufferPointer { $0.contains { !$0.isFinite } }
            lossSum += finite ? Double(try loss.evaluate(logits, target: .labels(target), gradient: false).value) : .nan
            batches += 1
            if let postprocessing { predicted = try postprocessing.apply(to: predicted) }
            try observe?(predicted, target)
            try pool.add(predicted: predicted, target: target)
        }
        let means = pool.means
        return (lossSum / Double(max(batches, 1)), means.dice, means.iou)
    }

    /// The logits and arg-max labels of a batch of images: `model`'s, or `ensemble`'s (its mean
    /// logits for `.logits`; otherwise its probabilities' labels, and logits whose softmax gives
    /// those probabilities).
    func predictions(_ ensemble: Ensemble?) throws -> (Tensor<Float>) throws -> (Tensor<Float>, LabelMap) {
        let rejects = rejectsNonFiniteOutputs
        let check = { (scores: Tensor<Float>, what: String) in
            if rejects { try Predictor.requireFinite(scores, of: what) }
        }
        guard let ensemble else {
            return { [model] images in
                let logits = try model.forward(images, mode: .evaluation)
                try check(logits, "the model's logits")
                return (logits, try model.configuration.labels(logits: logits))
            }
        }
        let (own, theirs) = (model.configuration, ensemble.configuration)
        guard own.predictsLike(theirs) else {
            throw DiceKitError.value(
                "the ensemble takes \(theirs.inputChannels) channel(s) and predicts \(theirs.classes) classes; the trainer's model \(own.inputChannels) and \(own.classes)"
            )
        }
        if ensemble.combination == .logits {
            return { images in
                let logits = try ensemble.meanLogits(images: images, batchSize: images.shape[0])
                try check(logits, "the ensemble's mean logits")
                return (logits, try ensemble.configuration.labels(logits: logits))
            }
        }
        return { images in
            let probabilities = try ensemble.probabilities(images: images, batchSize: images.shape[0])
            try check(probabilities, "the ensemble's probabilities")
            return (
                ensemble.logits(fromProbabilities: probabilities), try ensemble.labels(probabilities: probabilities)
            )
        }
    }

    /// Writes the training checkpoint (`TrainingCheckpoint`: model, optimiser state, `epoch`,
    /// the history and `configuration.recordedOptions`) to `path` as one file, atomically.
    ///
    /// - Throws: `DiceKitError.file` when it cannot be written (the previous file stays intact).
    public func saveCheckpoint(to path: String, epoch: Int) throws {
        var modelFile = model.parameters.stateDict(metadata: model.configuration.metadata)
        modelFile.metadata["loss"] = configuration.loss.rawValue
        let checkpoint = TrainingCheckpoint(
            model: modelFile, optimizerState: optimizer.stateDict().safetensors, epoch: epoch,
            history: history.filter { $0.epoch <= epoch },
            options: configuration.recordedOptions, averagedWeights: averagedWeightsState)
        try AtomicFile.write(checkpoint.file.encode(), to: path) { stage in
            CrashTestPoint.reach("checkpoint-\(stage.rawValue)", epoch: epoch)
        }
    }

    /// Writes the model alone (PyTorch's state_dict, loadable with `load_state_dict`) with
    /// `epoch`, the loss, "dicekit.checkpoint" = "model", `configuration.recordedOptions`
    /// (when any) and `metadata` (default none) in the metadata, atomically.
    ///
    /// - Throws: `SafetensorsError.io` when it cannot be written (the previous file stays intact).
    public func saveModel(to path: String, epoch: Int, metadata extra: [String: String] = [:]) throws {
        try modelFile(epoch: epoch, metadata: extra).write(to: path)
    }

    /// The file `saveModel` writes.
    func modelFile(epoch: Int, metadata extra: [String: String] = [:]) -> SafetensorsFile {
        var metadata = ["epoch": "\(epoch)", "loss": configuration.loss.rawValue, "dicekit.checkpoint": "model"]
        metadata.merge(extra) { _, new in new }
        if !configuration.recordedOptions.isEmpty {
            metadata[TrainingCheckpoint.optionsKey] = TrainingCheckpoint.encoded(options: configuration.recordedOptions)
        }
        return model.checkpointFile(metadata: metadata)
    }

    func checkCompatible(_ dataset: any SegmentationSource) throws {
        if let ignore = dataset.ignoreIndex, ignore != configuration.ignoreIndex {
            throw DiceKitError.value(
                "the data marks unlabelled positions with \(ignore); the training configuration's ignore index is \(configuration.ignoreIndex.map(String.init) ?? "not set"); expected the same (--ignore-index \(ignore))"
            )
        }
        let c = model.configuration
        guard dataset.channels == c.inputChannels else {
            throw DiceKitError.shape(
                "data has \(dataset.channels) image channels; the model expects \(c.inputChannels)")
        }
        try checkLabelCount(dataset.classes)
        guard dataset.spatialShape.count == c.spatialRank,
            dataset.spatialShape.allSatisfy({ $0 % (1 << c.depth) == 0 })
        else {
            throw DiceKitError.shape(
                "images of size \(dataset.spatialShape) do not fit a depth-\(c.depth) U-Net; extents must be divisible by \(1 << c.depth)"
            )
        }
    }

    /// Checks that labels 0..<`classes` are what the model predicts: at most its classes, or
    /// the labels its regions cover.
    ///
    /// - Throws: `DiceKitError.value` naming the largest label and what the model predicts.
    func checkLabelCount(_ classes: Int) throws {
        let c = model.configuration
        guard let regions = c.regions else {
            guard classes <= c.classes else {
                throw DiceKitError.value(
                    "data has labels up to \(classes - 1); the model predicts \(c.classes) classes")
            }
            return
        }
        guard classes <= regions.labelClasses else {
            throw DiceKitError.value(
                "data has labels up to \(classes - 1); the model's regions \(regions.description) cover labels up to \(regions.labelClasses - 1)"
            )
        }
    }

    /// An empty pool of the model's classes, or of its regions.
    func overlapPool() -> OverlapPool {
        OverlapPool(
            classes: model.configuration.classes, ignoreIndex: configuration.ignoreIndex,
            regions: model.configuration.regions)
    }

    func describe() -> [JSONField] {
        let c = configuration
        let m = model.configuration
        let names = c.classNames.map { [JSONField("class_names", .array($0.map(JSONValue.string)))] } ?? []
        let fields =
            [
                JSONField("epochs", .integer(c.epochs)), JSONField("batch_size", .integer(c.batchSize)),
                JSONField("learning_rate", .number(c.learningRate)),
                JSONField("optimizer", .string(c.optimizer.rawValue)),
                JSONField("schedule", .string(c.schedule.rawValue)), JSONField("loss", .string(c.loss.rawValue)),
                JSONField("seed", .integer(Int(truncatingIfNeeded: c.seed))), JSONField("classes", .integer(m.classes)),
                JSONField("base", .integer(m.baseWidth)), JSONField("depth", .integer(m.depth)),
                JSONField("normalization", .string(m.normalization.name)),
                JSONField("precision", .string(c.precision.effective.rawValue)),
            ] + (c.precision.arithmetic.map { [JSONField("bf16_arithmetic", .string($0.rawValue))] } ?? [])
        // The loss options given, by their CLI spelling in snake case ("ce_class_weights", …).
        let lossOptions = c.lossOptions.given.map {
            JSONField($0.name.replacingOccurrences(of: "-", with: "_"), $0.value)
        }
        let supervision =
            c.deepSupervision.map {
                [
                    JSONField("deep_supervision", .string($0.name)),
                    JSONField("deep_supervision_levels", .integer(model.deepSupervisionOutputs)),
                ]
            } ?? []
        let ignore = c.ignoreIndex.map { [JSONField("ignore_index", .integer($0))] } ?? []
        let average =
            c.weightAveraging.map {
                [
                    JSONField("ema_decay", .number($0.decay)), JSONField("ema_warmup", .bool($0.warmup)),
                    JSONField("ema_statistics", .string($0.statisticsName)),
                ]
            } ?? []
        let stochastic =
            c.stochasticWeightAveraging.map {
                [
                    JSONField("swa_start", .integer($0.start)),
                    JSONField("swa_lr", $0.learningRate.map { .number($0) } ?? .null),
                    JSONField("swa_anneal_epochs", .integer($0.annealEpochs)),
                    JSONField("swa_anneal", .string($0.anneal.rawValue)),
                    JSONField("swa_statistics", .string($0.statisticsName)),
                ]
            } ?? []
        return fields + lossOptions + supervision + ignore + average + stochastic + names
    }
}
