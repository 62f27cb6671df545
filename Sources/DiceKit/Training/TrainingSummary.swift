// summary.json: the figures a user (and `make demo`) reads after training.

/// The outcome of a training run, written as `OUT/summary.json`.
///
/// Keys, in order: "epochs", "interrupted", "diverged" (null, or the one-line message of a run
/// stopped by a non-finite loss or gradient norm), "skipped_steps" (steps whose update was
/// dropped for a non-finite value), "seconds", "images_per_second" (mean of the
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
    /// Total wall-clock seconds.
    public var seconds: Double
    /// Free-form settings to record (model, loss, optimiser, data…).
    public var configuration: [JSONField]

    /// A summary of `epochs`.
    public init(
        epochs: [EpochMetrics], interrupted: Bool = false, diverged: String? = nil, skippedSteps: Int = 0,
        seconds: Double, configuration: [JSONField] = []
    ) {
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
