// Per-class Dice and IoU pooled over images, as validation and `dicekit eval` report them.

/// Per-class Dice and IoU over every image added: MONAI's `DiceMetric` per (image, class), the
/// images without the class left out (`ignore_empty`), the mean over the rest. Positions whose
/// target is `ignoreIndex` count nowhere. With `regions`, the scores are the background's and
/// each region's (`LabelRegions.counts(predicted:target:ignoreIndex:)`).
public struct OverlapPool: Sendable {
    /// Classes scored (labels 0..<classes; with regions, the background and the regions).
    public let classes: Int
    /// The target label of unlabelled positions.
    public let ignoreIndex: Int?
    /// The regions scored instead of the labels, or nil.
    public let regions: LabelRegions?
    private var dice: [[Double]], iou: [[Double]]

    /// An empty pool.
    public init(classes: Int, ignoreIndex: Int? = nil) {
        self.init(classes: classes, ignoreIndex: ignoreIndex, regions: nil)
    }

    /// An empty pool scoring the background and each of `regions`.
    public init(regions: LabelRegions, ignoreIndex: Int? = nil) {
        self.init(classes: regions.scoredCount, ignoreIndex: ignoreIndex, regions: regions)
    }

    /// An empty pool of `regions` when given, of `classes` labels otherwise.
    public init(classes: Int, ignoreIndex: Int?, regions: LabelRegions?) {
        self.classes = regions?.scoredCount ?? classes
        self.ignoreIndex = ignoreIndex
        self.regions = regions
        dice = [[Double]](repeating: [], count: self.classes)
        iou = dice
    }

    /// The Dice and IoU of every (image, class) pair of a batch [N, spatial…] in which the class
    /// is present (with `regions`: every (image, scored region) pair).
    ///
    /// - Throws: `DiceKitError.shape` for maps of different shapes.
    public static func scores(
        predicted: LabelMap, target: LabelMap, classes: Int, ignoreIndex: Int?, regions: LabelRegions? = nil
    ) throws -> [(class: Int, dice: Double, iou: Double)] {
        var diceMetric = OverlapMetric(score: .dice, reduction: .none, emptyClass: .exclude)
        diceMetric.ignoreIndex = ignoreIndex
        let counts =
            try regions?.counts(predicted: predicted, target: target, ignoreIndex: ignoreIndex)
            ?? diceMetric.counts(predicted: predicted, target: target, classes: classes)
        let classes = counts.classes
        let iouScores = OverlapMetric(score: .iou, reduction: .none, emptyClass: .exclude).scores(counts)
        return zip(diceMetric.scores(counts), iouScores).enumerated().compactMap { i, pair in
            pair.0.isNaN ? nil : (i % classes, pair.0, pair.1)
        }
    }

    /// Adds the images of a batch [N, spatial…].
    ///
    /// - Throws: `DiceKitError.shape` for maps of different shapes.
    public mutating func add(predicted: LabelMap, target: LabelMap) throws {
        for score in try Self.scores(
            predicted: predicted, target: target, classes: classes, ignoreIndex: ignoreIndex, regions: regions)
        {
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
