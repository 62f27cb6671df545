// The seed article's three TensorFlow functions (shared/seed/dice-loss-tensorflow.md), as the
// `SeedPreset` of a `DiceLoss.seed(_:epsilon:activation:layout:)` loss.

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
