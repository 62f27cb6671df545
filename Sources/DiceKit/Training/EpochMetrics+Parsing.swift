// Reading metrics.jsonl back, so a resumed run continues its history, curves and best score.

import Foundation

extension EpochMetrics {
    /// The largest epoch number accepted from a log line.
    public static let maximumEpoch = 10_000_000

    /// Parses one line of `metrics.jsonl` (as written by `json`); nil when the line is not such
    /// an object, its epoch is not a whole number in 1...`maximumEpoch`, or a per-class list
    /// holds more than `UNetConfiguration.maximumClasses` entries. NaN figures were written as
    /// null and read back as NaN. Never traps, whatever the line holds.
    public init?(jsonLine: String) {
        guard jsonLine.utf8.count <= 1 << 20, let data = jsonLine.data(using: .utf8),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let epochNumber = object["epoch"] as? NSNumber else { return nil }
        let epochValue = epochNumber.doubleValue
        guard epochValue.isFinite, epochValue.rounded() == epochValue, (1...Double(Self.maximumEpoch)).contains(epochValue) else {
            return nil
        }
        func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        func numbers(_ key: String) -> [Double]? {
            guard let list = object[key] else { return [] }
            guard let items = list as? [Any], items.count <= UNetConfiguration.maximumClasses else { return nil }
            return items.map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        }
        guard let dice = numbers("val_dice"), let iou = numbers("val_iou") else { return nil }
        self.init(epoch: Int(epochValue), trainLoss: number("train_loss") ?? .nan, validationLoss: number("val_loss"),
                  validationDice: dice, validationIoU: iou,
                  learningRate: number("lr") ?? .nan, seconds: number("seconds") ?? 0,
                  imagesPerSecond: number("images_per_second") ?? 0)
    }
}
