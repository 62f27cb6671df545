// The small value types of a Dice-family loss: activation, reduction and the result. The variant
// is in DiceVariant.swift, the seed presets in SeedPreset.swift; the empty-class policy and the
// generalized-Dice weighting, which the metrics share, in Segmentation/OverlapConventions.swift.
//
// Defaults follow MONAI 1.6 (`DiceLoss`, `TverskyLoss`, `GeneralizedDiceLoss`, `DiceCELoss`) so
// that results can be compared number for number; see Docs/DiceMath.md for every formula.

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
