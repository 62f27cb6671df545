// Input checks for DiceLoss: every user mistake becomes a one-line DiceKitError naming the
// offending value and the expected one, before any kernel runs (non-finite predictions and labels
// out of range are detected by the statistics pass itself, so that valid input is read once).

/// The checked geometry and options that the passes read.
struct LossPlan {
    /// Batch size, channels, spatial positions per sample.
    var n: Int
    let c: Int, s: Int
    let channelsLast: Bool
    let activation: DiceActivation
    /// Σ p², Σ g² in P and G.
    let squared: Bool
    /// The soft-label form of TP is in effect (dense targets, not squared).
    let soft: Bool
    let hasIgnore: Bool
    let ignore: Int32
    /// Labels must lie in 0..<labelClasses (2 for a single channel: a binary mask).
    let labelClasses: Int
    /// g_c = (label == c + labelOffset): 1 for a single channel (label 1 is the foreground).
    let labelOffset: Int32
    /// The cross-entropy term added to the Dice statistics.
    let crossEntropy: CrossEntropyTerm
    /// The cross-entropy's weight per channel (softmax class weights, binary pos_weight); nil: all 1.
    let crossEntropyWeights: [Double]?
    /// `crossEntropyWeights` in Float, for the C kernels.
    let crossEntropyWeightsFloat: [Float]?
    /// The softmax cross-entropy's label smoothing ε (0: none).
    let labelSmoothing: Double
    /// The first channel that counts (1 when the background is excluded).
    let firstClass: Int

    /// Elements between consecutive positions / channels of one sample.
    var positionStride: Int { channelsLast ? c : 1 }
    var channelStride: Int { channelsLast ? 1 : s }
    /// Classes that count.
    var classes: Int { c - firstClass }
    /// Whether the cross-entropy has class weights or label smoothing (the C kernels' `dk_ce_weighted`).
    var weightedCrossEntropy: Bool { crossEntropy != .none && (crossEntropyWeights != nil || labelSmoothing != 0) }
    /// Whether the cross-entropy's mean divides by the labels' class weights (PyTorch's class-index
    /// targets) rather than by the counted positions.
    var weightedLabelNorm: Bool { weightedCrossEntropy && crossEntropy == .softmax && !dense }
    /// Whether the target is dense (one-hot or soft) rather than labels.
    let dense: Bool

    /// The same plan for a batch of `n` samples.
    func resized(n: Int) -> LossPlan {
        var plan = self
        plan.n = n
        return plan
    }
}

