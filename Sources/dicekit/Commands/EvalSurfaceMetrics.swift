// `dicekit eval --metrics ...,hd95,nsd`: the surface-distance metrics of a checkpoint's arg-max
// predictions on a data set, per class, beside Dice and IoU (MONAI's HausdorffDistanceMetric
// with percentile and SurfaceDiceMetric; see Docs/Metrics.md).

import DiceKit

/// The metrics `dicekit eval --metrics` accepts, in output order.
enum EvalMetric: String, CaseIterable {
    case dice, iou, hd95, nsd, pq, sq, rq
    case lesionSensitivity = "lesion-sensitivity"
    case lesionPrecision = "lesion-precision"

    /// Whether the metric scores lesions (connected components) rather than pixels.
    var isLesionWise: Bool { PanopticScore(rawValue: rawValue) != nil }

    /// The list an `--metrics` value names (default dice,iou).
    static func parse(_ text: String?) throws -> [EvalMetric] {
        guard let text else { return [.dice, .iou] }
        return try text.split(separator: ",").map { word in
            guard let metric = EvalMetric(rawValue: word.trimmingSpaces()) else {
                throw UsageError(
                    message:
                        "--metrics: unknown metric '\(word)'; expected a comma-separated list of "
                        + allCases.map(\.rawValue).joined(separator: ", "))
            }
            return metric
        }
    }
}

/// Per class (every class, background included), the mean over the images of the HD95 (95th
/// percentile, or `percentile`) and of the NSD at `tolerance`, skipping NaN (a class absent from
/// both the prediction and the target); ∞ (a class on one side only) stays ∞. Fed one batch of
/// arg-max predictions at a time by `Trainer.evaluate(_:batchSize:observe:)`.
struct SurfaceMetricSums {
    let classes: Int
    /// The regions scored instead of the labels (`LabelRegions.masks`), or nil.
    let regions: LabelRegions?
    private let metrics: [(EvalMetric, SurfaceDistanceMetric)]
    private var values: [EvalMetric: [[Double]]] = [:]

    /// Sums for the surface metrics among `wanted` (none: `isEmpty`).
    init(
        classes: Int, wanted: [EvalMetric], spacing: [Double]?, percentile: Double, tolerance: Double,
        subvoxels: Bool = false, regions: LabelRegions? = nil
    ) {
        self.classes = classes
        self.regions = regions
        let scores: [(EvalMetric, SurfaceDistanceScore)] = [
            (.hd95, .hausdorff(percentile: percentile, directed: false)),
            (.nsd, .surfaceDice(tolerances: [tolerance])),
        ].filter { wanted.contains($0.0) }
        metrics = scores.map { name, score in
            (
                name,
                SurfaceDistanceMetric(
                    score: score, includeBackground: true, spacing: spacing, useSubvoxels: subvoxels && name == .nsd)
            )
        }
    }

    /// Whether no surface metric was asked for.
    var isEmpty: Bool { metrics.isEmpty }

    /// Adds the per-image, per-class values of one batch; `spacing`, when given, replaces the
    /// one of `init` for this batch (a NIfTI case's own spacing).
    mutating func add(predicted: LabelMap, target: LabelMap, spacing: [Double]? = nil) throws {
        let predictedMasks = try regions?.masks(predicted) ?? ClassMasks(labels: predicted, classes: classes)
        let targetMasks = try regions?.masks(target) ?? ClassMasks(labels: target, classes: classes)
        for (name, shared) in metrics {
            var metric = shared
            if let spacing { metric.spacing = spacing }
            let scores = try metric.scores(predicted: predictedMasks, target: targetMasks)
            var perClass = values[name] ?? Array(repeating: [], count: classes)
            for (i, v) in scores.enumerated() where !v.isNaN { perClass[i % classes].append(v) }
            values[name] = perClass
        }
    }

    /// The mean per class of every metric asked for (NaN where no image defines it).
    var means: [EvalMetric: [Double]] {
        var result = values.mapValues { $0.map { $0.isEmpty ? .nan : $0.reduce(0, +) / Double($0.count) } }
        for (name, _) in metrics where result[name] == nil { result[name] = Array(repeating: .nan, count: classes) }
        return result
    }
}
