// The small value types that configure a Dice-family loss: variant, activation, reduction,
// generalized-Dice weighting, empty-class policy, seed presets, and the result type.
//
// Defaults follow MONAI 1.6 (`DiceLoss`, `TverskyLoss`, `GeneralizedDiceLoss`, `DiceCELoss`) so
// that results can be compared number for number; see Docs/DiceMath.md for every formula.

/// Which overlap score a `DiceLoss` turns into a loss, per (sample, class) pair.
///
/// With TP = Σ p·g, P = Σ p, G = Σ g (squares with `squared`) and smoothing s_nr, s_dr:
/// ```
/// dice           1 − (2·TP + s_nr) / (P + G + s_dr)
/// jaccard        1 − (2·TP + s_nr) / (2·(P + G − TP) + s_dr)
/// tversky        1 − (TP + s_nr) / (TP + α·(P − TP) + β·(G − TP) + s_dr)
/// focalTversky   (tversky)^γ
/// logCoshDice    log(cosh(dice))
/// generalized    1 − (2·Σ_c w_c·TP_c + s_nr) / (Σ_c w_c·(P_c + G_c) + s_dr), one value per sample
/// ```
public enum DiceVariant: Sendable, Equatable {
    /// The Sørensen–Dice loss (Milletari et al. 2016); MONAI's `DiceLoss`.
    case dice
    /// The soft Jaccard (IoU) loss in MONAI's form, where the smoothing counts half.
    case jaccard
    /// The Tversky loss (Salehi et al. 2017); MONAI's `TverskyLoss`.
    ///
    /// - Parameters:
    ///   - alpha: the weight of the false positives (default `defaultTverskyAlpha`, 0.5; finite, ≥ 0).
    ///   - beta: the weight of the false negatives (default `defaultTverskyBeta`, 0.5; finite, ≥ 0).
    case tversky(alpha: Double = DiceVariant.defaultTverskyAlpha, beta: Double = DiceVariant.defaultTverskyBeta)
    /// The focal Tversky loss (Abraham & Khan 2019): the Tversky loss raised to γ per pair.
    ///
    /// - Parameters:
    ///   - alpha: the weight of the false positives (default 0.5; finite, ≥ 0).
    ///   - beta: the weight of the false negatives (default 0.5; finite, ≥ 0).
    ///   - gamma: the exponent (default `defaultFocalTverskyGamma`, 0.75; finite, > 0).
    case focalTversky(alpha: Double = DiceVariant.defaultTverskyAlpha, beta: Double = DiceVariant.defaultTverskyBeta,
                      gamma: Double = DiceVariant.defaultFocalTverskyGamma)
    /// log(cosh(Dice loss)) per pair (Jadon 2020).
    case logCoshDice
    /// The generalized Dice loss (Sudre et al. 2017) with class weights from the target volume;
    /// MONAI's `GeneralizedDiceLoss(w_type:)`.
    ///
    /// - Parameter weighting: how the class weights follow the volume (default `.square`, MONAI's).
    case generalized(weighting: GeneralizedWeight = DiceVariant.defaultGeneralizedWeighting)

    /// The Tversky weight of the false positives when none is given: 0.5 (MONAI's `alpha`).
    public static let defaultTverskyAlpha = 0.5
    /// The Tversky weight of the false negatives when none is given: 0.5 (MONAI's `beta`).
    public static let defaultTverskyBeta = 0.5
    /// The focal Tversky exponent when none is given: 0.75 (Abraham & Khan 2019).
    public static let defaultFocalTverskyGamma = 0.75
    /// The generalized-Dice weighting when none is given: `.square` (MONAI's `w_type`).
    public static let defaultGeneralizedWeighting = GeneralizedWeight.square

    /// The variants by name, without their hyper-parameters (the spelling of `dicekit loss --variant`).
    public enum Name: String, Sendable, CaseIterable {
        /// `DiceVariant.dice`.
        case dice
        /// `DiceVariant.jaccard`.
        case jaccard
        /// `DiceVariant.tversky(alpha:beta:)`.
        case tversky
        /// `DiceVariant.focalTversky(alpha:beta:gamma:)`.
        case focalTversky = "focal-tversky"
        /// `DiceVariant.logCoshDice`.
        case logCoshDice = "log-cosh-dice"
        /// `DiceVariant.generalized(weighting:)`.
        case generalized
    }

    /// The variant `name` with the hyper-parameters it takes from the arguments (the others are
    /// not used): the bridge from flat options, such as the command line's, to the typed form.
    ///
    /// - Parameters: as the cases; each defaults to the case's default.
    public init(_ name: Name, alpha: Double = DiceVariant.defaultTverskyAlpha, beta: Double = DiceVariant.defaultTverskyBeta,
                gamma: Double = DiceVariant.defaultFocalTverskyGamma, weighting: GeneralizedWeight = DiceVariant.defaultGeneralizedWeighting) {
        switch name {
        case .dice: self = .dice
        case .jaccard: self = .jaccard
        case .tversky: self = .tversky(alpha: alpha, beta: beta)
        case .focalTversky: self = .focalTversky(alpha: alpha, beta: beta, gamma: gamma)
        case .logCoshDice: self = .logCoshDice
        case .generalized: self = .generalized(weighting: weighting)
        }
    }

    /// The variant's name.
    public var name: Name {
        switch self {
        case .dice: return .dice
        case .jaccard: return .jaccard
        case .tversky: return .tversky
        case .focalTversky: return .focalTversky
        case .logCoshDice: return .logCoshDice
        case .generalized: return .generalized
        }
    }

