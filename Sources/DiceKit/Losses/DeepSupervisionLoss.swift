// Deep supervision (Lee et al. 2015; nnU-Net, Isensee et al. 2021): a loss on every output of a
// deeply supervised network, the full-resolution one and the lower decoder levels', each against
// the target resampled to its size, summed with per-level weights. This is MONAI 1.6's
// `DeepSupervisionLoss` (monai/losses/ds_loss.py) number for number:
//
//     L = Σ_l w_l · loss(x_l, resample(target, size of x_l))
//     ∂L/∂x_l = w_l · ∂loss/∂x_l(x_l, resampled target)
//
// with the weights of `DeepSupervisionWeighting` (unnormalised, as MONAI's) and the target
// resampled by PyTorch's "nearest-exact" rule (Segmentation/NearestResampling.swift).

/// The per-level weights w_0, w_1, … of `DeepSupervisionLoss` (level 0 = full resolution).
public enum DeepSupervisionWeighting: Sendable, Equatable {
    /// 1 for every level.
    case same
    /// 1, ½, ¼, … down to 1/16 for every deeper level: max(0.5^l, 0.0625) (MONAI's default).
    case exp
    /// 1 for the full resolution, ½ for every lower level.
    case two
    /// The given weights, one per level at least (finite, ≥ 0); the first `levels` are used.
    case explicit([Double])

    /// The spelling of `dicekit train --deep-supervision`: "same", "exp", "two" or "w0,w1,…".
    public var name: String {
        switch self {
        case .same: return "same"
        case .exp: return "exp"
        case .two: return "two"
        case .explicit(let w): return w.map { "\($0)" }.joined(separator: ",")
        }
    }

    /// Parses `name`'s spelling.
    ///
    /// - Throws: `DiceKitError.option` naming the value and the accepted forms.
    public init(name: String) throws {
        switch name {
        case "same": self = .same
        case "exp": self = .exp
        case "two": self = .two
        default:
            let parts = name.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }) else {
                throw DiceKitError.invalidOption(
                    name: "deep supervision", value: name,
                    expected: "same, exp, two or comma-separated weights w0,w1,… (finite, ≥ 0)")
            }
            self = .explicit(parts.map { $0! })
        }
    }

    /// The weights of `levels` outputs (level 0 first), as MONAI's `get_weights(levels)`.
    ///
    /// - Throws: `DiceKitError.option` when `.explicit` holds fewer weights than `levels` (MONAI
    ///   then falls back to its weight mode silently) or a weight that is not finite and ≥ 0.
    public func weights(levels: Int) throws -> [Double] {
        let levels = Swift.max(1, levels)
        switch self {
        case .same: return Array(repeating: 1, count: levels)
        case .exp: return (0..<levels).map { $0 >= 4 ? 0.0625 : 1 / Double(1 << $0) }
        case .two: return (0..<levels).map { $0 == 0 ? 1 : 0.5 }
        case .explicit(let w):
            guard w.count >= levels, w.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw DiceKitError.invalidOption(
                    name: "deep supervision weights", value: name,
                    expected: "\(levels) finite weights ≥ 0, one per output")
            }
            return Array(w.prefix(levels))
        }
    }
}

/// The result of `DeepSupervisionLoss.evaluate`: the weighted sum and each level's part.
public struct DeepSupervisionResult<Scalar: BLASScalar>: Sendable {
    /// Σ_l w_l · loss_l: shape [] for mean and sum; the wrapped loss's per-item shape for
    /// `reduction: .none`.
    public var loss: Tensor<Scalar>
    /// Each level's unweighted loss, level 0 (full resolution) first.
    public var levelLosses: [Tensor<Scalar>]
    /// The weights used, level 0 first.
    public var weights: [Double]
    /// d(sum of the loss values)/d(prediction l) = w_l · d loss_l/d x_l, one per prediction with
    /// its shape; nil unless requested.
    public var gradients: [Tensor<Scalar>]?
    /// The loss as a number (the sum of the values for `reduction: .none`).
    public var value: Scalar { loss.scalars.reduce(0, +) }
}

/// A loss over the outputs of a deeply supervised network (MONAI `DeepSupervisionLoss`).
///
/// The predictions are the full-resolution output first, then lower-resolution ones (any sizes),
/// each in `layout`; the target (labels or a dense tensor) has the full resolution and is
/// resampled to each prediction's spatial size by PyTorch's "nearest-exact" rule (MONAI's
/// `interp_mode`), min(⌊(i + ½)·in/out⌋, in − 1) along each axis. The value is Σ_l w_l · loss_l.
///
/// ```
/// let loss = DeepSupervisionLoss(loss: DiceLoss(activation: .softmax), weighting: .exp)
/// let result = try loss.evaluate(model.forwardDeepSupervision(x), target: .labels(y), gradient: true)
/// try model.backward(deepSupervision: result.gradients!)
/// ```
public struct DeepSupervisionLoss: Sendable {
    /// The loss applied to every level (any `SegmentationLoss`).
    public var loss: any SegmentationLoss
    /// The per-level weights (default `.exp`, MONAI's default).
    public var weighting: DeepSupervisionWeighting
    /// The predictions' layout, which tells the resampling where the spatial axes are (default
    /// channels-last); the wrapped loss must be set up for the same layout.
    public var layout: Layout

