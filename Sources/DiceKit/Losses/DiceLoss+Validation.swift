// Input checks for DiceLoss: every user mistake becomes a one-line DiceKitError naming the
// offending value and the expected one, before any kernel runs (non-finite predictions and labels
// out of range are detected by the statistics pass itself, so that valid input is read once).

/// The checked geometry and options that the passes read.
struct LossPlan {
    /// Batch size, channels, spatial positions per sample.
    let n: Int, c: Int, s: Int
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
    /// The first channel that counts (1 when the background is excluded).
    let firstClass: Int

    /// Elements between consecutive positions / channels of one sample.
    var positionStride: Int { channelsLast ? c : 1 }
    var channelStride: Int { channelsLast ? 1 : s }
    /// Classes that count.
    var classes: Int { c - firstClass }
}

extension DiceLoss {
    /// Checks shapes and options; returns the plan and the target labels' storage shape check.
    func makePlan<T: BLASScalar>(_ prediction: Tensor<T>, _ target: DiceLossTarget<T>,
                                 _ validMask: Tensor<T>?) throws -> LossPlan {
        let shape = prediction.shape
        guard shape.count >= 3 else {
            throw DiceKitError.shape("prediction shape \(shape) has rank \(shape.count); expected [N, spatial…, C] or [N, C, spatial…] (rank ≥ 3)")
        }
        let channelAxis = layout.channelAxis(rank: shape.count)
        let c = shape[channelAxis]
        let n = shape[0]
        var spatial = shape
        spatial.remove(at: channelAxis)
        spatial.removeFirst()
        let s = spatial.reduce(1, *)
        guard n >= 1, c >= 1, s >= 1 else {
            throw DiceKitError.shape("prediction shape \(shape) has an empty axis; expected every extent ≥ 1")
        }
        for (name, value, lower) in [("smooth-nr", smoothNumerator, 0.0), ("smooth-dr", smoothDenominator, 0.0),
                                     ("alpha", alpha, 0.0), ("beta", beta, 0.0), ("dice-weight", diceWeight, 0.0),
                                     ("ce-weight", crossEntropyWeight, 0.0), ("epsilon", epsilon, 0.0)] {
            guard value.isFinite, value >= lower else {
                throw DiceKitError.value("\(name) is \(value); expected a finite number ≥ \(lower)")
            }
        }
        guard gamma.isFinite, gamma > 0 else {
            throw DiceKitError.value("gamma is \(gamma); expected a finite number > 0")
        }
        if activation == .softmax && c == 1 {
            throw DiceKitError.option("softmax over a single channel (prediction shape \(shape), \(layout.rawValue)); expected ≥ 2 channels or --activation sigmoid")
        }
        if excludeBackground && c == 1 {
            throw DiceKitError.option("exclude background with a single channel (prediction shape \(shape)); expected ≥ 2 channels")
        }
        let firstClass = excludeBackground ? 1 : 0
        let classes = c - firstClass
        if preset == nil && variant == .generalized {
            if classWeights != nil {
                throw DiceKitError.option("class weights with the generalized variant; it weighs classes by their volume (see --generalized-weight)")
            }
            if emptyClass != .smooth {
                throw DiceKitError.option("empty-class policy \(emptyClass.rawValue) with the generalized variant; expected smooth (it has its own empty-class weight rule)")
            }
        }
        if preset == .weighted && classWeights == nil {
            throw DiceKitError.option("preset seed-weighted needs class weights (\(classes) values)")
        }
        if let weights = classWeights {
            guard weights.count == classes else {
                throw DiceKitError.shape("class weights have \(weights.count) values; expected \(classes) (one per class\(excludeBackground ? " after excluding the background" : ""))")
            }
            if let bad = weights.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw DiceKitError.value("class weight \(bad); expected finite values ≥ 0")
            }
        }
        var crossEntropy = CrossEntropyTerm.none
        if crossEntropyWeight > 0 {
            switch activation {
            case .none:
                throw DiceKitError.option("cross-entropy needs logits: expected --activation softmax or sigmoid with a ce-weight of \(crossEntropyWeight)")
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
            let withChannel = layout == .channelsLast ? [n] + spatial + [1] : [n, 1] + spatial
            guard labels.shape == [n] + spatial || labels.shape == withChannel else {
                throw DiceKitError.shape("label shape \(labels.shape) does not match prediction shape \(shape); expected \([n] + spatial)")
            }
        case .oneHot(let t), .soft(let t):
            guard t.shape == shape else {
                throw DiceKitError.shape("target shape \(t.shape) does not match prediction shape \(shape); expected the same shape (or integer labels \([n] + spatial))")
            }
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
        let ignore = ignoreIndex.map { Int32(clamping: $0) } ?? 0
        if let k = ignoreIndex, Int32(exactly: k) == nil {
            throw DiceKitError.value("ignore index \(k) does not fit in 32 bits")
        }
        return LossPlan(n: n, c: c, s: s, channelsLast: layout == .channelsLast, activation: activation,
                        squared: squared, soft: soft && !squared, hasIgnore: ignoreIndex != nil, ignore: ignore,
                        labelClasses: c == 1 ? 2 : c, labelOffset: c == 1 ? 1 : 0,
                        crossEntropy: crossEntropy, firstClass: firstClass)
    }
}
