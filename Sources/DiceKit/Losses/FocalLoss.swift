// FocalLoss: the focal loss of Lin et al. (2017) in MONAI 1.6's `FocalLoss` form (sigmoid and
// softmax, gamma, scalar alpha, class weights, include_background, reductions) with
// segmentation_models_pytorch's `normalized` (Zhang et al. 2019) and `reduced_threshold`
// (Sergievskiy & Ponamarev 2019) options for the sigmoid form.
//
// Goals, in order: (1) the references' numbers for the same options; (2) closed-form gradients
// (Docs/DiceMath.md, "Focal loss"), in one fused pass, or two when `normalized` needs the sums
// of the focal terms first; (3) speed: concrete Float and Double loops, split over the cores.

/// The focal loss: each element's cross-entropy scaled by (1 − p_t)^γ.
///
/// Sigmoid form (multi-label; MONAI `FocalLoss(use_softmax=False)`, smp `FocalLoss`), per element
/// with u = z for a target 1 and u = −z for a target 0, p_t = σ(u):
/// ```
/// ℓ = w · (1 − p_t)^γ · (−log p_t),  w = class weight · (α·t + (1 − α)·(1 − t) when α is set)
/// ```
/// Softmax form (MONAI `FocalLoss(use_softmax=True)`), per position and class:
/// ```
/// ℓ_c = −w_c · (1 − p_c)^γ · log p_c · g_c,  w_c = class weight · (1 − α for c = 0, α otherwise)
/// ```
/// Reductions as MONAI: `.mean` over all elements, `.sum` the spatial mean summed over samples
/// and classes, `.none` the element-wise values (the prediction's shape, channels after exclusion).
/// With an ignore index, ignored positions are left out as if they were not there: the value and
/// gradient are those of the same loss on the remaining positions (the means count only those),
/// and the ignored positions get a zero gradient and value.
///
/// Shapes: prediction [N, spatial…, C] (channels-last) or [N, C, spatial…] (channels-first), logits;
/// target labels [N, spatial…] or a one-hot tensor with the prediction's shape.
public struct FocalLoss: SegmentationLoss {
    /// `.sigmoid` (default) or `.softmax`; `.none` is refused (the loss needs logits).
    public var activation: DiceActivation = .sigmoid
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// The focusing exponent γ (default `defaultGamma`, 2; finite, ≥ 0; 0 gives the weighted cross-entropy).
    public var gamma: Double = FocalLoss.defaultGamma
    /// The balance α in [0, 1] (default nil: no balancing).
    public var alpha: Double? = nil
    /// MONAI's per-class α (a sequence `alpha`, MONAI ≥ 1.4): one value per class after exclusion,
    /// each finite and ≥ 0; sigmoid form: multiplies the elements whose target is 1 of that class
    /// (those with target 0 keep weight 1); softmax form: multiplies that class's values. Not
    /// together with `alpha` (default nil).
    public var classAlpha: [Double]? = nil
    /// Multiplies each class's values; length = classes after exclusion, each ≥ 0 (default nil).
    public var classWeights: [Double]? = nil
    /// Drop channel 0 of the logits (MONAI's `include_background=False`: with softmax, before
    /// the softmax); needs ≥ 2 channels, and ≥ 3 with softmax (default false).
    public var excludeBackground = false
    /// The reduction (default `.mean`).
    public var reduction: LossReduction = .mean
    /// smp's normalized focal loss (sigmoid only, `.mean` only): each class's values divided by
    /// max(Σ (1 − p_t)^γ over that class, 1e-6), then the mean over classes of the per-class means.
    public var normalized = false
    /// smp's reduced focal loss (sigmoid only): the focal term is ((1 − p_t)/r)^γ where p_t ≥ r
    /// and 1 where p_t < r; r in (0, 1] (default nil: off).
    public var reducedThreshold: Double? = nil
    /// With integer labels: positions whose label is this count nowhere (default nil). A batch
    /// with every position ignored has loss 0 and a zero gradient.
    public var ignoreIndex: Int? = nil
    /// Whether the vector kernels (AVX-512 or AVX2) may run (default true; tests switch it off to compare with
    /// the Swift loop).
    var kernelEnabled = true

