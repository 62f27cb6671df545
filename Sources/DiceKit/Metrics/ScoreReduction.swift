// MONAI's reductions of per-(sample, class) metric values (monai.metrics.utils.do_metric_reduction):
// NaN values are skipped; a mean over no value is 0. `mean` is two-step: first the mean over the
// classes of each sample, then the mean over the samples that had at least one value.

/// How [N, C] metric values are reduced, exactly as MONAI's `do_metric_reduction`.
public enum ScoreReduction: String, Sendable, CaseIterable {
    /// Mean over the classes of each sample, then over the samples: shape [] (MONAI `mean`).
    case mean
    /// Sum of all values: shape [] (MONAI `sum`).
    case sum
    /// Per class, the mean over the samples: shape [C] (MONAI `mean_batch`).
    case meanBatch = "mean-batch"
    /// Per class, the sum over the samples: shape [C] (MONAI `sum_batch`).
    case sumBatch = "sum-batch"
    /// Per sample, the mean over the classes: shape [N] (MONAI `mean_channel`).
    case meanClasses = "mean-classes"
    /// Per sample, the sum over the classes: shape [N] (MONAI `sum_channel`).
    case sumClasses = "sum-classes"
    /// No reduction: shape [N, C] (MONAI `none`).
    case none

    /// The shape of the reduced values of an [N, C] input.
    public func shape(samples: Int, classes: Int) -> [Int] {
        switch self {
        case .mean, .sum: return []
        case .meanBatch, .sumBatch: return [classes]
        case .meanClasses, .sumClasses: return [samples]
        case .none: return [samples, classes]
        }
    }

    /// Reduces row-major [N, C] `values` (NaN marks a missing value).
    ///
    /// - Precondition: `values.count == samples · classes`.
    public func reduce(_ values: [Double], samples: Int, classes: Int) -> [Double] {
        precondition(values.count == samples * classes, "\(values.count) values for [\(samples), \(classes)]")
        func value(_ b: Int, _ c: Int) -> Double { values[b * classes + c] }
        func mean(_ v: [Double]) -> Double {
            let kept = v.filter { !$0.isNaN }
            return kept.isEmpty ? 0 : kept.reduce(0, +) / Double(kept.count)
        }
        func sum(_ v: [Double]) -> Double { v.filter { !$0.isNaN }.reduce(0, +) }
        let rows = (0..<samples).map { b in (0..<classes).map { value(b, $0) } }
        let columns = (0..<classes).map { c in (0..<samples).map { value($0, c) } }
        switch self {
        case .none: return values
        case .sum: return [sum(values)]
        case .meanBatch: return columns.map(mean)
        case .sumBatch: return columns.map(sum)
        case .meanClasses: return rows.map(mean)
        case .sumClasses: return rows.map(sum)
        case .mean:
            // Samples without any value drop out of the batch mean (MONAI's two-step mean).
            let perSample = rows.map { row in row.contains { !$0.isNaN } ? mean(row) : Double.nan }
            return [mean(perSample)]
        }
    }
}