    /// A deep-supervision loss around `loss`.
    public init(loss: any SegmentationLoss, weighting: DeepSupervisionWeighting = .exp, layout: Layout = .channelsLast)
    {
        self.loss = loss
        self.weighting = weighting
        self.layout = layout
    }

    /// The weighted loss of `predictions` (full resolution first) against `target` (full
    /// resolution) and, when `gradient` is true, the gradient with respect to each prediction.
    ///
    /// - Throws: `DiceKitError` for no prediction, fewer explicit weights than predictions, a
    ///   prediction whose rank differs from the first's, or any error of the wrapped loss.
    public func evaluate<Scalar: BLASScalar>(
        _ predictions: [Tensor<Scalar>], target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DeepSupervisionResult<Scalar> {
        try evaluate(predictions, target: target, gradient: gradient) { prediction, levelTarget in
            try loss.evaluate(prediction, target: levelTarget, gradient: gradient)
        }
    }

    /// As `evaluate(_:target:gradient:)`, with each level's loss computed by `levelLoss` from
    /// the level's prediction and resampled target (the distributed trainer exchanges each
    /// level's Dice statistics across the ranks there).
    func evaluate<Scalar: BLASScalar>(
        _ predictions: [Tensor<Scalar>], target: SegmentationTarget<Scalar>, gradient: Bool,
        levelLoss: (Tensor<Scalar>, SegmentationTarget<Scalar>) throws -> DiceLossResult<Scalar>
    ) throws -> DeepSupervisionResult<Scalar> {
        guard let first = predictions.first else {
            throw DiceKitError.value("deep supervision: no prediction; expected the full-resolution output first")
        }
        let weights = try weighting.weights(levels: predictions.count)
        var total: Tensor<Scalar>?
        var levelLosses: [Tensor<Scalar>] = []
        var gradients: [Tensor<Scalar>] = []
        for (l, prediction) in predictions.enumerated() {
            guard prediction.rank == first.rank, prediction.rank >= 3 else {
                throw DiceKitError.shape(
                    "deep supervision: prediction \(l) has shape \(prediction.shape); expected rank \(Swift.max(first.rank, 3)) like prediction 0"
                )
            }
            let spatial = spatialExtents(prediction.shape)
            let levelTarget: SegmentationTarget<Scalar>
            switch target {
            case .labels(let map):
                levelTarget = .labels(
                    try map.resampledNearestExact(toSpatial: spatial, predictionRank: prediction.rank, layout: layout))
            case .oneHot(let t): levelTarget = .oneHot(try t.resampledNearestExact(toSpatial: spatial, layout: layout))
            case .soft(let t): levelTarget = .soft(try t.resampledNearestExact(toSpatial: spatial, layout: layout))
            }
            let result = try levelLoss(prediction, levelTarget)
            let w = Scalar(weights[l])
            levelLosses.append(result.loss)
            if let sum = total {
                guard sum.shape == result.loss.shape else {
                    throw DiceKitError.shape(
                        "deep supervision: level \(l)'s loss has shape \(result.loss.shape), level 0's \(sum.shape); expected equal shapes"
                    )
                }
                total = sum + w * result.loss
            } else {
                total = w * result.loss
            }
            if let g = result.gradient { gradients.append(weights[l] == 1 ? g : scaled(g, by: weights[l])) }
        }
        return DeepSupervisionResult(
            loss: total!, levelLosses: levelLosses, weights: weights, gradients: gradient ? gradients : nil)
    }

    /// The spatial extents of a prediction of shape `shape` in `layout`.
    private func spatialExtents(_ shape: [Int]) -> [Int] {
        layout == .channelsLast ? Array(shape[1..<(shape.count - 1)]) : Array(shape[2...])
    }

    /// w · g, through the concrete Float/Double loop (no unspecialised generic loop).
    private func scaled<Scalar: BLASScalar>(_ g: Tensor<Scalar>, by w: Double) -> Tensor<Scalar> {
        specialised(
            Scalar.self,
            float: { (Float(w) * g.reinterpreted(as: Float.self)).reinterpreted() },
            double: { (w * g.reinterpreted(as: Double.self)).reinterpreted() })
    }
}
