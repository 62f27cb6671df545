// DiceLoss: the configuration of every Dice-family loss and its public entry point.
//
// Goals, in order: (1) MONAI 1.6's numbers for the same options and the seed article's numbers
// for its presets; (2) closed-form gradients in two fused passes (statistics, gradient) with no
// one-hot tensor and no buffer beyond the output gradient; (3) speed (C kernels for the hot Float
// cases, see DiceLoss+Kernels.swift). Derivations: Docs/DiceMath.md.

/// A Dice-family loss (Dice, Jaccard, Tversky, focal Tversky, log-cosh Dice, generalized Dice),
/// optionally compounded with cross-entropy, with closed-form gradients.
///
/// Shapes: the prediction is [N, H, W, C] or [N, D, H, W, C] (channels-last, the default) or
/// [N, C, H, W] / [N, C, D, H, W] (channels-first). Targets are labels with the spatial shape or
/// dense tensors with the prediction's shape (see `DiceLossTarget`).
///
/// ```
/// var loss = DiceLoss(activation: .softmax)
/// let result = try loss.evaluate(logits, target: .labels(labels), gradient: true)
/// ```
public struct DiceLoss: Sendable {
    /// The overlap score (default `.dice`).
    public var variant: DiceVariant = .dice
    /// The activation fused into the kernel (default `.none`, like MONAI).
    public var activation: DiceActivation = .none
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// Added to the numerator (default 1e-5, ≥ 0).
    public var smoothNumerator: Double = 1e-5
    /// Added to the denominator (default 1e-5, ≥ 0).
    public var smoothDenominator: Double = 1e-5
    /// Σ p² and Σ g² in the denominator instead of Σ p and Σ g (default false; MONAI's `squared_pred`).
    public var squared: Bool = false
    /// Use the soft-label form of TP for dense targets (default false; `.soft` targets imply it).
    public var softLabels: Bool = false
    /// Drop channel 0 after the activation (default false; needs ≥ 2 channels).
    public var excludeBackground: Bool = false
    /// Sum the statistics over the batch too: one value per class (default false).
    public var batch: Bool = false
    /// Multiplies the per-class loss; length = classes after exclusion, each ≥ 0 (default nil).
    public var classWeights: [Double]? = nil
    /// The reduction over the per-pair values (default `.mean`).
    public var reduction: LossReduction = .mean
    /// Label targets only: positions with this label contribute nothing (default nil).
    public var ignoreIndex: Int? = nil
    /// Tversky weight of the false positives (default 0.5, ≥ 0).
    public var alpha: Double = 0.5
    /// Tversky weight of the false negatives (default 0.5, ≥ 0).
    public var beta: Double = 0.5
    /// Focal Tversky exponent (default 0.75, > 0).
    public var gamma: Double = 0.75
    /// Generalized Dice weighting (default `.square`).
    public var generalizedWeight: GeneralizedWeight = .square
    /// Weight of the Dice term in the compound loss (default 1, ≥ 0).
    public var diceWeight: Double = 1
    /// Weight of the cross-entropy term (default 0, ≥ 0): softmax CE with softmax, binary CE
    /// with logits with sigmoid (MONAI's `DiceCELoss` uses softmax CE for > 1 channel; DiceKit does not).
    public var crossEntropyWeight: Double = 0
    /// What an absent class does (default `.smooth`, MONAI's behaviour).
    public var emptyClass: EmptyClassPolicy = .smooth
    /// One of the seed article's functions (default nil).
    public var preset: SeedPreset? = nil
    /// The presets' ε in numerator and denominator (default 1e-6, ≥ 0).
    public var epsilon: Double = 1e-6

    /// A loss with the given variant and activation and MONAI's defaults for everything else.
    public init(variant: DiceVariant = .dice, activation: DiceActivation = .none, layout: Layout = .channelsLast) {
        self.variant = variant
        self.activation = activation
        self.layout = layout
    }

    /// One of the seed article's TensorFlow functions; `weights` is required by `.weighted`.
    public init(preset: SeedPreset, epsilon: Double = 1e-6, classWeights: [Double]? = nil,
                activation: DiceActivation = .none, layout: Layout = .channelsLast) {
        self.preset = preset
        self.epsilon = epsilon
        self.classWeights = classWeights
        self.activation = activation
        self.layout = layout
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
    public func evaluate<Scalar: BLASScalar>(_ prediction: Tensor<Scalar>, target: DiceLossTarget<Scalar>,
                                             validMask: Tensor<Scalar>? = nil,
                                             gradient: Bool = false) throws -> DiceLossResult<Scalar> {
        // Hand off at once to concrete implementations: generic inner loops must not run unspecialised.
        // `precision` identifies Scalar exactly (BLASScalar has two conformers), so the bit casts
        // below are between identical types; they avoid the runtime's dynamic-cast machinery.
        switch Scalar.precision {
        case .single:
            precondition(Scalar.self == Float.self, "BLASScalar \(Scalar.self) claims single precision")
            let r = try evaluateFloat(unsafeBitCast(prediction, to: Tensor<Float>.self),
                                      unsafeBitCast(target, to: DiceLossTarget<Float>.self),
                                      unsafeBitCast(validMask, to: Tensor<Float>?.self), gradient)
            return unsafeBitCast(r, to: DiceLossResult<Scalar>.self)
        case .double:
            precondition(Scalar.self == Double.self, "BLASScalar \(Scalar.self) claims double precision")
            let r = try evaluateDouble(unsafeBitCast(prediction, to: Tensor<Double>.self),
                                       unsafeBitCast(target, to: DiceLossTarget<Double>.self),
                                       unsafeBitCast(validMask, to: Tensor<Double>?.self), gradient)
            return unsafeBitCast(r, to: DiceLossResult<Scalar>.self)
        }
    }

    func evaluateFloat(_ p: Tensor<Float>, _ t: DiceLossTarget<Float>, _ m: Tensor<Float>?, _ g: Bool) throws -> DiceLossResult<Float> {
        try evaluateImpl(p, t, m, g)
    }

    func evaluateDouble(_ p: Tensor<Double>, _ t: DiceLossTarget<Double>, _ m: Tensor<Double>?, _ g: Bool) throws -> DiceLossResult<Double> {
        try evaluateImpl(p, t, m, g)
    }
}
