// What one epoch of training produced: the record behind metrics.jsonl, summary.json,
// curves.svg and the progress line.

/// The figures of one finished epoch.
///
/// Per-class arrays have one entry per class, background (class 0) first. The "foreground"
/// figures are means over classes 1..<K.
public struct EpochMetrics: Sendable, Equatable {
    /// The epoch number, from 1.
    public var epoch: Int
    /// Mean training loss over the epoch's batches.
    public var trainLoss: Double
    /// Mean validation loss, if computed.
    public var validationLoss: Double?
    /// Validation Dice per class (background first); empty without validation.
    public var validationDice: [Double]
    /// Validation IoU per class (background first); empty without validation.
    public var validationIoU: [Double]
    /// The learning rate used in the epoch (its last step).
    public var learningRate: Double
    /// Wall-clock seconds of the epoch's training pass (batching, augmentation and optimiser
    /// steps), measured before validation: validation time is not included.
    public var seconds: Double
    /// Training images processed per second.
    public var imagesPerSecond: Double
    /// The share of `seconds` the training thread spent waiting for the next batch (data not
    /// yet decoded and augmented by the background thread), in [0, 1]; nil when not measured
    /// (histories written before it existed).
    public var dataWaitFraction: Double?
    /// The precision the epoch's convolutions ran in (`ComputePrecision.effective`: a resumed run
    /// may change it); nil when not recorded (histories written before it existed).
    public var precision: ComputePrecision?

    /// An epoch record; see the properties.
    public init(
        epoch: Int, trainLoss: Double, validationLoss: Double? = nil, validationDice: [Double] = [],
        validationIoU: [Double] = [], learningRate: Double, seconds: Double, imagesPerSecond: Double,
        dataWaitFraction: Double? = nil, precision: ComputePrecision? = nil
    ) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
        self.validationDice = validationDice
        self.validationIoU = validationIoU
        self.learningRate = learningRate
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
        self.dataWaitFraction = dataWaitFraction
        self.precision = precision
    }

    /// Mean validation Dice over the foreground classes 1..<K (nil without validation; the
    /// single value when there is only one class). A class absent from every validation image
    /// (NaN) is left out of the mean, as `dicekit eval` and MONAI's `ignore_empty` do; nil when
    /// no foreground class is left.
    public var validationDiceForeground: Double? { foregroundMean(validationDice) }
    /// Mean validation IoU over the foreground classes, NaN classes left out (nil without validation).
    public var validationIoUForeground: Double? { foregroundMean(validationIoU) }

    private func foregroundMean(_ values: [Double]) -> Double? {
        let foreground = (values.count > 1 ? Array(values.dropFirst()) : values).filter { !$0.isNaN }
        guard !foreground.isEmpty else { return nil }
        return foreground.reduce(0, +) / Double(foreground.count)
    }

    /// The JSON object written to metrics.jsonl:
    /// `{"epoch", "train_loss", "val_loss", "val_dice", "val_iou", "val_dice_foreground",
    /// "val_iou_foreground", "lr", "seconds", "images_per_second", "data_wait_fraction",
    /// "precision"}` (absent figures are null).
    public var json: JSONValue {
        [
            "epoch": .integer(epoch),
            "train_loss": .number(trainLoss),
            "val_loss": validationLoss.map(JSONValue.number) ?? .null,
            "val_dice": .numbers(validationDice),
            "val_iou": .numbers(validationIoU),
            "val_dice_foreground": validationDiceForeground.map(JSONValue.number) ?? .null,
            "val_iou_foreground": validationIoUForeground.map(JSONValue.number) ?? .null,
            "lr": .number(learningRate),
            "seconds": .number(seconds),
            "images_per_second": .number(imagesPerSecond),
            "data_wait_fraction": dataWaitFraction.map(JSONValue.number) ?? .null,
            "precision": precision.map { .string($0.rawValue) } ?? .null,
        ]
    }
}
