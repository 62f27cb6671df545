// The training loop: mini-batches with augmentation, forward, Dice-family loss and its
// closed-form gradient, backward, gradient clipping, the learning-rate schedule and the
// optimiser step; validation Dice and IoU per class after every epoch; checkpoints of the last
// and the best epoch (atomic writes); metrics.jsonl, summary.json and curves.svg; Ctrl-C saves
// and stops cleanly.

import Foundation

/// Trains a `UNet<Float>` on a `SegmentationDataset`; see `fit(training:validation:reporter:)`.
public final class Trainer {
    /// The network being trained.
    public let model: UNet<Float>
    /// The run's settings.
    public let configuration: TrainingConfiguration
    /// The optimiser (its state is saved next to each checkpoint).
    public let optimizer: any Optimizer<Float>
    /// Every finished epoch so far (restored when resuming).
    public private(set) var history: [EpochMetrics] = []

    private let loss: DiceLoss

    /// A trainer for `model`.
    ///
    /// - Throws: `DiceKitError.option` for invalid settings.
    public init(model: UNet<Float>, configuration: TrainingConfiguration) throws {
        try configuration.validate()
        self.model = model
        self.configuration = configuration
        switch configuration.optimizer {
        case .adam: optimizer = Adam<Float>(learningRate: configuration.learningRate, weightDecay: configuration.weightDecay)
        case .adamw: optimizer = AdamW<Float>(learningRate: configuration.learningRate, weightDecay: configuration.weightDecay)
        case .sgd:
            optimizer = SGD<Float>(learningRate: configuration.learningRate, momentum: configuration.momentum,
                                   weightDecay: configuration.weightDecay, nesterov: configuration.momentum > 0)
        }
        loss = configuration.loss.loss
    }

    /// Restores the optimiser state and the epoch history saved with a checkpoint by this class
    /// (the model's weights are loaded with `UNet.load(contentsOf:)`).
    ///
    /// - Throws: `SafetensorsError` / `DiceKitError` when the state file is missing or belongs
    ///   to another optimiser or model.
    public func resume(fromCheckpoint path: String) throws {
        let state = try SafetensorsFile.read(contentsOf: Self.optimizerPath(for: path))
        try optimizer.loadState(state, parameters: model.parameters.trainable)
        let directory = (path as NSString).deletingLastPathComponent
        let log = (directory as NSString).appendingPathComponent("metrics.jsonl")
        if let text = try? String(contentsOfFile: log, encoding: .utf8) {
            history = text.split(separator: "\n").compactMap { EpochMetrics(jsonLine: String($0)) }
        }
        let checkpointEpoch = Int(try SafetensorsFile.read(contentsOf: path).metadata["epoch"] ?? "") ?? history.count
        history = history.filter { $0.epoch <= checkpointEpoch }
    }

    /// The optimiser-state file that accompanies a checkpoint: `X.safetensors` → `X.optim.safetensors`.
    public static func optimizerPath(for checkpoint: String) -> String {
        let base = checkpoint.hasSuffix(".safetensors") ? String(checkpoint.dropLast(12)) : checkpoint
        return base + ".optim.safetensors"
    }

