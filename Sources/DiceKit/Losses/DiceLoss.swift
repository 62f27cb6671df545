// DiceLoss: the configuration of every Dice-family loss and its public entry point.
//
// Goals, in order: (1) MONAI 1.6's numbers for the same options and the seed article's numbers
// for its presets; (2) closed-form gradients in two fused passes (statistics, gradient) with no
// one-hot tensor and no buffer beyond the output gradient; (3) speed (C kernels for the hot Float
// cases, see DiceLoss+CKernels.swift). Derivations: Docs/DiceMath.md.

/// A Dice-family loss (Dice, Jaccard, Tversky, focal Tversky, log-cosh Dice, generalized Dice),
/// optionally compounded with cross-entropy, with closed-form gradients.
///
/// Shapes: the prediction is [N, H, W, C] or [N, D, H, W, C] (channels-last, the default) or
/// [N, C, H, W] / [N, C, D, H, W] (channels-first). Targets are labels with the spatial shape or
/// dense tensors with the prediction's shape (see `SegmentationTarget`).
///
/// ```
/// var loss = DiceLoss(variant: .tversky(alpha: 0.3, beta: 0.7), activation: .softmax)
/// loss.crossEntropyWeight = 1                                   // Tversky + CE
/// let result = try loss.evaluate(logits, target: .labels(labels), gradient: true)
/// let seed = DiceLoss.seed(.weighted(classWeights: [0.1, 1, 2]))  // the article's weighted_dice_loss
/// ```
public struct DiceLoss: Sendable {
    /// The overlap score and its own hyper-parameters (default `.dice`).
    public var variant: DiceVariant = .dice
    /// The activation fused into the kernel (default `.none`, like MONAI).
    public var activation: DiceActivation = .none
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// Added to the numerator (default `defaultSmoothing`, 1e-5; ≥ 0).
    public var smoothNumerator: Double = DiceLoss.defaultSmoothing
    /// Added to the denominator (default `defaultSmoothing`, 1e-5; ≥ 0).
    public var smoothDenominator: Double = DiceLoss.defaultSmoothing
    /// Σ p² and Σ g² in the denominator instead of Σ p and Σ g (default false; MONAI's `squared_pred`).
    public var squared: Bool = false
    /// Use the soft-label form of TP for dense targets (default false; `.soft` targets imply it).
    public var softLabels: Bool = false
    /// Drop channel 0 after the activation (default false; needs ≥ 2 channels).
    public var excludeBackground: Bool = false
    /// Sum the statistics over the batch too: one value per class (default false).
    public var batch: Bool = false
    /// Multiplies the per-class loss; length = classes after exclusion, each ≥ 0 (default nil).
    /// Refused with the generalized variant, which weighs classes by their volume.
    public var classWeights: [Double]? = nil
    /// The reduction over the per-pair values (default `.mean`).
    public var reduction: LossReduction = .mean
    /// Label targets only: positions with this label contribute nothing (default nil).
    public var ignoreIndex: Int? = nil
    /// Weight of the Dice term in the compound loss (default 1, ≥ 0).
    public var diceWeight: Double = 1
    /// Weight of the cross-entropy term (default 0, ≥ 0): softmax CE with softmax, binary CE
    /// with logits with sigmoid (MONAI's `DiceCELoss` uses softmax CE for > 1 channel; DiceKit does not).
    public var crossEntropyWeight: Double = 0
    /// The cross-entropy's weight per channel, C values (the background included), each finite
    /// and ≥ 0; nil (default) weighs every class 1. Softmax: PyTorch's `CrossEntropyLoss(weight:)`
    /// (label targets: the mean divides by the sum of the labels' weights; dense targets: by the
    /// positions). Sigmoid: `BCEWithLogitsLoss(pos_weight:)` per channel. MONAI's
    /// `DiceCELoss(weight: w)` is `crossEntropyClassWeights = w` with `classWeights = w` (`w[1...]`
    /// when the background is excluded). Needs `crossEntropyWeight > 0`.
    public var crossEntropyClassWeights: [Double]? = nil
    /// Label smoothing ε of the softmax cross-entropy, in [0, 1] (default 0): the target becomes
    /// (1 − ε)·g + ε/C, as PyTorch's `CrossEntropyLoss(label_smoothing:)` and MONAI's `DiceCELoss`.
    /// Needs the softmax activation and `crossEntropyWeight > 0`.
    public var labelSmoothing: Double = 0
    /// What an absent class does (default `.smooth`, MONAI's behaviour; the generalized variant
    /// takes `.smooth` only).
    public var emptyClass: EmptyClassPolicy = .smooth
    /// The seed article's function this loss computes, or nil (set by `seed(_:epsilon:activation:layout:)`).
    public var preset: SeedPreset? { seedFunction?.preset }
    /// The preset's ε in numerator and denominator; nil without a preset.
    public var epsilon: Double? { seedFunction?.epsilon }
    /// The preset and its ε, together: ε exists only with a preset.
    private var seedFunction: (preset: SeedPreset, epsilon: Double)? = nil
    /// Whether separable configurations run both passes in one task per sample (default true;
    /// tests switch it off to compare with the two-dispatch path).
    var fusedPasses = true

