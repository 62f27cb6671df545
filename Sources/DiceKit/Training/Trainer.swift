// The training loop: batches → forward → loss → backward → (clip) → optimiser step, with a
// validation pass, progress, metrics.jsonl, summary.json, curves.svg and checkpoints after
// every epoch, Ctrl-C handling and resume. The model and the loss are supplied by the caller
// (`SegmentationModel`, `SegmentationLoss`), so the loop does not depend on either.

import Foundation

/// Trains a `SegmentationModel` on a `SegmentationDataset`.
///
/// Files in `options.outputDirectory` (when set), rewritten after every epoch:
/// metrics.jsonl (one object per epoch), summary.json, curves.svg, last.safetensors (+ its
/// .optimizer.safetensors) and best.safetensors (highest validation foreground Dice, the later
/// epoch on ties; the last epoch when there is no validation set). On Ctrl-C (SIGINT/SIGTERM) the current epoch stops
/// at the next step, last.safetensors is saved with the weights so far (recorded as the last
/// finished epoch), the summary is marked "interrupted", and `fit` returns normally.
public final class Trainer<Model: SegmentationModel> {
    /// The network.
    public let model: Model
    /// The optimiser stepping `model.parameters.trainable`.
    public let optimizer: any Optimizer<Model.Scalar>
    /// The loss driving training (and reported on the validation set).
    public let loss: SegmentationLoss<Model.Scalar>
    /// The run's settings.
    public let options: TrainerOptions
    /// The progress reporter; nil (default) makes one that writes to standard error.
    public var reporter: ProgressReporter?
    /// The finished epochs (including those before a resume, read back from metrics.jsonl).
    public private(set) var history: [EpochMetrics] = []
    private var firstEpoch = 1

    /// A trainer; nothing runs until `fit`.
    public init(model: Model, optimizer: any Optimizer<Model.Scalar>, loss: @escaping SegmentationLoss<Model.Scalar>,
                options: TrainerOptions = .init()) {
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.options = options
    }

    /// Restores model and optimiser from a checkpoint written by `fit` (see `Checkpoint.resume`)
    /// and continues after its epoch; earlier epochs are read back from the output directory's
    /// metrics.jsonl when it exists.
    ///
    /// - Throws: as `Checkpoint.resume`.
    public func resume(from path: String) throws {
        let done = try Checkpoint.resume(from: path, model: model.parameters, optimizer: optimizer)
        firstEpoch = done + 1
        if let directory = options.outputDirectory {
            let log = URL(fileURLWithPath: directory).appendingPathComponent("metrics.jsonl").path
            history = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { EpochMetrics(jsonLine: String($0)) }.filter { $0.epoch <= done }
        }
    }

