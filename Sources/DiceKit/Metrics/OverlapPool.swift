// Per-class Dice and IoU pooled over images, as validation and `dicekit eval` report them.

/// Per-class Dice and IoU over every image added: MONAI's `DiceMetric` per (image, class), the
/// images without the class left out (`ignore_empty`), the mean over the rest. Positions whose
/// target is `ignoreIndex` count nowhere.
public struct OverlapPool: Sendable {
    /// Classes scored (labels 0..<classes).
    public let classes: Int
    /// The target label of unlabelled positions.
    public let ignoreIndex: Int?
    private var dice: [[Double]], iou: [[Double]]

    /// An empty pool.
    public init(classes: Int, ignoreIndex: Int? = nil) {
        self.classes = classes
        self.ignoreIndex = ignoreIndex
        dice = [[Double]](repeating: [], count: classes)
        iou = dice
    }

    /// The Dice and IoU of every (image, class) pair of a batch [N, spatial…] in which the class
    /// is present.
    ///
    /// - Throws: `DiceKitError.shape` for maps of different shapes.
    public static func scores(predicted: LabelMap, target: LabelMap, classes: Int, ignoreIndex: Int?) throws
        -> [(class: Int, dice: Double, iou: Double)]
    {
        var diceMetric = OverlapMetric(score: .dice, reduction: .none, emptyClass: .exclude)
        diceMetric.ignoreIndex = ignoreIndex
        let counts = try diceMetric.counts(predicted: predicted, target: target, classes: classes)
        let iouScores = OverlapMetric(score: .iou, reduction: .none, emptyClass: .exclude).scores(counts)
        return zip(diceMetric.scores(counts), iouScores).enumerated().compactMap { i, pair in
            pair.0.isNaN ? nil : (i % classes, pair.0, pair.1)
        }
    }

    /// Adds the images of a batch [N, spatial…].
    ///
    /// - Throws: `DiceKitError.shape` for maps of different shapes.
    public mutating func add(predicted: LabelMap, target: LabelMap) throws {
        for score in try Self.scores(predicted: predicted, target: target, classes: classes, ignoreIndex: ignoreIndex) {
            dice[score.class].append(score.dice)
            iou[score.class].append(score.iou)
        }
    }

    /// The means per class, in the order the images were added (NaN for a class no image holds).
    public var means: (dice: [Double], iou: [Double]) {
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        return (dice.map(mean), iou.map(mean))
    }
}
