// Reading metrics back (a line of metrics.jsonl, or the history stored in a training
// checkpoint), so a resumed run continues its history, curves and best score.
//
// JSONDecoder, not JSONSerialization: the latter's numbers are not always the nearest Double to
// the text (measured here: about 60 % of random doubles came back one ulp off), and a resumed
// run must carry its history bit for bit.

import Foundation

/// One metrics.jsonl object as written by `EpochMetrics.json` (derived keys ignored).
private struct EpochMetricsRecord: Decodable {
    let epoch: Int
    let trainLoss: Double?
    let validationLoss: Double?
    let validationDice: [Double?]?
    let validationIoU: [Double?]?
    let learningRate: Double?
    let seconds: Double?
    let imagesPerSecond: Double?
    let dataWaitFraction: Double?
    let precision: String?

    private enum CodingKeys: String, CodingKey {
        case epoch
        case trainLoss = "train_loss"
        case validationLoss = "val_loss"
        case validationDice = "val_dice"
        case validationIoU = "val_iou"
        case learningRate = "lr"
        case seconds
        case imagesPerSecond = "images_per_second"
        case dataWaitFraction = "data_wait_fraction"
        case precision
    }

    /// Whether the epoch is in 1...`EpochMetrics.maximumEpoch` and no per-class list is longer
    /// than `UNetConfiguration.maximumClasses`.
    var isPlausible: Bool {
        (1...EpochMetrics.maximumEpoch).contains(epoch)
            && (validationDice?.count ?? 0) <= UNetConfiguration.maximumClasses
            && (validationIoU?.count ?? 0) <= UNetConfiguration.maximumClasses
    }

    /// Null (a non-finite figure) reads back as NaN; a null "val_loss" as nil.
    var metrics: EpochMetrics {
        EpochMetrics(
            epoch: epoch, trainLoss: trainLoss ?? .nan, validationLoss: validationLoss,
            validationDice: (validationDice ?? []).map { $0 ?? .nan },
            validationIoU: (validationIoU ?? []).map { $0 ?? .nan },
            learningRate: learningRate ?? .nan, seconds: seconds ?? 0, imagesPerSecond: imagesPerSecond ?? 0,
            dataWaitFraction: dataWaitFraction, precision: precision.flatMap(ComputePrecision.init(rawValue:)))
    }
}

extension EpochMetrics {
    /// The largest epoch number accepted from a log line or a checkpoint's history.
    public static let maximumEpoch = 10_000_000

    /// Parses one line of `metrics.jsonl` (as written by `json`); nil when the line is not such
    /// an object, its epoch is not in 1...`maximumEpoch`, or a per-class list holds more than
    /// `UNetConfiguration.maximumClasses` entries. Non-finite figures were written as null and
    /// read back as NaN (a null "val_loss" as nil). Never traps, whatever the line holds.
    public init?(jsonLine: String) {
        guard jsonLine.utf8.count <= 1 << 20,
            let record = try? JSONDecoder().decode(EpochMetricsRecord.self, from: Data(jsonLine.utf8)),
            record.isPlausible
        else { return nil }
        self = record.metrics
    }

    /// Parses a JSON array of `json` objects (a training checkpoint's history); nil when the
    /// text is not such an array.
    static func history(jsonArray text: String) -> [EpochMetrics]? {
        guard let records = try? JSONDecoder().decode([EpochMetricsRecord].self, from: Data(text.utf8)),
            records.allSatisfy(\.isPlausible)
        else { return nil }
        return records.map(\.metrics)
    }
}
