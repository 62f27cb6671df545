// The generalized Dice score of binarised predictions, as MONAI's GeneralizedDiceScore
// (monai.metrics.generalized_dice; Sudre et al. 2017, "Generalised Dice overlap as a deep
// learning loss function for highly unbalanced segmentations", DLMIA).
//
// Per (sample, class c): I_c = |P_c ∩ G_c|, D_c = |P_c| + |G_c|, w_c = 1/|G_c|² (square),
// 1/|G_c| (simple) or 1 (uniform); an infinite weight (class absent from the target) becomes
// the largest finite weight of the sample, or 1 when there is none. With a reduction over the
// classes (mean, sum, mean-classes, sum-classes) the score is one value per sample,
//     GDS = 2·Σ_c w_c·I_c / Σ_c w_c·D_c   (1 when the denominator is 0),
// then reduced over the samples; otherwise one value per (sample, class),
//     GDS_c = 2·w_c·I_c / (w_c·D_c)       (when w_c·D_c = 0: 1 if w_c·|P_c| = 0, else 0).

/// The generalized Dice score (MONAI `GeneralizedDiceScore`).
///
/// ```
/// let gds = GeneralizedDiceScore(weight: .square)
/// let value = try gds.evaluate(predicted: p, target: t)   // [x]
/// ```
public struct GeneralizedDiceScore: Sendable {
    /// Score class 0 too (default true, as MONAI).
    public var includeBackground: Bool
    /// The class weight (default `.square`: 1/|G|²).
    public var weight: GeneralizedWeight
    /// The reduction (default `.mean`); `mean`, `sum`, `mean-classes` and `sum-classes` sum
    /// over the classes inside the score, as MONAI does.
    public var reduction: ScoreReduction

    /// A score with MONAI's defaults.
    public init(includeBackground: Bool = true, weight: GeneralizedWeight = .square, reduction: ScoreReduction = .mean)
    {
        self.includeBackground = includeBackground
        self.weight = weight
        self.reduction = reduction
    }

    /// Whether the reduction sums over the classes inside the score (MONAI's `sum_over_classes`).
    public var sumsOverClasses: Bool { [.mean, .sum, .meanClasses, .sumClasses].contains(reduction) }

    /// The scores before the reduction: row-major [N, 1] when `sumsOverClasses`, else [N, C'].
    ///
    /// - Returns: the values and the number of columns.
    /// - Throws: `DiceKitError.shape` for masks of different shapes.
    public func scores(predicted: ClassMasks, target: ClassMasks) throws -> (values: [Double], columns: Int) {
        try predicted.checkMatches(target)
        // MONAI drops channel 0 even when it is the only one; no channel left scores 0.
        let scored = includeBackground ? 0..<predicted.classes : 1..<predicted.classes
        guard !scored.isEmpty else { return ([Double](repeating: 0, count: predicted.samples), 1) }
        let n = predicted.samples
        var values: [Double] = []
        for b in 0..<n {
            var intersection: [Double] = []
            var predictedSize: [Double] = []
            var targetSize: [Double] = []
            for k in scored {
                let p = predicted.mask(sample: b, class: k)
                let t = target.mask(sample: b, class: k)
                var i = 0
                var ps = 0
                var ts = 0
                for (x, y) in zip(p, t) {
                    if x { ps += 1 }
                    if y { ts += 1 }
                    if x && y { i += 1 }
                }
                intersection.append(Double(i))
                predictedSize.append(Double(ps))
                targetSize.append(Double(ts))
            }
            var w = targetSize.map { g -> Double in
                switch weight {
                case .square: return 1 / (g * g)
                case .simple: return 1 / g
                case .uniform: return 1
                }
            }
            if w.contains(where: \.isInfinite) {
                let largest = w.filter { !$0.isInfinite }.max() ?? 0
                w = w.map { $0.isInfinite ? (largest > 0 ? largest : 1) : $0 }
            }
            if sumsOverClasses {
                var numerator = 0.0
                var denominator = 0.0
                for c in w.indices {
                    numerator += intersection[c] * w[c]
                    denominator += (predictedSize[c] + targetSize[c]) * w[c]
                }
                values.append(denominator == 0 ? 1 : 2 * numerator / denominator)
            } else {
                for c in w.indices {
                    let denominator = (predictedSize[c] + targetSize[c]) * w[c]
                    values.append(
                        denominator == 0
                            ? (predictedSize[c] * w[c] == 0 ? 1 : 0) : 2 * (intersection[c] * w[c]) / denominator)
                }
            }
        }
        return (values, values.count / n)
    }

    /// The reduced score (shape `reduction.shape(samples: N, classes: columns)`).
    ///
    /// - Throws: `DiceKitError.shape` for masks of different shapes.
    public func evaluate(predicted: ClassMasks, target: ClassMasks) throws -> [Double] {
        let (values, columns) = try scores(predicted: predicted, target: target)
        return reduction.reduce(values, samples: predicted.samples, classes: columns)
    }
}