    /// Trains for epochs `firstEpoch…options.epochs` and returns the summary.
    ///
    /// - Throws: `DiceKitError.option` for invalid options; `DiceKitError.file` when the output
    ///   directory cannot be written; any error of the model or the loss.
    @discardableResult
    public func fit(training: SegmentationDataset, validation: SegmentationDataset? = nil) throws -> TrainingSummary {
        try options.validate()
        let start = ProcessInfo.processInfo.systemUptime
        let files = try options.outputDirectory.map { try OutputFiles(directory: $0, append: firstEpoch > 1) }
        let stepsPerEpoch = try training.batches(size: options.batchSize).count
        let reporter = self.reporter ?? ProgressReporter(totalEpochs: options.epochs, stepsPerEpoch: stepsPerEpoch, firstEpoch: firstEpoch)
        InterruptFlag.install()
        defer { InterruptFlag.uninstall() }
        var interrupted = false
        var bestScore = history.compactMap(\.validationDiceForeground).max() ?? -Double.infinity
        var epoch = firstEpoch
        while epoch <= options.epochs {
            let epochStart = ProcessInfo.processInfo.systemUptime
            optimizer.learningRate = options.schedule.learningRate(base: options.learningRate, step: epoch - 1)
            let batches = try training.batches(size: options.batchSize, seed: options.seed &+ UInt64(epoch),
                                               augmentation: options.augmentation)
            var (lossSum, images) = (0.0, 0)
            for (index, batch) in batches.enumerated() {
                if InterruptFlag.isRequested { interrupted = true; break }
                let value = try trainingStep(batch)
                lossSum += value * Double(batch.count)
                images += batch.count
                reporter.step(epoch: epoch, step: index + 1, loss: value, images: batch.count)
            }
            if interrupted { break }
            let trainSeconds = ProcessInfo.processInfo.systemUptime - epochStart
            var metrics = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(max(images, 1)), learningRate: optimizer.learningRate,
                                       seconds: 0, imagesPerSecond: trainSeconds > 0 ? Double(images) / trainSeconds : 0)
            if let validation {
                let result = try evaluate(validation)
                metrics.validationLoss = result.loss
                metrics.validationDice = result.tally.dice
                metrics.validationIoU = result.tally.iou
            }
            metrics.seconds = ProcessInfo.processInfo.systemUptime - epochStart
            history.append(metrics)
            reporter.endEpoch(metrics)
            if let files {
                try files.log.append(metrics)
                try Checkpoint.save(model: model.parameters, optimizer: optimizer, epoch: epoch,
                                    metadata: options.checkpointMetadata, to: files.last)
                let score = metrics.validationDiceForeground ?? Double(epoch)
                if score >= bestScore {  // ties go to the later epoch, as `TrainingSummary.best`
                    bestScore = score
                    try Checkpoint.save(model: model.parameters, optimizer: nil, epoch: epoch,
                                        metadata: options.checkpointMetadata, to: files.best)
                }
                try writeReports(files, interrupted: false, start: start)
            }
            epoch += 1
        }
        if interrupted {
            reporter.message("interrupted: saving the last checkpoint")
            if let files {
                try Checkpoint.save(model: model.parameters, optimizer: optimizer, epoch: epoch - 1,
                                    metadata: options.checkpointMetadata, to: files.last)
            }
        }
        let summary = TrainingSummary(epochs: history, interrupted: interrupted,
                                      seconds: ProcessInfo.processInfo.systemUptime - start, configuration: options.configuration)
        if let files { try writeReports(files, interrupted: interrupted, start: start) }
        return summary
    }

    /// One step on one batch; returns the loss value.
    private func trainingStep(_ batch: SegmentationBatch) throws -> Double {
        model.parameters.zeroGradients()
        let logits = try model.forward(Self.input(batch), mode: .training)
        let (value, gradient) = try loss(logits, batch)
        try model.backward(gradient)
        if let limit = options.gradientClipNorm {
            let norm = clipGradientNorm(model.parameters.trainable, maxNorm: limit)
            guard norm.isFinite else { return value }  // skip a step with NaN/∞ gradients
        }
        optimizer.step(model.parameters.trainable)
        return value
    }

    /// The loss (mean over samples) and the overlap tally of `data` in evaluation mode.
    ///
    /// - Parameter batchSize: default `options.batchSize`.
    /// - Throws: any error of the model or the loss.
    public func evaluate(_ data: SegmentationDataset, batchSize: Int? = nil) throws -> (loss: Double, tally: OverlapTally) {
        var tally = OverlapTally(classes: data.classes)
        var (lossSum, count) = (0.0, 0)
        for batch in try data.batches(size: batchSize ?? options.batchSize) {
            let logits = try model.forward(Self.input(batch), mode: .evaluation)
            lossSum += try loss(logits, batch).value * Double(batch.count)
            count += batch.count
            try tally.add(logits: logits, labels: batch.labels)
        }
        return (lossSum / Double(max(count, 1)), tally)
    }

    private static func input(_ batch: SegmentationBatch) -> Tensor<Model.Scalar> {
        (batch.images as? Tensor<Model.Scalar>) ?? batch.images.converted(to: Model.Scalar.self)
    }

    private func writeReports(_ files: OutputFiles, interrupted: Bool, start: Double) throws {
        let summary = TrainingSummary(epochs: history, interrupted: interrupted,
                                      seconds: ProcessInfo.processInfo.systemUptime - start, configuration: options.configuration)
        try summary.write(to: files.summary)
        try CurvePlot.write(history, to: files.curves)
    }
}

/// The files of a run's output directory.
private struct OutputFiles {
    let log: MetricsLog
    let summary: String, curves: String, last: String, best: String

    init(directory: String, append: Bool) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DiceKitError.file(path: directory, reason: "cannot create the output directory")
        }
        let base = URL(fileURLWithPath: directory)
        func path(_ name: String) -> String { base.appendingPathComponent(name).path }
        log = try MetricsLog(path: path("metrics.jsonl"), append: append)
        (summary, curves, last, best) = (path("summary.json"), path("curves.svg"), path("last.safetensors"), path("best.safetensors"))
    }
}

extension EpochMetrics {
    /// Parses one line of metrics.jsonl (nil when it is not such a line).
    public init?(jsonLine line: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let epoch = object["epoch"] as? Int, let loss = object["train_loss"] as? Double else { return nil }
        self.init(epoch: epoch, trainLoss: loss, validationLoss: object["val_loss"] as? Double,
                  validationDice: object["val_dice"] as? [Double] ?? [], validationIoU: object["val_iou"] as? [Double] ?? [],
                  learningRate: object["lr"] as? Double ?? 0, seconds: object["seconds"] as? Double ?? 0,
                  imagesPerSecond: object["images_per_second"] as? Double ?? 0)
    }
}
