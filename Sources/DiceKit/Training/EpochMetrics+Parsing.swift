// Reading metrics back (a line of metrics.jsonl, or the history stored in a training
// checkpoint), so a resumed run continues its history, curves and best score.

import Foundation

extension EpochMetrics {
    /// Parses one line of `metrics.jsonl` (as written by `json`); nil when the line is not such
    /// an object. Non-finite figures were written as null and read back as NaN.
    public init?(jsonLine: String) {
        guard let data = jsonLine.data(using: .utf8),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        self.init(jsonObject: object)
    }

    /// Reads an object decoded by `JSONSerialization` from `json`; nil without an integer
    /// "epoch". Null (a non-finite figure) reads back as NaN; a null "val_loss" as nil.
    init?(jsonObject object: [String: Any]) {
        guard let epoch = object["epoch"] as? Int else { return nil }
        func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        func numbers(_ key: String) -> [Double] {
            (object[key] as? [Any] ?? []).map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        }
        self.init(epoch: epoch, trainLoss: number("train_loss") ?? .nan, validationLoss: number("val_loss"),
                  validationDice: numbers("val_dice"), validationIoU: numbers("val_iou"),
                  learningRate: number("lr") ?? .nan, seconds: number("seconds") ?? 0,
                  imagesPerSecond: number("images_per_second") ?? 0)
    }
}
