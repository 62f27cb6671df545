// summary.json: the figures a user (and `make demo`) reads after training.

/// The outcome of a training run, written as `OUT/summary.json`.
///
/// Keys, in order: "epochs", "interrupted", "diverged" (null, or the one-line message of a run
/// stopped by a non-finite loss or gradient norm), "skipped_steps" (steps whose update was
/// dropped for a non-finite value), "stopped_early" (null, or {"epoch", "best_epoch", "patience"}
/// of a run that early stopping ended before its last epoch), "seconds", "images_per_second" (mean of the
/// epochs' training throughput), "data_wait_fraction" (the share of all epochs' training time
/// spent waiting for data, weighted by the epochs' seconds; null when not measured),
/// "val_dice_foreground" (the **best** epoch's foreground Dice: the checkpoint that is kept),
/// "best_epoch", "best_val_dice" and "best_val_iou" (per class), "final_val_dice_foreground",
/// "final_val_dice", "final_val_iou", "final_train_loss", then "configuration".
public struct TrainingSummary: Sendable, Equatable {
    /// Every finished epoch, in order.
    public var epochs: [EpochMetrics]
    /// Whether the run was stopped early (Ctrl-C).
    public var interrupted: Bool
    /// Why a diverging run stopped (`TrainingDivergence.description`); nil otherwise.
    public var diverged: String?
    /// Steps whose update was dropped for a non-finite loss or gradient norm.
    public var skippedSteps: Int
    /// Where early stopping ended the run (nil when it ran every epoch or stopped otherwise).
    public var stoppedEarly: EarlyStoppingRecord?
    /// Total wall-clock seconds.
    public var seconds: Double
    /// Free-form settings to record (model, loss, optimiser, data…).
    public var configuration: [JSONField]

    /// A summary of `epochs`.
    public init(
        epochs: [EpochMetrics], interrupted: Bool = false, diverged: String? = nil, skippedSteps: Int = 0,
        stoppedEarly: EarlyStoppingRecord? = nil, seconds: Double, configuration: [JSONField] = []
    ) {
        self.stoppedEarly = stoppedEarly
        self.epochs = epochs
        self.interrupted = interrupted
        self.diverged = diverged
        self.skippedSteps = skippedSteps
        self.seconds = seconds
        self.configuration = configuration
    }

    /// The epoch with the highest validation foreground Dice (the last one on ties; the last
    /// epoch when none was validated).
    public var best: EpochMetrics? {
        let validated = epochs.filter { $0.validationDiceForeground != nil }
        return validated.max { ($0.validationDiceForeground!, $0.epoch) < ($1.validationDiceForeground!, $1.epoch) }
            ?? epochs.last
    }

    /// The share of the epochs' training seconds spent waiting for data (epochs without the
    /// figure left out); nil when no epoch has it.
    public var dataWaitFraction: Double? {
        let measured = epochs.filter { $0.dataWaitFraction != nil }
        guard !measured.isEmpty else { return nil }
        let total = measured.reduce(0.0) { $0 + $1.seconds }
        guard total > 0 else { return 0 }
        return measured.reduce(0.0) { $0 + $1.dataWaitFraction! * $1.seconds } / total
    }

    /// The JSON document (see the type's documentation for the keys).
    public var json: JSONValue {
        let final = epochs.last
        let meanRate = epochs.isEmpty ? nil : epochs.reduce(0.0) { $0 + $1.imagesPerSecond } / Double(epochs.count)
        return [
            "epochs": .integer(epochs.count),
            "interrupted": .bool(interrupted),
            "diverged": diverged.map(JSONValue.string) ?? .null,
            "skipped_steps": .integer(skippedSteps),
            "stopped_early": stoppedEarly.map {
                ["epoch": .integer($0.epoch), "best_epoch": .integer($0.bestEpoch), "patience": .integer($0.patience)]
            } ?? .null,
            "seconds": .number(seconds),
            "images_per_second": meanRate.map(JSONValue.number) ?? .null,
            "data_wait_fraction": dataWaitFraction.map(JSONValue.number) ?? .null,
            "val_dice_foreground": best?.validationDiceForeground.map(JSONValue.number) ?? .null,
            "best_epoch": best.map { .integer($0.epoch) } ?? .null,
            "best_val_dice": .numbers(best?.validationDice ?? []),
            "best_val_iou": .numbers(best?.validationIoU ?? []),
            "final_val_dice_foreground": final?.validationDiceForeground.map(JSONValue.number) ?? .null,
            "final_val_dice": .numbers(final?.validationDice ?? []),
            "final_val_iou": .numbers(final?.validationIoU ?? []),
            "final_train_loss": final.map { .number($0.trainLoss) } ?? .null,
            "configuration": .object(configuration),
        ]
    }

    /// Writes the pretty-printed JSON to `path`, atomically.
    ///
    /// - Throws: `DiceKitError.file` when it cannot be written.
    public func write(to path: String) throws {
        try AtomicFile.write(Array(json.prettyEncoded.utf8), to: path)
    }
}

/// Where early stopping (`EarlyStopping`) ended a run.
public struct EarlyStoppingRecord: Sendable, Equatable {
    /// The last epoch trained.
    public var epoch: Int
    /// The epoch of the best validation Dice (the one in best.safetensors).
    public var bestEpoch: Int
    /// The patience that was reached.
    public var patience: Int

    /// A record of a stop after `epoch`.
    public init(epoch: Int, bestEpoch: Int, patience: Int) {
        self.epoch = epoch
        self.bestEpoch = bestEpoch
        self.patience = patience
    }
}
