// Lesion-wise (instance) scores, as MONAI's `compute_panoptic_quality`: every connected
// component (or every instance id) of the target is matched one-to-one with one of the
// prediction's; a pair with IoU above the threshold is a true positive, an unmatched predicted
// lesion a false positive, an unmatched target lesion a false negative. From those counts:
//   RQ = TP / (TP + ½FP + ½FN)        recognition quality: the lesion-detection F1
//   SQ = Σ IoU of the pairs / TP       segmentation quality: the matched lesions' mean IoU
//   PQ = Σ IoU / (TP + ½FP + ½FN) = SQ · RQ
// (each denominator + MONAI's smoothing 1e-6). Docs/Metrics.md, "Lesion-wise scores".

/// The lesion-level match of one (sample, class): counts and the matched pairs' IoU sum.
public struct InstanceMatchCounts: Sendable, Equatable {
    /// Target lesions matched by a predicted lesion.
    public var truePositives: Int
    /// Predicted lesions matching no target lesion.
    public var falsePositives: Int
    /// Target lesions matched by no predicted lesion.
    public var falseNegatives: Int
    /// The sum of the matched pairs' IoU.
    public var iouSum: Double

    /// Counts as given.
    public init(truePositives: Int = 0, falsePositives: Int = 0, falseNegatives: Int = 0, iouSum: Double = 0) {
        (self.truePositives, self.falsePositives, self.falseNegatives, self.iouSum) =
            (truePositives, falsePositives, falseNegatives, iouSum)
    }

    /// Matches two instance maps of one sample (row-major, equal length; 0 is background, any other
    /// value one instance), as MONAI's `compute_panoptic_quality(output_confusion_matrix=True)`.
    ///
    /// Above a threshold of 0.5 a lesion can overlap only one other by more than the threshold, so
    /// the pairs are unique; below it the pairs are the assignment of largest IoU sum (MONAI's
    /// Munkres), of which the pairs above the threshold count.
    ///
    /// - Throws: `DiceKitError.shape` for maps of different lengths; `DiceKitError.option` for a
    ///   threshold outside (0, 1].
    public init(predicted: [Int32], target: [Int32], matchThreshold: Double = 0.5) throws {
        guard predicted.count == target.count else {
            throw DiceKitError.shape(
                "instance maps of \(predicted.count) and \(target.count) positions; expected equal")
        }
        try PanopticQualityMetric.checkThreshold(matchThreshold)
        let (p, pCount) = Self.denseIDs(predicted)
        let (t, tCount) = Self.denseIDs(target)
        self = Self.matching(p, count: pCount, t, count: tCount, threshold: matchThreshold)
    }

    /// The match of two components' labellings of one mask each (already numbered 1...count).
    init(predicted: ConnectedComponents, target: ConnectedComponents, matchThreshold: Double) {
        self = Self.matching(
            predicted.labels, count: predicted.count, target.labels, count: target.count, threshold: matchThreshold)
    }

    /// The match of instance ids numbered 1...count on each side (0 is background).
    private static func matching(
        _ p: [Int32], count pCount: Int, _ t: [Int32], count tCount: Int, threshold: Double
    ) -> Self {
        var pSize = [Int](repeating: 0, count: pCount + 1)
        var tSize = [Int](repeating: 0, count: tCount + 1)
        var overlap: [Int: Int] = [:] // (t − 1) · pCount + (p − 1) → shared positions
        for i in 0..<p.count {
            let (pi, ti) = (Int(p[i]), Int(t[i]))
            pSize[pi] += 1
            tSize[ti] += 1
            if pi > 0 && ti > 0 { overlap[(ti - 1) * pCount + pi - 1, default: 0] += 1 }
        }
        var pairs: [(t: Int, p: Int, iou: Double)] = overlap.map { key, shared in
            let (ti, pi) = key.quotientAndRemainder(dividingBy: pCount)
            return (ti, pi, Double(shared) / Double(tSize[ti + 1] + pSize[pi + 1] - shared))
        }
        pairs.sort { ($0.t, $0.p) < ($1.t, $1.p) }
        let matched =
            threshold >= 0.5
            ? pairs.filter { $0.iou > threshold }
            : LinearAssignment.maximumSum(pairs).filter { $0.iou > threshold }
        return Self(
            truePositives: matched.count, falsePositives: pCount - matched.count,
            falseNegatives: tCount - matched.count, iouSum: matched.reduce(0) { $0 + $1.iou })
    }

    /// Each value's rank among the distinct non-zero values, from 1 (0 stays 0), and their count.
    private static func denseIDs(_ map: [Int32]) -> ([Int32], Int) {
        let ids = Set(map).subtracting([0]).sorted()
        let rank = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, Int32($0 + 1)) })
        return (map.map { $0 == 0 ? 0 : rank[$0]! }, ids.count)
    }

    /// Field-wise sum (lesion counts over images).
    public static func + (a: Self, b: Self) -> Self {
        Self(
            truePositives: a.truePositives + b.truePositives, falsePositives: a.falsePositives + b.falsePositives,
            falseNegatives: a.falseNegatives + b.falseNegatives, iouSum: a.iouSum + b.iouSum)
    }

    /// Whether neither side has a lesion (every score is then NaN).
    public var isEmpty: Bool { truePositives + falsePositives + falseNegatives == 0 }

    /// `score` of these counts (`PanopticScore.value`); NaN when neither side has a lesion.
    public func score(_ score: PanopticScore, smoothing: Double = 1e-6) -> Double {
        score.value(
            truePositives: Double(truePositives), falsePositives: Double(falsePositives),
            falseNegatives: Double(falseNegatives), iouSum: iouSum, smoothing: smoothing)
    }
}

