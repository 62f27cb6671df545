// `dicekit eval --metrics ...,pq,sq,rq,lesion-sensitivity,lesion-precision`: lesion-wise scores of
// a checkpoint's arg-max predictions, per class, from lesion counts pooled over the data set
// (`PanopticQualityMetric`; Docs/Metrics.md, "Lesion-wise scores").

import DiceKit

/// Per class, the lesion counts summed over the images; fed one batch at a time by
/// `Trainer.evaluate(_:batchSize:postprocessing:observe:)`. The columns are eval's: one per class,
/// the background's NaN (it is one region, not lesions); a one-class (sigmoid) checkpoint's single
/// column is its foreground. With regions, the columns are the background and the regions, and a
/// lesion is a connected component of a region's mask (`LabelRegions.masks`).
struct LesionMetricSums {
    let classes: Int
    /// The regions scored instead of the labels, or nil.
    let regions: LabelRegions?
    private let metric: PanopticQualityMetric
    private let scores: [(EvalMetric, PanopticScore)]
    /// Per foreground label 1..<max(2, classes).
    private var totals: [InstanceMatchCounts]

    /// Sums for the lesion metrics among `wanted` (none: `isEmpty`).
    init(
        classes: Int, wanted: [EvalMetric], matchThreshold: Double, connectivity: Int?, regions: LabelRegions? = nil
    ) throws {
        self.classes = classes
        self.regions = regions
        metric = try PanopticQualityMetric(matchThreshold: matchThreshold, connectivity: connectivity)
        scores = wanted.compactMap { name in PanopticScore(rawValue: name.rawValue).map { (name, $0) } }
        totals = Array(repeating: InstanceMatchCounts(), count: max(2, classes) - 1)
    }

    /// Whether no lesion metric was asked for.
    var isEmpty: Bool { scores.isEmpty }

    /// Adds the lesion counts of one batch.
    mutating func add(predicted: LabelMap, target: LabelMap) throws {
        let counts =
            try regions.map { try metric.counts(predicted: $0.masks(predicted), target: $0.masks(target)) }
            ?? metric.counts(predicted: predicted, target: target, classes: max(2, classes))
        for (i, count) in counts.enumerated() { totals[i % totals.count] = totals[i % totals.count] + count }
    }

    /// The counts of eval's column `c` (nil for the background's).
    private func counts(column c: Int) -> InstanceMatchCounts? {
        classes == 1 ? totals[0] : (c == 0 ? nil : totals[c - 1])
    }

    /// Every lesion metric asked for, per column (NaN where neither side has a lesion).
    var values: [EvalMetric: [Double]] {
        Dictionary(
            uniqueKeysWithValues: scores.map { name, score in
                (name, (0..<classes).map { counts(column: $0)?.score(score) ?? .nan })
            })
    }

    /// `"lesions": {"tp": [...], "fp": [...], "fn": [...]}` per column (the background's 0).
    var jsonField: String {
        let column = { (f: (InstanceMatchCounts) -> Int) in
            "[" + (0..<classes).map { String(counts(column: $0).map(f) ?? 0) }.joined(separator: ", ") + "]"
        }
        return "\"lesions\": {\"tp\": \(column(\.truePositives)), \"fp\": \(column(\.falsePositives)), "
            + "\"fn\": \(column(\.falseNegatives))}"
    }
}