    /// The smoothing of numerator and denominator when none is given: 1e-5 (MONAI's `smooth_nr`, `smooth_dr`).
    public static let defaultSmoothing = 1e-5

    /// A loss with the given variant and activation and MONAI's defaults for everything else.
    public init(variant: DiceVariant = .dice, activation: DiceActivation = .none, layout: Layout = .channelsLast) {
        self.variant = variant
        self.activation = activation
        self.layout = layout
    }

    /// One of the seed article's TensorFlow functions (`dice_loss`, `weighted_dice_loss`,
    /// `multiclass_dice_loss`), exactly.
    ///
    /// - Parameters:
    ///   - preset: the function; `.weighted` carries its class weights.
    ///   - epsilon: ε added to numerator and denominator (default `SeedPreset.defaultEpsilon`, 1e-6; finite, ≥ 0).
    ///   - activation: the activation fused into the kernel (default `.none`).
    ///   - layout: where the channel axis is (default `.channelsLast`).
    public static func seed(
        _ preset: SeedPreset, epsilon: Double = SeedPreset.defaultEpsilon,
        activation: DiceActivation = .none, layout: Layout = .channelsLast
    ) -> DiceLoss {
        DiceLoss(activation: activation, layout: layout).seeded(preset, epsilon: epsilon)
    }

    /// This loss's options under a seed preset (the options a preset keeps still apply; the
    /// others are not used).
    func seeded(_ preset: SeedPreset, epsilon: Double = SeedPreset.defaultEpsilon) -> DiceLoss {
        var loss = self
        loss.seedFunction = (preset, epsilon)
        return loss
    }

    /// The loss of `prediction` against `target` and, when `gradient` is true, d(sum of the
    /// loss values)/d(prediction).
    ///
    /// - Parameters:
    ///   - prediction: logits (or probabilities with `activation: .none`), rank ≥ 3, laid out as `layout`.
    ///   - target: labels, one-hot or soft targets.
    ///   - validMask: optional [N, C] tensor of 0/1 (C = prediction channels): a 0 removes the
    ///     (sample, class) pair from every sum, and a mean counts only the valid pairs.
    ///   - gradient: whether to compute the gradient (default false).
    /// - Throws: `DiceKitError` for mismatched shapes, non-finite predictions, labels out of
    ///   range, weights of the wrong length and inconsistent options; the message names the value.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        validMask: Tensor<Scalar>? = nil,
        gradient: Bool = false
    ) throws -> DiceLossResult<Scalar> {
        // Hand off at once to concrete implementations: generic inner loops must not run unspecialised.
        try specialised(
            Scalar.self,
            float: {
                try evaluateImpl(
                    prediction.reinterpreted(as: Float.self), target.reinterpreted(), validMask?.reinterpreted(),
                    gradient
                ).reinterpreted()
            },
            double: {
                try evaluateImpl(
                    prediction.reinterpreted(as: Double.self), target.reinterpreted(), validMask?.reinterpreted(),
                    gradient
                ).reinterpreted()
            })
    }
}
