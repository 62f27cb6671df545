// The Dice-family variants, each case carrying its own hyper-parameters, and the one source of
// their defaults (read by `LossKind` and by `dicekit loss`). Defaults follow MONAI 1.6
// (`DiceLoss`, `TverskyLoss`, `GeneralizedDiceLoss`); formulas: Docs/DiceMath.md.

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
    case focalTversky(
        alpha: Double = DiceVariant.defaultTverskyAlpha, beta: Double = DiceVariant.defaultTverskyBeta,
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
    public init(
        _ name: Name, alpha: Double = DiceVariant.defaultTverskyAlpha, beta: Double = DiceVariant.defaultTverskyBeta,
        gamma: Double = DiceVariant.defaultFocalTverskyGamma,
        weighting: GeneralizedWeight = DiceVariant.defaultGeneralizedWeighting
    ) {
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
}