/// The lesion-wise scores of `InstanceMatchCounts`.
public enum PanopticScore: String, Sendable, CaseIterable {
    /// Σ IoU / (TP + ½FP + ½FN) (MONAI "pq").
    case panopticQuality = "pq"
    /// Σ IoU / TP, the mean IoU of the matched lesions (MONAI "sq").
    case segmentationQuality = "sq"
    /// TP / (TP + ½FP + ½FN), the lesion-detection F1 (MONAI "rq").
    case recognitionQuality = "rq"
    /// TP / (TP + FN): the share of target lesions found.
    case lesionSensitivity = "lesion-sensitivity"
    /// TP / (TP + FP): the share of predicted lesions that are real.
    case lesionPrecision = "lesion-precision"

    /// The score of (possibly reduced, e.g. averaged) counts, with MONAI's `smooth_numerator`
    /// added to the denominator; NaN when all three counts are 0, i.e. neither side has a lesion
    /// (MONAI gives 0 there, which would pull a mean over images down).
    public func value(
        truePositives tp: Double, falsePositives fp: Double, falseNegatives fn: Double, iouSum: Double,
        smoothing: Double = 1e-6
    ) -> Double {
        guard tp + fp + fn > 0 else { return .nan }
        let matchedShare = tp + 0.5 * fp + 0.5 * fn + smoothing
        switch self {
        case .panopticQuality: return iouSum / matchedShare
        case .segmentationQuality: return iouSum / (tp + smoothing)
        case .recognitionQuality: return tp / matchedShare
        case .lesionSensitivity: return tp / (tp + fn + smoothing)
        case .lesionPrecision: return tp / (tp + fp + smoothing)
        }
    }
}

/// Lesion-wise scores of semantic label maps: the lesions of class c are the connected components
/// of the positions labelled c, in the prediction and in the target alike.
///
/// ```
/// let metric = try PanopticQualityMetric(matchThreshold: 0.5, connectivity: 1)
/// let counts = try metric.counts(predicted: predicted, target: target, classes: 3)  // [N, 2]
/// let rq = counts.map { $0.score(.recognitionQuality) }
/// ```
public struct PanopticQualityMetric: Sendable, Equatable {
    /// IoU a pair must exceed to count as a match, in (0, 1] (MONAI's `match_iou_threshold`).
    public let matchThreshold: Double
    /// Neighbourhood of the lesions, 1…rank; nil is the full one (see `ConnectedComponents`).
    public let connectivity: Int?
    /// Score class 0 too (default false: the background is not a lesion).
    public let includeBackground: Bool

    /// A metric.
    ///
    /// - Throws: `DiceKitError.option` for a threshold outside (0, 1] or a connectivity below 1.
    public init(matchThreshold: Double = 0.5, connectivity: Int? = nil, includeBackground: Bool = false) throws {
        try Self.checkThreshold(matchThreshold)
        if let k = connectivity, k < 1 { throw DiceKitError.option("connectivity \(k); expected ≥ 1") }
        self.matchThreshold = matchThreshold
        self.connectivity = connectivity
        self.includeBackground = includeBackground
    }

    static func checkThreshold(_ threshold: Double) throws {
        guard threshold > 0 && threshold <= 1 else {
            throw DiceKitError.option("match IoU threshold \(threshold); expected a value in (0, 1]")
        }
    }

    /// Row-major [N, C'] counts of label maps [N, spatial…] (C' the scored classes).
    ///
    /// - Throws: `DiceKitError.shape` for maps of different shapes or without spatial axes;
    ///   `DiceKitError.value` for a label outside 0..<classes; `DiceKitError.option` for a
    ///   connectivity above the spatial rank.
    public func counts(predicted: LabelMap, target: LabelMap, classes: Int) throws -> [InstanceMatchCounts] {
        guard predicted.shape == target.shape else {
            throw DiceKitError.shape("prediction \(predicted.shape) and target \(target.shape); expected equal shapes")
        }
        return try counts(
            predicted: ClassMasks(labels: predicted, classes: classes),
            target: ClassMasks(labels: target, classes: classes))
    }

    /// Row-major [N, C'] counts of per-class masks (C' the scored classes: all but class 0 unless
    /// `includeBackground`, or the one class of single-class masks).
    ///
    /// - Throws: `DiceKitError.shape` for masks of different shapes; `DiceKitError.option` for a
    ///   connectivity above the spatial rank.
    public func counts(predicted: ClassMasks, target: ClassMasks) throws -> [InstanceMatchCounts] {
        try predicted.checkMatches(target)
        let spatial = predicted.spatialShape
        var result: [InstanceMatchCounts] = []
        for b in 0..<predicted.samples {
            for c in predicted.scoredClasses(includeBackground: includeBackground) {
                let lesions = { (mask: ArraySlice<Bool>) in
                    try ConnectedComponents(mask: Array(mask), shape: spatial, connectivity: self.connectivity)
                }
                result.append(
                    InstanceMatchCounts(
                        predicted: try lesions(predicted.mask(sample: b, class: c)),
                        target: try lesions(target.mask(sample: b, class: c)), matchThreshold: matchThreshold))
            }
        }
        return result
    }
}