extension DiceLoss {
    /// Checks shapes and options; returns the plan and the target labels' storage shape check.
    func makePlan<T: BLASScalar>(
        _ prediction: Tensor<T>, _ target: SegmentationTarget<T>,
        _ validMask: Tensor<T>?
    ) throws -> LossPlan {
        let geometry = try SegmentationGeometry(prediction: prediction.shape, layout: layout)
        let (shape, n, c, s) = (geometry.shape, geometry.n, geometry.c, geometry.s)
        // The presets' ε replaces the smoothing; each variant checks only its own hyper-parameters.
        var values = [("smooth-nr", smoothNumerator), ("smooth-dr", smoothDenominator)]
        switch variant {
        case .tversky(let alpha, let beta), .focalTversky(let alpha, let beta, _):
            values += [("alpha", alpha), ("beta", beta)]
        default: break
        }
        values += [("dice-weight", diceWeight), ("ce-weight", crossEntropyWeight)]
        if let epsilon { values.append(("epsilon", epsilon)) }
        for (name, value) in values {
            guard value.isFinite, value >= 0 else {
                throw DiceKitError.value("\(name) is \(value); expected a finite number ≥ 0.0")
            }
        }
        if case .focalTversky(_, _, let gamma) = variant, !(gamma.isFinite && gamma > 0) {
            throw DiceKitError.value("gamma is \(gamma); expected a finite number > 0")
        }
        if activation == .softmax && c == 1 {
            throw DiceKitError.option(
                "softmax over a single channel (prediction shape \(shape), \(layout.rawValue)); expected ≥ 2 channels or --activation sigmoid"
            )
        }
        if excludeBackground && c == 1 {
            throw DiceKitError.option(
                "exclude background with a single channel (prediction shape \(shape)); expected ≥ 2 channels")
        }
        let firstClass = excludeBackground ? 1 : 0
        let classes = c - firstClass
        if preset == nil, case .generalized = variant {
            if classWeights != nil {
                throw DiceKitError.option(
                    "class weights with the generalized variant; it weighs classes by their volume (see --generalized-weight)"
                )
            }
            if emptyClass != .smooth {
                throw DiceKitError.option(
                    "empty-class policy \(emptyClass.rawValue) with the generalized variant; expected smooth (it has its own empty-class weight rule)"
                )
            }
        }
        if let weights = preset?.classWeights ?? classWeights {
            guard weights.count == classes else {
                throw DiceKitError.shape(
                    "class weights have \(weights.count) values; expected \(classes) (one per class\(excludeBackground ? " after excluding the background" : ""))"
                )
            }
            if let bad = weights.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw DiceKitError.value("class weight \(bad); expected finite values ≥ 0")
            }
        }
        try checkCrossEntropyOptions(channels: c)
        var crossEntropy = CrossEntropyTerm.none
        if crossEntropyWeight > 0 {
            switch activation {
            case .none:
                throw DiceKitError.option(
                    "cross-entropy needs logits: expected --activation softmax or sigmoid with a ce-weight of \(crossEntropyWeight)"
                )
            case .softmax: crossEntropy = .softmax
            case .sigmoid: crossEntropy = .binary
            }
            if reduction == .none {
                throw DiceKitError.option("cross-entropy with reduction none; expected mean or sum")
            }
        }
        var soft = false
        switch target {
        case .labels(let labels):
            try geometry.check(labels: labels)
        case .oneHot(let t), .soft(let t):
            try geometry.check(denseShape: t.shape)
            if let i = t.scalars.firstIndex(where: { !$0.isFinite }) {
                throw DiceKitError.value("target element \(i) is \(t.scalars[i]); expected finite values")
            }
            if ignoreIndex != nil {
                throw DiceKitError.option("ignore index with a dense target; expected integer labels (--labels)")
            }
            if case .soft = target { soft = true } else { soft = softLabels }
        }
        if let mask = validMask {
            guard mask.shape == [n, c] else {
                throw DiceKitError.shape("valid mask shape \(mask.shape); expected [\(n), \(c)] (samples, channels)")
            }
            if let i = mask.scalars.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                throw DiceKitError.value("valid mask element \(i) is \(mask.scalars[i]); expected 0 or 1")
            }
        }
        let ignore = try SegmentationGeometry.ignoreLabel(ignoreIndex) ?? 0
        let dense: Bool
        if case .labels = target { dense = false } else { dense = true }
        return LossPlan(
            n: n, c: c, s: s, channelsLast: layout == .channelsLast, activation: activation,
            squared: squared, soft: soft && !squared, hasIgnore: ignoreIndex != nil, ignore: ignore,
            labelClasses: c == 1 ? 2 : c, labelOffset: c == 1 ? 1 : 0,
            crossEntropy: crossEntropy, crossEntropyWeights: crossEntropyClassWeights,
            crossEntropyWeightsFloat: crossEntropyClassWeights?.map { Float($0) }, labelSmoothing: labelSmoothing,
            firstClass: firstClass, dense: dense)
    }

    /// The cross-entropy's class weights and label smoothing: in range, and only where a
    /// cross-entropy term uses them; their count against `channels` when it is known (the
    /// trainer checks its configuration before it has a model).
    func checkCrossEntropyOptions(channels c: Int?) throws {
        if let weights = crossEntropyClassWeights {
            guard crossEntropyWeight > 0 else {
                throw DiceKitError.option(
                    "cross-entropy class weights with a ce-weight of 0; expected a ce-weight > 0 (they weigh the cross-entropy term)"
                )
            }
            if let c, weights.count != c {
                throw DiceKitError.shape(
                    "cross-entropy class weights have \(weights.count) values; expected \(c) (one per channel, the background included)"
                )
            }
            if let bad = weights.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw DiceKitError.value("cross-entropy class weight \(bad); expected finite values ≥ 0")
            }
        }
        guard labelSmoothing != 0 else { return }
        guard labelSmoothing.isFinite, (0...1).contains(labelSmoothing) else {
            throw DiceKitError.value("label smoothing is \(labelSmoothing); expected a number in [0, 1]")
        }
        guard crossEntropyWeight > 0, activation == .softmax else {
            throw DiceKitError.option(
                "label smoothing \(labelSmoothing) with \(crossEntropyWeight > 0 ? "activation \(activation.rawValue)" : "a ce-weight of 0"); expected the softmax cross-entropy (--activation softmax, a ce-weight > 0)"
            )
        }
    }
}