    /// Every variant with its default hyper-parameters.
    public static var allDefaults: [DiceVariant] { Name.allCases.map { DiceVariant($0) } }
}

/// The activation applied to the prediction inside the kernel, before the statistics.
///
/// Gradients are taken with respect to the tensor passed in (the logits when an activation is set).
public enum DiceActivation: String, Sendable, CaseIterable {
    /// The prediction already holds probabilities.
    case none
    /// p = 1 / (1 + e^(−z)), element-wise (multi-label).
    case sigmoid
    /// p_c = e^(z_c − m) / Σ_k e^(z_k − m) over the channel axis, m = max_k z_k (needs ≥ 2 channels).
    case softmax
}

/// How per-(sample, class) loss values are reduced.
public enum LossReduction: String, Sendable, CaseIterable {
    /// The mean over all counted values (pairs that are excluded or invalid are not counted).
    case mean
    /// The sum of all values.
    case sum
    /// No reduction: shape [N, C] ([C] with `batch`; [N, 1] or [1] for the generalized variant).
    case none
}

/// The generalized-Dice class weight computed from the target volume G_c of each class.
public enum GeneralizedWeight: String, Sendable, CaseIterable {
    /// w_c = 1 / G_c² (Sudre et al. 2017; MONAI's default).
    case square
    /// w_c = 1 / G_c.
    case simple
    /// w_c = 1.
    case uniform
}

/// What a loss or a metric does with a class that is absent from the target (G = 0).
///
/// Shared by `DiceLoss` and `OverlapMetric`; "score" means 1 − loss.
public enum EmptyClassPolicy: String, Sendable, CaseIterable {
    /// Loss: the smoothed formula as is (MONAI's behaviour; with the default smoothing an empty
    /// class scores ≈ 1 when nothing is predicted and ≈ 0 otherwise, with a vanishing gradient).
    /// Metric: 1 when the prediction is empty too, 0 otherwise (MONAI's `ignore_empty=False`).
    case smooth
    /// The pair is left out: it contributes nothing, and a mean counts only the other pairs
    /// (metric: NaN, like MONAI's `ignore_empty=True`). Loss values of excluded pairs are 0.
    case exclude
    /// The pair scores 1 (loss 0, no gradient).
    case one
    /// The pair scores 0 (loss 1, no gradient).
    case zero
    /// The pair's loss is the false-positive fraction P / S (S = counted positions), so false
    /// positives of an absent class keep a gradient of 1/S per unit of probability.
    case penalize
}

/// The three TensorFlow functions of the seed article, reproduced exactly; build a loss with
/// `DiceLoss.seed(_:epsilon:activation:layout:)`.
///
/// A preset fixes the variant (Dice), the smoothing (ε in numerator and denominator), the batch
/// handling and the reduction; activation, layout, ignore index, background exclusion, squared
/// denominators, soft labels and the compound cross-entropy still apply. `reduction: .none`
/// returns the per-unit values. The loss's `variant`, `smoothNumerator`, `smoothDenominator`,
/// `batch`, `emptyClass` and `classWeights` are not used by a preset.
public enum SeedPreset: Sendable, Equatable {
    /// `dice_loss`: one Dice per sample over H, W and C together, mean over the batch.
    case basic
    /// `weighted_dice_loss`: per class, mean over the batch, sum over classes weighted by
    /// `classWeights` (length = classes after exclusion, each finite and ≥ 0).
    case weighted(classWeights: [Double])
    /// `multiclass_dice_loss`: per class, mean over the batch, mean over the classes.
    case multiclass

    /// The seed's ε when none is given: 1e-6.
    public static let defaultEpsilon = 1e-6

    /// The presets by name, without their weights (the spelling of `dicekit loss --preset`).
    public enum Name: String, Sendable, CaseIterable {
        /// `SeedPreset.basic`.
        case basic = "seed-basic"
        /// `SeedPreset.weighted(classWeights:)`.
        case weighted = "seed-weighted"
        /// `SeedPreset.multiclass`.
        case multiclass = "seed-multiclass"
    }

    /// The preset's name.
    public var name: Name {
        switch self {
        case .basic: return .basic
        case .weighted: return .weighted
        case .multiclass: return .multiclass
        }
    }

    /// The class weights of `.weighted`, nil for the others.
    public var classWeights: [Double]? {
        if case .weighted(let weights) = self { return weights }
        return nil
    }
}

/// The value of a loss and, on request, its gradient.
public struct DiceLossResult<Scalar: BLASScalar>: Sendable {
    /// The loss: shape [] for mean and sum; [N, C], [C], [N, 1], [1] or [N] for `reduction: .none`.
    public var loss: Tensor<Scalar>
    /// d(sum of the loss values)/d(prediction), with the prediction's shape; nil unless requested.
    public var gradient: Tensor<Scalar>?
    /// The loss as a number (the sum of the values for `reduction: .none`).
    public var value: Scalar { loss.scalars.reduce(0, +) }
}

extension DiceLossResult {
    /// The same result viewed with scalar `U`; `U` must be `Scalar` (checked). See
    /// Support/ScalarSpecialisation.swift.
    @inline(__always)
    func reinterpreted<U: BLASScalar>(as _: U.Type = U.self) -> DiceLossResult<U> {
        precondition(Scalar.self == U.self, "reinterpreted: \(Scalar.self) is not \(U.self)")
        return unsafeBitCast(self, to: DiceLossResult<U>.self)
    }
}
