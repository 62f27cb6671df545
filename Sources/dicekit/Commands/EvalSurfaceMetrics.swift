// `dicekit eval --metrics ...,hd95,nsd`: the surface-distance metrics of a checkpoint's arg-max
// predictions on a data set, per class, beside Dice and IoU (MONAI's HausdorffDistanceMetric
// with percentile and SurfaceDiceMetric; see Docs/Metrics.md).

import DiceKit

/// The metrics `dicekit eval --metrics` accepts, in output order.
enum EvalMetric: String, CaseIterable {
    case dice, iou, hd95, nsd

    /// The list an `--metrics` value names (default dice,iou).
    static func parse(_ text: String?) throws -> [EvalMetric] {
        guard let text else { return [.dice, .iou] }
        return try text.split(separator: ",").map { word in
            guard let metric = EvalMetric(rawValue: word.trimmingSpaces()) else {
                throw UsageError(
                    message:
                        "--metrics: unknown metric '\(word)'; expected a comma-separated list of dice, iou, hd95, nsd")
            }
            return metric
        }
    }
}

/// Per class (every class, background included), the mean over the images of the HD95 (95th
/// percentile, or `percentile`) and of the NSD at `tolerance`, skipping NaN (a class absent from
/// both the prediction and the target); ∞ (a class on one side only) stays ∞.
func surfaceMetrics(
    _ model: UNet<Float>, _ dataset: any SegmentationSource, batchSize: Int, wanted: [EvalMetric],
    spacing: [Double]?, percentile: Double, tolerance: Double
) throws -> [EvalMetric: [Double]] {
    let classes = model.configuration.classes
    let scores: [(EvalMetric, SurfaceDistanceScore)] = [
        (.hd95, .hausdorff(percentile: percentile, directed: false)),
        (.nsd, .surfaceDice(tolerances: [tolerance])),
    ].filter { wanted.contains($0.0) }
    var sums = [EvalMetric: [[Double]]]()
    for start in stride(from: 0, to: dataset.count, by: batchSize) {
        // One batch decoded at a time (a folder or .npy source is not held in memory).
        let batch = try dataset.samples(Array(start..<min(start + batchSize, dataset.count)))
        let logits = try model.forward(batch.images, mode: .evaluation)
        let predicted = try ClassMasks(labels: try Predictor.argmax(logits), classes: classes)
        let target = try ClassMasks(
            labels: try LabelMap(shape: [batch.count] + batch.spatialShape, int32Labels: batch.labels),
            classes: classes)
        for (name, score) in scores {
            let values = try SurfaceDistanceMetric(score: score, includeBackground: true, spacing: spacing)
                .scores(predicted: predicted, target: target)
            var perClass = sums[name] ?? Array(repeating: [], count: classes)
            for (i, v) in values.enumerated() where !v.isNaN { perClass[i % classes].append(v) }
            sums[name] = perClass
        }
    }
    return sums.mapValues { $0.map { $0.isEmpty ? .nan : $0.reduce(0, +) / Double($0.count) } }
}