    /// Trains for the configured epochs (continuing after `history` when resumed).
    ///
    /// After every epoch: validation loss, Dice and IoU per class (MONAI's `DiceMetric` with
    /// empty classes excluded, mean over images), a line in `metrics.jsonl`, `last.safetensors`
    /// and, when the foreground Dice improves, `best.safetensors`; at the end `summary.json` and
    /// `curves.svg`. A SIGINT (Ctrl-C) finishes the current step, saves `last.safetensors` and
    /// returns a summary marked interrupted.
    ///
    /// - Throws: `DiceKitError` for data that does not fit the model; file errors.
    public func fit(training: SegmentationDataset, validation: SegmentationDataset?,
                    reporter: ProgressReporter? = nil) throws -> TrainingSummary {
        try checkCompatible(training)
        if let validation { try checkCompatible(validation) }
        let start = ProcessInfo.processInfo.systemUptime
        let stepsPerEpoch = (training.count + configuration.batchSize - 1) / configuration.batchSize
        let totalSteps = stepsPerEpoch * configuration.epochs
        let schedule: LearningRateSchedule
        switch configuration.schedule {
        case .constant: schedule = .constant
        case .cosine: schedule = .cosine(warmup: min(stepsPerEpoch, totalSteps - 1), total: totalSteps)
        case .poly: schedule = .polynomial(total: totalSteps)
        }
        let output = configuration.outputDirectory
        if let output { try FileSystem.createDirectory(output) }
        let log = try output.map { try MetricsLog(path: "\($0)/metrics.jsonl", append: !history.isEmpty) }
        var bestDice = history.compactMap(\.validationDiceForeground).max() ?? -.infinity
        var interrupted = false
        InterruptFlag.install()
        defer { InterruptFlag.uninstall() }

        epochs: for epoch in (history.count + 1)...max(configuration.epochs, history.count + 1) where epoch <= configuration.epochs {
            let epochStart = ProcessInfo.processInfo.systemUptime
            var lossSum = 0.0, steps = 0, images = 0
            let batches = try training.batches(size: configuration.batchSize, seed: configuration.seed &+ UInt64(epoch),
                                               augmentation: configuration.augmentation)
            for batch in batches {
                let stepIndex = (epoch - 1) * stepsPerEpoch + steps
                optimizer.learningRate = schedule.learningRate(base: configuration.learningRate, step: stepIndex)
                let value = try trainStep(batch)
                lossSum += value
                steps += 1
                images += batch.count
                reporter?.step(epoch: epoch, step: steps, loss: value, images: batch.count)
                if InterruptFlag.isRequested { interrupted = true; break }
            }
            let seconds = ProcessInfo.processInfo.systemUptime - epochStart
            var metrics = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(max(steps, 1)),
                                       learningRate: optimizer.learningRate, seconds: seconds,
                                       imagesPerSecond: Double(images) / max(seconds, 1e-9))
            if let validation, !interrupted {
                let scores = try evaluate(validation)
                metrics.validationLoss = scores.loss
                metrics.validationDice = scores.dice
                metrics.validationIoU = scores.iou
            }
            if !interrupted || steps > 0 {
                history.append(metrics)
                try log?.append(metrics)
                reporter?.endEpoch(metrics)
            }
            if let output {
                try saveCheckpoint(to: "\(output)/last.safetensors", epoch: metrics.epoch)
                if let dice = metrics.validationDiceForeground, dice > bestDice {
                    bestDice = dice
                    try saveCheckpoint(to: "\(output)/best.safetensors", epoch: metrics.epoch)
                }
            }
            if interrupted {
                reporter?.message("interrupted: saved \(output.map { "\($0)/last.safetensors" } ?? "nothing (no output directory)")")
                break epochs
            }
        }
        let summary = TrainingSummary(epochs: history, interrupted: interrupted,
                                      seconds: ProcessInfo.processInfo.systemUptime - start,
                                      configuration: describe())
        if let output {
            try summary.write(to: "\(output)/summary.json")
            try CurvePlot.write(history, to: "\(output)/curves.svg")
        }
        return summary
    }

    /// One optimiser step on a batch; returns the batch's loss.
    public func trainStep(_ batch: SegmentationBatch) throws -> Double {
        model.parameters.zeroGradients()
        let logits = try model.forward(batch.images, mode: .training)
        let result = try loss.evaluate(logits, target: .labels(try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)),
                                       gradient: true)
        try model.backward(result.gradient!)
        if let clip = configuration.gradientClip { _ = clipGradientNorm(model.parameters.trainable, maxNorm: clip) }
        optimizer.step(model.parameters.trainable)
        return Double(result.value)
    }

    /// Validation loss, and Dice and IoU per class (index 0 = background) of the arg-max
    /// prediction, each the mean over images in which the class is present (MONAI's
    /// `DiceMetric(include_background=True, ignore_empty=True, reduction="mean_batch")`).
    public func evaluate(_ dataset: SegmentationDataset, batchSize: Int? = nil) throws -> (loss: Double, dice: [Double], iou: [Double]) {
        try checkCompatible(dataset)
        let classes = model.configuration.classes
        var dice = [[Double]](repeating: [], count: classes), iou = dice
        var lossSum = 0.0, batches = 0
        for batch in try dataset.batches(size: batchSize ?? configuration.batchSize) {
            let logits = try model.forward(batch.images, mode: .evaluation)
            let target = try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)
            lossSum += Double(try loss.evaluate(logits, target: .labels(target)).value)
            batches += 1
            let diceMetric = OverlapMetric(score: .dice, reduction: .none, emptyClass: .exclude)
            let counts = try diceMetric.counts(predicted: try Predictor.argmax(logits), target: target, classes: classes)
            let iouScores = OverlapMetric(score: .iou, reduction: .none, emptyClass: .exclude).scores(counts)
            for (i, (d, j)) in zip(diceMetric.scores(counts), iouScores).enumerated() where !d.isNaN {
                dice[i % classes].append(d)
                iou[i % classes].append(j)
            }
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        return (lossSum / Double(max(batches, 1)), dice.map(mean), iou.map(mean))
    }

    /// Saves the model (with `epoch` in the metadata) and the optimiser state next to it.
    public func saveCheckpoint(to path: String, epoch: Int) throws {
        try model.save(to: path, metadata: ["epoch": "\(epoch)", "loss": configuration.loss.rawValue])
        try optimizer.stateDict().write(to: Self.optimizerPath(for: path))
    }

    private func checkCompatible(_ dataset: SegmentationDataset) throws {
        let c = model.configuration
        guard dataset.channels == c.inputChannels else {
            throw DiceKitError.shape("data has \(dataset.channels) image channels; the model expects \(c.inputChannels)")
        }
        guard dataset.classes <= c.classes else {
            throw DiceKitError.value("data has labels up to \(dataset.classes - 1); the model predicts \(c.classes) classes")
        }
        guard dataset.spatialShape.count == c.spatialRank,
              dataset.spatialShape.allSatisfy({ $0 % (1 << c.depth) == 0 }) else {
            throw DiceKitError.shape("images of size \(dataset.spatialShape) do not fit a depth-\(c.depth) U-Net; extents must be divisible by \(1 << c.depth)")
        }
    }

    private func describe() -> [JSONField] {
        let c = configuration, m = model.configuration
        return [JSONField("epochs", .integer(c.epochs)), JSONField("batch_size", .integer(c.batchSize)),
                JSONField("learning_rate", .number(c.learningRate)), JSONField("optimizer", .string(c.optimizer.rawValue)),
                JSONField("schedule", .string(c.schedule.rawValue)), JSONField("loss", .string(c.loss.rawValue)),
                JSONField("seed", .integer(Int(truncatingIfNeeded: c.seed))), JSONField("classes", .integer(m.classes)),
                JSONField("base", .integer(m.baseWidth)), JSONField("depth", .integer(m.depth)),
                JSONField("normalization", .string(m.normalization.name))]
    }
}
