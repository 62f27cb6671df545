// Hard overlap metrics: Dice and IoU per (sample, class) from predicted labels or thresholded
// probabilities, with the empty-class policy shared with the losses and MONAI's reductions.
//
// Counts are exact integers: TP = |pred ∩ target|, FP = |pred \ target|, FN = |target \ pred|.
// Dice = 2·TP / (2·TP + FP + FN), IoU = TP / (TP + FP + FN). A class is empty in a sample when
// TP + FN = 0 (absent from the target); `EmptyClassPolicy` decides its score.

/// True-positive, false-positive and false-negative counts per (sample, class).
public struct OverlapCounts: Sendable, Equatable {
    /// Samples (N) and classes (C).
    public let samples: Int, classes: Int
    /// Row-major [N, C] counts.
    public var truePositives: [Int], falsePositives: [Int], falseNegatives: [Int]
    /// Counted positions per sample (positions whose target is not the ignore index).
    public var positions: [Int]
}

/// Which overlap score.
public enum OverlapScore: String, Sendable, CaseIterable {
    /// 2·TP / (2·TP + FP + FN).
    case dice
    /// TP / (TP + FP + FN) (Jaccard index).
    case iou
}

/// How per-(sample, class) scores are reduced; excluded (NaN) scores are skipped everywhere,
/// as in MONAI's `DiceMetric`.
public enum MetricReduction: String, Sendable, CaseIterable {
    /// The mean of all counted scores: shape [].
    case mean
    /// The sum of all counted scores: shape [].
    case sum
    /// Per class, the mean over the batch: shape [C] (MONAI's `mean_batch`).
    case meanBatch = "mean-batch"
    /// Per sample, the mean over the classes: shape [N] (MONAI's `mean_channel`).
    case meanClasses = "mean-classes"
    /// No reduction: shape [N, C], NaN for excluded pairs.
    case none
}

/// A hard Dice or IoU metric.
///
/// ```
/// let metric = OverlapMetric(score: .dice)
/// let counts = try metric.counts(predicted: predictedLabels, target: labels, classes: 3)
/// let perClass = metric.scores(counts)            // [N, C]
/// let mean = metric.reduce(perClass, counts)      // MONAI DiceMetric(reduction="mean")
/// ```
public struct OverlapMetric: Sendable {
    /// Dice or IoU (default `.dice`).
    public var score: OverlapScore = .dice
    /// Count class 0 (default true, like MONAI's `include_background`).
    public var includeBackground: Bool = true
    /// What an absent class scores (default `.exclude`: NaN, skipped by reductions).
    public var emptyClass: EmptyClassPolicy = .exclude
    /// The reduction (default `.mean`).
    public var reduction: MetricReduction = .mean
    /// Probabilities ≥ threshold count as predicted (default 0.5), for `counts(probabilities:)`.
    public var threshold: Double = 0.5
    /// Target label that is not counted anywhere (default nil).
    public var ignoreIndex: Int? = nil
    /// Where the channel axis of probability tensors is (default `.channelsLast`).
    public var layout: Layout = .channelsLast

    /// A metric with the given score and MONAI's defaults for the rest.
    public init(
        score: OverlapScore = .dice, reduction: MetricReduction = .mean, emptyClass: EmptyClassPolicy = .exclude
    ) {
        self.score = score
        self.reduction = reduction
        self.emptyClass = emptyClass
    }

    /// Counts from predicted labels against target labels, both [N, spatial…].
    ///
    /// - Throws: `DiceKitError.shape` for different shapes; `DiceKitError.value` for a label
    ///   outside 0..<classes (other than the ignore index in the target).
    public func counts(predicted: LabelMap, target: LabelMap, classes: Int) throws -> OverlapCounts {
        guard classes >= 1 else { throw DiceKitError.value("classes is \(classes); expected ≥ 1") }
        let n = target.shape.first ?? 0
        var tp = [Int](repeating: 0, count: n * classes)
        var fp = tp
        var fn = tp
        let positions = try Self.countedPairs(
            predicted: predicted, target: target, classes: classes, ignoreIndex: ignoreIndex
        ) { b, p, t in
            if p == t {
                tp[b * classes + t] += 1
            } else {
                fp[b * classes + p] += 1
                fn[b * classes + t] += 1
            }
        }
        return OverlapCounts(
            samples: n, classes: classes, truePositives: tp, falsePositives: fp, falseNegatives: fn,
            positions: positions)
    }

    /// Calls `body(sample, predicted label, target label)` for every position of label maps [N,
    /// spatial…] whose target is not `ignoreIndex`; returns the counted positions per sample.
    ///
    /// - Throws: `DiceKitError.shape` for maps of different shapes; `DiceKitError.value` for a
    ///   label outside 0..<classes (other than the ignore index in the target).
    static func countedPairs(
        predicted: LabelMap, target: LabelMap, classes: Int, ignoreIndex: Int?,
        _ body: (_ sample: Int, _ predicted: Int, _ target: Int) -> Void
    ) throws -> [Int] {
        guard predicted.shape == target.shape, target.shape.count >= 2 else {
            throw DiceKitError.shape(
                "predicted labels \(predicted.shape) and target labels \(target.shape); expected the same shape [N, spatial…]"
            )
        }
        let n = target.shape[0]
        let s = target.count / max(n, 1)
        var positions = [Int](repeating: 0, count: n)
        for b in 0..<n {
            for i in 0..<s {
                let t = Int(target.storage[b * s + i])
                let p = Int(predicted.storage[b * s + i])
                if let k = ignoreIndex, t == k { continue }
                guard t >= 0 && t < classes else {
                    throw DiceKitError.value("target label \(t) at element \(b * s + i); expected 0..<\(classes)")
                }
                guard p >= 0 && p < classes else {
                    throw DiceKitError.value("predicted label \(p) at element \(b * s + i); expected 0..<\(classes)")
                }
                positions[b] += 1
                body(b, p, t)
            }
        }
        return positions
    }