    /// The focusing exponent when none is given: 2 (MONAI's and smp's `gamma`).
    public static let defaultGamma = 2.0

    /// A focal loss with MONAI's defaults (γ = 2, no α, no weights, mean).
    public init(
        activation: DiceActivation = .sigmoid, gamma: Double = FocalLoss.defaultGamma, alpha: Double? = nil,
        layout: Layout = .channelsLast
    ) {
        self.activation = activation
        self.gamma = gamma
        self.alpha = alpha
        self.layout = layout
    }

    /// The loss of `prediction` (logits) against `target` and, when `gradient` is true, d(sum of
    /// the loss values)/d(prediction).
    ///
    /// - Throws: `DiceKitError` for mismatched shapes, non-finite logits, labels out of range,
    ///   targets other than 0/1 (sigmoid form), weights of the wrong length and inconsistent options.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient) }, double: { try compute($0, $1, gradient) })
    }

    /// Checks the options against a prediction with `c` channels; returns the per-class weights
    /// of the kept channels (class weight × softmax α factor).
    func checkedWeights(channels c: Int) throws -> [Double] {
        guard gamma.isFinite, gamma >= 0 else {
            throw DiceKitError.value("focal gamma is \(gamma); expected a finite number ≥ 0")
        }
        if let a = alpha, !(a >= 0 && a <= 1) {
            throw DiceKitError.value("focal alpha is \(a); expected a number in [0, 1]")
        }
        if let a = classAlpha {
            if alpha != nil {
                throw DiceKitError.option("focal alpha given both as one value and per class; expected one of them")
            }
            if a.count != c - (excludeBackground ? 1 : 0) {
                throw DiceKitError.shape(
                    "focal alpha has \(a.count) values; expected \(c - (excludeBackground ? 1 : 0)) (one per class\(excludeBackground ? " after excluding the background" : ""))"
                )
            }
            if let bad = a.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw DiceKitError.value("focal alpha value \(bad); expected finite values ≥ 0")
            }
        }
        if activation == .none {
            throw DiceKitError.option("the focal loss needs logits: expected activation sigmoid or softmax, got none")
        }
        let first = excludeBackground ? 1 : 0
        if excludeBackground && c == 1 {
            throw DiceKitError.option("exclude background with a single channel; expected ≥ 2 channels")
        }
        if activation == .softmax {
            if c - first < 2 {
                throw DiceKitError.option(
                    "softmax focal loss over \(c - first) channel(s)\(excludeBackground ? " after excluding the background" : ""); expected ≥ 2 or activation sigmoid"
                )
            }
            if normalized || reducedThreshold != nil {
                throw DiceKitError.option(
                    "normalized and reduced-threshold focal loss are sigmoid-form options (smp); expected activation sigmoid"
                )
            }
            if excludeBackground && alpha != nil {
                throw DiceKitError.option(
                    "focal alpha with softmax and the background excluded (MONAI ignores alpha there); drop one of them"
                )
            }
        }
        if normalized && reduction != .mean {
            throw DiceKitError.option(
                "normalized focal loss with reduction \(reduction.rawValue); expected mean (smp's form)")
        }
        if let r = reducedThreshold, !(r > 0 && r <= 1) {
            throw DiceKitError.value("reduced threshold is \(r); expected a number in (0, 1]")
        }
        var weights = [Double](repeating: 1, count: c - first)
        if let w = classWeights {
            guard w.count == c - first else {
                throw DiceKitError.shape(
                    "class weights have \(w.count) values; expected \(c - first) (one per class\(excludeBackground ? " after excluding the background" : ""))"
                )
            }
            if let bad = w.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw DiceKitError.value("class weight \(bad); expected finite values ≥ 0")
            }
            weights = w
        }
        if activation == .softmax, let a = alpha {
            for k in weights.indices { weights[k] *= k == 0 ? 1 - a : a }
        }
        if activation == .softmax, let a = classAlpha {
            for k in weights.indices { weights[k] *= a[k] }
        }
        return weights
    }
}
