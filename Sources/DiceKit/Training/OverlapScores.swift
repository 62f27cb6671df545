// Hard overlap scores for validation: per class, counts summed over the whole data set
// (micro averaging), predictions = argmax over the class axis of the logits.
//   Dice_c = 2·TP / (2·TP + FP + FN),   IoU_c = TP / (TP + FP + FN),
// and 1 for a class absent from both prediction and ground truth (nothing to get wrong).

/// True positives, false positives and false negatives per class, accumulated over batches.
public struct OverlapTally: Sendable, Equatable {
    /// TP per class.
    public private(set) var truePositives: [Int]
    /// FP per class.
    public private(set) var falsePositives: [Int]
    /// FN per class.
    public private(set) var falseNegatives: [Int]

    /// Zero counts for `classes` classes.
    public init(classes: Int) {
        truePositives = [Int](repeating: 0, count: classes)
        falsePositives = truePositives
        falseNegatives = truePositives
    }

    /// The number of classes K.
    public var classes: Int { truePositives.count }

    /// Adds the argmax predictions of `logits` ([B, spatial…, K]) against `labels` (B × spatial).
    ///
    /// - Throws: `DiceKitError.shape` when the last axis is not K or the label count differs.
    public mutating func add<T: BLASScalar>(logits: Tensor<T>, labels: [Int32]) throws {
        let k = classes
        guard logits.rank >= 2, logits.shape.last == k, logits.count / k == labels.count else {
            throw DiceKitError.shape("logits \(logits.shape) and \(labels.count) labels; expected [B, spatial…, \(k)] and B × spatial labels")
        }
        logits.withUnsafeBufferPointer { x in
            for p in 0..<labels.count {
                var best = 0
                for c in 1..<k where x[p * k + c] > x[p * k + best] { best = c }
                let truth = Int(labels[p])
                if best == truth {
                    truePositives[truth] += 1
                } else {
                    falsePositives[best] += 1
                    if truth >= 0 && truth < k { falseNegatives[truth] += 1 }
                }
            }
        }
    }

    /// Dice per class (1 for a class absent from prediction and truth).
    public var dice: [Double] {
        (0..<classes).map { c in
            let denominator = 2 * truePositives[c] + falsePositives[c] + falseNegatives[c]
            return denominator == 0 ? 1 : Double(2 * truePositives[c]) / Double(denominator)
        }
    }

    /// IoU per class (1 for a class absent from prediction and truth).
    public var iou: [Double] {
        (0..<classes).map { c in
            let denominator = truePositives[c] + falsePositives[c] + falseNegatives[c]
            return denominator == 0 ? 1 : Double(truePositives[c]) / Double(denominator)
        }
    }

    /// A text table: one row per class with Dice, IoU, TP, FP, FN, then the foreground mean.
    public var table: String {
        var lines = ["class      Dice     IoU          TP          FP          FN"]
        let (d, j) = (dice, iou)
        for c in 0..<classes {
            lines.append(pad("\(c)", 5) + pad(fixed(d[c]), 10) + pad(fixed(j[c]), 8)
                         + pad("\(truePositives[c])", 12) + pad("\(falsePositives[c])", 12) + pad("\(falseNegatives[c])", 12))
        }
        let fg = classes > 1 ? Array(1..<classes) : [0]
        let meanDice = fg.map { d[$0] }.reduce(0, +) / Double(fg.count)
        let meanIoU = fg.map { j[$0] }.reduce(0, +) / Double(fg.count)
        lines.append("fg   " + pad(fixed(meanDice), 10) + pad(fixed(meanIoU), 8))
        return lines.joined(separator: "\n")
    }

    /// {"dice": [...], "iou": [...], "dice_foreground": x, "iou_foreground": y} per class.
    public var json: JSONValue {
        let fg = classes > 1 ? Array(1..<classes) : [0]
        return [
            "dice": .numbers(dice), "iou": .numbers(iou),
            "dice_foreground": .number(fg.map { dice[$0] }.reduce(0, +) / Double(fg.count)),
            "iou_foreground": .number(fg.map { iou[$0] }.reduce(0, +) / Double(fg.count)),
        ]
    }

    private func fixed(_ x: Double) -> String {
        let scaled = (x * 10_000).rounded()
        guard scaled.isFinite else { return "\(x)" }
        let whole = Int(scaled) / 10_000, fraction = abs(Int(scaled)) % 10_000
        return "\(whole)." + String(repeating: "0", count: 4 - String(fraction).count) + String(fraction)
    }

    private func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