    /// Counts from probabilities thresholded at `threshold` (multi-label: each channel on its
    /// own) against labels or a one-hot/soft target (thresholded at 0.5).
    ///
    /// - Throws: `DiceKitError` for mismatched shapes or labels out of range.
    public func counts<T: BLASScalar>(probabilities: Tensor<T>, target: SegmentationTarget<T>) throws -> OverlapCounts {
        try specialised(
            T.self, float: { try countsImpl(probabilities.reinterpreted(as: Float.self), target.reinterpreted()) },
            double: { try countsImpl(probabilities.reinterpreted(as: Double.self), target.reinterpreted()) })
    }

    func countsImpl<T: BLASScalar>(_ x: Tensor<T>, _ target: SegmentationTarget<T>) throws -> OverlapCounts {
        // The shape rules and messages of the losses (Segmentation/SegmentationGeometry.swift).
        let plan = try SegmentationGeometry(prediction: x.shape, layout: layout)
        var ignore: Int32? = nil
        switch target {
        case .labels(let labels):
            try plan.check(labels: labels)
            ignore = try SegmentationGeometry.ignoreLabel(ignoreIndex)
        case .oneHot(let t), .soft(let t):
            try plan.check(denseShape: t.shape)
            if let i = t.scalars.firstIndex(where: { !$0.isFinite }) {
                throw DiceKitError.value("target element \(i) is \(t.scalars[i]); expected finite values")
            }
        }
        let (n, c, s) = (plan.n, plan.c, plan.s)
        var result = OverlapCounts(
            samples: n, classes: c, truePositives: .init(repeating: 0, count: n * c),
            falsePositives: .init(repeating: 0, count: n * c),
            falseNegatives: .init(repeating: 0, count: n * c), positions: .init(repeating: 0, count: n))
        let threshold = T(self.threshold)
        for b in 0..<n {
            for i in 0..<s {
                let base = b * c * s + i * plan.positionStride
                var label: Int32 = 0
                if case .labels(let labels) = target {
                    label = labels.storage[b * s + i]
                    if label == ignore { continue }
                    guard label >= 0 && Int(label) < plan.labelClasses else {
                        throw DiceKitError.value(
                            "target label \(label) at element \(b * s + i); expected 0..<\(plan.labelClasses)")
                    }
                }
                result.positions[b] += 1
                for k in 0..<c {
                    let v = x.storage[base + k * plan.channelStride]
                    guard v.isFinite else {
                        throw DiceKitError.value(
                            "probability element \(base + k * plan.channelStride) is \(v); expected finite values")
                    }
                    let predicted = v >= threshold
                    let actual: Bool
                    switch target {
                    case .labels: actual = label == Int32(k) + plan.labelOffset
                    case .oneHot(let t), .soft(let t): actual = t.storage[base + k * plan.channelStride] >= 0.5
                    }
                    if predicted && actual {
                        result.truePositives[b * c + k] += 1
                    } else if predicted {
                        result.falsePositives[b * c + k] += 1
                    } else if actual {
                        result.falseNegatives[b * c + k] += 1
                    }
                }
            }
        }
        return result
    }

    /// Scores per (sample, class), [N, C'] row-major (C' = C without the background when
    /// `includeBackground` is false); NaN marks excluded pairs.
    public func scores(_ counts: OverlapCounts) -> [Double] {
        let first = includeBackground || counts.classes == 1 ? 0 : 1
        var out: [Double] = []
        for b in 0..<counts.samples {
            for k in first..<counts.classes {
                let i = b * counts.classes + k
                let (tp, fp, fn) = (
                    Double(counts.truePositives[i]), Double(counts.falsePositives[i]), Double(counts.falseNegatives[i])
                )
                if tp + fn == 0 {
                    switch emptyClass {
                    case .exclude: out.append(.nan)
                    case .one: out.append(1)
                    case .zero: out.append(0)
                    case .smooth: out.append(fp == 0 ? 1 : 0)
                    case .penalize: out.append(counts.positions[b] > 0 ? 1 - fp / Double(counts.positions[b]) : 1)
                    }
                    continue
                }
                out.append(score == .dice ? 2 * tp / (2 * tp + fp + fn) : tp / (tp + fp + fn))
            }
        }
        return out
    }

    /// Reduces `scores` (from `scores(_:)`) per `reduction`, skipping NaN. A mean over no
    /// counted value is NaN.
    public func reduce(_ scores: [Double], _ counts: OverlapCounts) -> [Double] {
        let k = scores.count / max(counts.samples, 1)
        func mean(_ values: [Double]) -> Double {
            let kept = values.filter { !$0.isNaN }
            return kept.isEmpty ? .nan : kept.reduce(0, +) / Double(kept.count)
        }
        switch reduction {
        case .mean: return [mean(scores)]
        case .sum: return [scores.filter { !$0.isNaN }.reduce(0, +)]
        case .meanBatch: return (0..<k).map { c in mean((0..<counts.samples).map { scores[$0 * k + c] }) }
        case .meanClasses: return (0..<counts.samples).map { b in mean(Array(scores[(b * k)..<(b * k + k)])) }
        case .none: return scores
        }
    }
}
