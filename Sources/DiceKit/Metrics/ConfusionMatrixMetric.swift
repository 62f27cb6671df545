// Confusion-matrix metrics per (sample, class), as MONAI's ConfusionMatrixMetric
// (monai.metrics.confusion_matrix): TP, FP, TN, FN counted per (sample, class) over the spatial
// positions, then one of seventeen ratios. With `computeSample` false (MONAI's default) the
// counts are reduced first and the ratio is taken of the reduced counts; with true, the ratio of
// each (sample, class) is taken and then reduced. A zero denominator gives NaN.

/// Per (sample, class) true/false positive/negative counts, row-major [N, C'].
public struct ConfusionCounts: Sendable, Equatable {
    /// Samples (N) and scored classes (C').
    public let samples: Int, classes: Int
    /// Row-major [N, C'] counts.
    public var truePositives: [Double], falsePositives: [Double], trueNegatives: [Double], falseNegatives: [Double]

    /// Counts of binarised predictions against targets (MONAI `get_confusion_matrix`).
    ///
    /// - Parameter includeBackground: count class 0 too (default true, as MONAI).
    /// - Throws: `DiceKitError.shape` for masks of different shapes.
    public init(predicted: ClassMasks, target: ClassMasks, includeBackground: Bool = true) throws {
        try predicted.checkMatches(target)
        let scored = predicted.scoredClasses(includeBackground: includeBackground)
        samples = predicted.samples
        classes = scored.count
        let size = samples * classes
        let s = predicted.positions
        truePositives = .init(repeating: 0, count: size)
        falsePositives = truePositives
        trueNegatives = truePositives
        falseNegatives = truePositives
        for b in 0..<samples {
            for (j, k) in scored.enumerated() {
                let p = predicted.mask(sample: b, class: k)
                let t = target.mask(sample: b, class: k)
                var tp = 0
                var pp = 0
                var tt = 0
                for (x, y) in zip(p, t) {
                    if x { pp += 1 }
                    if y { tt += 1 }
                    if x && y { tp += 1 }
                }
                let i = b * classes + j
                truePositives[i] = Double(tp)
                falsePositives[i] = Double(pp - tp)
                falseNegatives[i] = Double(tt - tp)
                trueNegatives[i] = Double(s - pp - tt + tp)
            }
        }
    }

    init(samples: Int, classes: Int, tp: [Double], fp: [Double], tn: [Double], fn: [Double]) {
        self.samples = samples
        self.classes = classes
        (truePositives, falsePositives, trueNegatives, falseNegatives) = (tp, fp, tn, fn)
    }

    /// Each count reduced by `reduction` (MONAI reduces the [N, C, 4] matrix the same way).
    public func reduced(_ reduction: ScoreReduction) -> ConfusionCounts {
        let r = { (v: [Double]) in reduction.reduce(v, samples: samples, classes: classes) }
        let n: Int
        let c: Int
        switch reduction {
        case .mean, .sum: (n, c) = (1, 1)
        case .meanBatch, .sumBatch: (n, c) = (1, classes)
        case .meanClasses, .sumClasses: (n, c) = (samples, 1)
        case .none: (n, c) = (samples, classes)
        }
        return ConfusionCounts(
            samples: n, classes: c,
            tp: r(truePositives), fp: r(falsePositives), tn: r(trueNegatives), fn: r(falseNegatives))
    }
}

/// The seventeen confusion-matrix metrics of MONAI, by MONAI's canonical name (spaces as hyphens).
public enum ConfusionMetricName: String, Sendable, CaseIterable {
    /// TP / (TP + FN) (recall, hit rate, TPR).
    case sensitivity
    /// TN / (TN + FP) (selectivity, TNR).
    case specificity
    /// TP / (TP + FP) (positive predictive value).
    case precision
    /// TN / (TN + FN).
    case negativePredictiveValue = "negative-predictive-value"
    /// FN / (TP + FN) (false negative rate).
    case missRate = "miss-rate"
    /// FP / (FP + TN) (false positive rate).
    case fallOut = "fall-out"
    /// FP / (FP + TP).
    case falseDiscoveryRate = "false-discovery-rate"
    /// FN / (FN + TN).
    case falseOmissionRate = "false-omission-rate"
    /// (√(TPR·(1 − TNR)) + TNR − 1) / (TPR + TNR − 1).
    case prevalenceThreshold = "prevalence-threshold"
    /// TP / (TP + FN + FP) (critical success index, Jaccard).
    case threatScore = "threat-score"
    /// (TP + TN) / (TP + FP + TN + FN).
    case accuracy
    /// (TPR + TNR) / 2.
    case balancedAccuracy = "balanced-accuracy"
    /// 2·TP / (2·TP + FN + FP).
    case f1Score = "f1-score"
    /// (TP·TN − FP·FN) / √((TP + FP)(TP + FN)(TN + FP)(TN + FN)).
    case matthewsCorrelationCoefficient = "matthews-correlation-coefficient"
    /// √(PPV · TPR).
    case fowlkesMallowsIndex = "fowlkes-mallows-index"
    /// TPR + TNR − 1 (bookmaker informedness, Youden index).
    case informedness
    /// PPV + NPV − 1 (Δp).
    case markedness

