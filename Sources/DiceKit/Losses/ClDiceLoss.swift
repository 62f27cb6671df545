// ClDiceLoss: the soft clDice loss of Shit et al. (2021) in MONAI 1.6's `SoftclDiceLoss` form, and
// DiceClDiceLoss, MONAI's `SoftDiceclDiceLoss` ((1 − α)·Dice + α·clDice).
//
// Goals, in order: (1) MONAI's numbers for the same options (its per-sample reduction over
// channels and space, its smoothing constants); (2) the closed-form gradient through the soft
// skeleton (SoftSkeleton.swift; Docs/DiceMath.md, "clDice and the soft skeleton"); (3) speed:
// concrete Float and Double loops, one task per (sample, class) image.

/// The soft clDice loss: the harmonic mean of topology precision and sensitivity, per sample.
///
/// With p the prediction after `activation` (and after dropping channel 0 with
/// `excludeBackground`), g the target, skel the soft skeleton (`iterations` erosions), and sums
/// over the channels and the spatial positions of one sample:
/// ```
/// Tprec = (Σ skel(p)·g + s_nr) / (Σ skel(p) + s_dr)
/// Tsens = (Σ skel(g)·p + s_nr) / (Σ skel(g) + s_dr)
/// loss  = 1 − 2·Tprec·Tsens / (Tprec + Tsens + smooth)
/// ```
/// Reductions: `.mean` and `.sum` over the samples, `.none` one value per sample (shape [N]).
///
/// Shapes: prediction [N, H, W, C] or [N, D, H, W, C] (channels-last), [N, C, H, W] or
/// [N, C, D, H, W] (channels-first); target labels [N, spatial…] (one-hot inside the loss) or a
/// dense 0/1 or soft target with the prediction's shape.
public struct ClDiceLoss: SegmentationLoss {
    /// Applied to the prediction first (default `.none`: the prediction holds probabilities);
    /// `.softmax` needs ≥ 2 channels (MONAI ignores it for one channel with a warning; DiceKit refuses).
    public var activation: DiceActivation = .none
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// K, the erosions of the soft skeleton after the first opening (default 3, MONAI's `iter_`; ≥ 0).
    public var iterations = ClDiceLoss.defaultIterations
    /// s_nr, added to both numerators (default 1, MONAI's; finite, ≥ 0).
    public var smoothNumerator = ClDiceLoss.defaultSmoothing
    /// s_dr, added to both denominators (default 1, MONAI's; finite, > 0).
    public var smoothDenominator = ClDiceLoss.defaultSmoothing
    /// Added to the harmonic mean's denominator (default 1e-4, MONAI's `smooth`; finite, > 0).
    public var smooth = ClDiceLoss.defaultHarmonicSmoothing
    /// Drop channel 0 after the activation (needs ≥ 2 channels; default false).
    public var excludeBackground = false
    /// The reduction over the samples (default `.mean`).
    public var reduction: LossReduction = .mean

    /// The skeleton iterations when none are given: 3 (MONAI's `iter_`).
    public static let defaultIterations = 3
    /// s_nr and s_dr when none are given: 1 (MONAI's `smooth_nr`, `smooth_dr`).
    public static let defaultSmoothing = 1.0
    /// The harmonic-mean smoothing when none is given: 1e-4 (MONAI's `smooth`).
    public static let defaultHarmonicSmoothing = 1e-4

    /// A clDice loss with MONAI's defaults (3 iterations, s_nr = s_dr = 1, smooth 1e-4, mean).
    public init(
        activation: DiceActivation = .none, iterations: Int = ClDiceLoss.defaultIterations,
        layout: Layout = .channelsLast
    ) {
        self.activation = activation
        self.iterations = iterations
        self.layout = layout
    }

    /// The loss of `prediction` against `target` and, when `gradient` is true, d(sum of the loss
    /// values)/d(prediction).
    ///
    /// - Throws: `DiceKitError` for images that are neither 2-D nor 3-D, mismatched shapes,
    ///   non-finite predictions, labels out of range, targets outside [0, 1] and bad options.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient) }, double: { try compute($0, $1, gradient) })
    }

    /// Refuses options outside their ranges.
    func checkOptions() throws {
        guard iterations >= 0 else {
            throw DiceKitError.value("clDice iterations is \(iterations); expected an integer ≥ 0")
        }
        guard smoothNumerator.isFinite, smoothNumerator >= 0 else {
            throw DiceKitError.value("clDice smooth-nr is \(smoothNumerator); expected a finite number ≥ 0")
        }
        guard smoothDenominator.isFinite, smoothDenominator > 0 else {
            throw DiceKitError.value("clDice smooth-dr is \(smoothDenominator); expected a finite number > 0")
        }
        guard smooth.isFinite, smooth > 0 else {
            throw DiceKitError.value("clDice smooth is \(smooth); expected a finite number > 0")
        }
    }
}

/// MONAI's `SoftDiceclDiceLoss`: (1 − α)·Dice + α·clDice on the same prediction and target.
///
/// Both terms share the activation, the smoothing s_nr and s_dr, the background exclusion, the
/// reduction (mean or sum) and the layout; the Dice term is MONAI's `DiceLoss` with those options
/// (per sample and class).
public struct DiceClDiceLoss: SegmentationLoss {
    /// The Dice term.
    public var dice: DiceLoss
    /// The clDice term.
    public var clDice: ClDiceLoss
    /// α, the weight of the clDice term (default 0.5, MONAI's; in [0, 1]).
    public var alpha = DiceClDiceLoss.defaultAlpha

    /// α when none is given: 0.5 (MONAI's).
    public static let defaultAlpha = 0.5

    /// MONAI's `SoftDiceclDiceLoss(iter_:, alpha:, smooth_nr:, smooth_dr:, smooth:,
    /// include_background:, sigmoid:/softmax:, reduction:)` with its defaults.
    public init(
        activation: DiceActivation = .none, iterations: Int = ClDiceLoss.defaultIterations,
        alpha: Double = DiceClDiceLoss.defaultAlpha,
        smoothNumerator: Double = ClDiceLoss.defaultSmoothing, smoothDenominator: Double = ClDiceLoss.defaultSmoothing,
        excludeBackground: Bool = false, reduction: LossReduction = .mean, layout: Layout = .channelsLast
    ) {
        dice = DiceLoss(activation: activation, layout: layout)
        dice.smoothNumerator = smoothNumerator
        dice.smoothDenominator = smoothDenominator
        dice.excludeBackground = excludeBackground
        dice.reduction = reduction
        clDice = ClDiceLoss(activation: activation, iterations: iterations, layout: layout)
        clDice.smoothNumerator = smoothNumerator
        clDice.smoothDenominator = smoothDenominator
        clDice.excludeBackground = excludeBackground
        clDice.reduction = reduction
        self.alpha = alpha
    }

    /// (1 − α)·Dice + α·clDice (shape []) and, when `gradient` is true, its gradient.
    ///
    /// - Throws: `DiceKitError` for α outside [0, 1], reduction none, layouts that differ, and
    ///   anything either term refuses.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        guard alpha >= 0 && alpha <= 1 else {
            throw DiceKitError.value("clDice alpha is \(alpha); expected a number in [0, 1]")
        }
        try CompoundLoss.checkTerms(
            "dice-cldice", weights: [], reductions: [dice.reduction, clDice.reduction],
            layouts: [dice.layout, clDice.layout])
        let a = try dice.evaluate(prediction, target: target, validMask: nil, gradient: gradient)
        let b = try clDice.evaluate(prediction, target: target, gradient: gradient)
        return CompoundLoss.combined(a, 1 - alpha, b, alpha)
    }
}