    /// A metric from any of MONAI's names and aliases (case-insensitive; spaces, hyphens and
    /// underscores alike): "recall", "tpr", "f1", "youden", "csi", …; nil for an unknown name.
    public init?(alias: String) {
        let key = alias.lowercased().replacingSpacesAndHyphens()
        let aliases: [ConfusionMetricName: [String]] = [
            .sensitivity: ["sensitivity", "recall", "hit_rate", "true_positive_rate", "tpr"],
            .specificity: ["specificity", "selectivity", "true_negative_rate", "tnr"],
            .precision: ["precision", "positive_predictive_value", "ppv"],
            .negativePredictiveValue: ["negative_predictive_value", "npv"],
            .missRate: ["miss_rate", "false_negative_rate", "fnr"],
            .fallOut: ["fall_out", "false_positive_rate", "fpr"],
            .falseDiscoveryRate: ["false_discovery_rate", "fdr"],
            .falseOmissionRate: ["false_omission_rate", "for"],
            .prevalenceThreshold: ["prevalence_threshold", "pt"],
            .threatScore: ["threat_score", "critical_success_index", "ts", "csi"],
            .accuracy: ["accuracy", "acc"],
            .balancedAccuracy: ["balanced_accuracy", "ba"],
            .f1Score: ["f1_score", "f1"],
            .matthewsCorrelationCoefficient: ["matthews_correlation_coefficient", "mcc"],
            .fowlkesMallowsIndex: ["fowlkes_mallows_index", "fm"],
            .informedness: ["informedness", "bookmaker_informedness", "bm", "youden_index", "youden"],
            .markedness: ["markedness", "deltap", "mk"],
        ]
        guard let match = Self.allCases.first(where: { aliases[$0]!.contains(key) }) else { return nil }
        self = match
    }

    /// The metric of one set of counts (MONAI `compute_confusion_matrix_metric`); NaN for a zero denominator.
    public func value(tp: Double, fp: Double, tn: Double, fn: Double) -> Double {
        let p = tp + fn
        let n = fp + tn
        func ratio(_ a: Double, _ b: Double) -> Double { b != 0 ? a / b : .nan }
        let tpr = p > 0 ? tp / p : .nan
        let tnr = n > 0 ? tn / n : .nan
        let ppv = tp + fp > 0 ? tp / (tp + fp) : .nan
        let npv = tn + fn > 0 ? tn / (tn + fn) : .nan
        switch self {
        case .sensitivity: return ratio(tp, p)
        case .specificity: return ratio(tn, n)
        case .precision: return ratio(tp, tp + fp)
        case .negativePredictiveValue: return ratio(tn, tn + fn)
        case .missRate: return ratio(fn, p)
        case .fallOut: return ratio(fp, n)
        case .falseDiscoveryRate: return ratio(fp, fp + tp)
        case .falseOmissionRate: return ratio(fn, fn + tn)
        case .prevalenceThreshold: return ratio((tpr * (1 - tnr)).squareRoot() + tnr - 1, tpr + tnr - 1)
        case .threatScore: return ratio(tp, tp + fn + fp)
        case .accuracy: return ratio(tp + tn, p + n)
        case .balancedAccuracy: return (tpr + tnr) / 2
        case .f1Score: return ratio(tp * 2, tp * 2 + fn + fp)
        case .matthewsCorrelationCoefficient:
            return ratio(tp * tn - fp * fn, ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)).squareRoot())
        case .fowlkesMallowsIndex: return (ppv * tpr).squareRoot()
        case .informedness: return tpr + tnr - 1
        case .markedness: return ppv + npv - 1
        }
    }
}

/// A confusion-matrix metric (MONAI `ConfusionMatrixMetric`).
///
/// ```
/// let metric = ConfusionMatrixMetric(name: .sensitivity)
/// let value = try metric.evaluate(predicted: p, target: t)   // [Σ TP / Σ (TP + FN)] over all pairs
/// ```
public struct ConfusionMatrixMetric: Sendable {
    /// Which metric.
    public var name: ConfusionMetricName
    /// Count class 0 too (default true, as MONAI's `ConfusionMatrixMetric`).
    public var includeBackground: Bool
    /// Take the metric per (sample, class) before reducing (default false: reduce the counts first).
    public var computeSample: Bool
    /// The reduction (default `.mean`).
    public var reduction: ScoreReduction

    /// A metric with MONAI's defaults.
    public init(
        name: ConfusionMetricName, includeBackground: Bool = true, computeSample: Bool = false,
        reduction: ScoreReduction = .mean
    ) {
        self.name = name
        self.includeBackground = includeBackground
        self.computeSample = computeSample
        self.reduction = reduction
    }

    /// The metric per (sample, class), row-major [N, C'], NaN for a zero denominator.
    public func scores(_ counts: ConfusionCounts) -> [Double] {
        (0..<counts.truePositives.count).map {
            name.value(
                tp: counts.truePositives[$0], fp: counts.falsePositives[$0],
                tn: counts.trueNegatives[$0], fn: counts.falseNegatives[$0])
        }
    }

    /// The reduced metric of `counts` (shape `reduction.shape(samples:classes:)`), as MONAI's `aggregate`.
    public func evaluate(_ counts: ConfusionCounts) -> [Double] {
        if computeSample { return reduction.reduce(scores(counts), samples: counts.samples, classes: counts.classes) }
        return scores(counts.reduced(reduction))
    }

    /// Counts and evaluates in one call.
    ///
    /// - Throws: `DiceKitError.shape` for masks of different shapes.
    public func evaluate(predicted: ClassMasks, target: ClassMasks) throws -> [Double] {
        evaluate(try ConfusionCounts(predicted: predicted, target: target, includeBackground: includeBackground))
    }
}

extension String {
    /// A metric name spelt with underscores: spaces and hyphens as underscores.
    func replacingSpacesAndHyphens() -> String {
        String(map { $0 == " " || $0 == "-" ? "_" : $0 })
    }
}
