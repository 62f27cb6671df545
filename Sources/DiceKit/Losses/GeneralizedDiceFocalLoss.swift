// GeneralizedDiceFocalLoss: λ_gdl·generalized Dice + λ_focal·focal, as MONAI 1.6's
// `GeneralizedDiceFocalLoss`. MONAI builds the focal term in its sigmoid form with no α whatever
// the Dice activation, passes `weight` to the focal term only, and `include_background` and
// `reduction` to both; `init(activation:…)` does the same.

/// A weighted sum of the generalized Dice loss (Sudre et al. 2017) and the focal loss on the same
/// logits and target.
public struct GeneralizedDiceFocalLoss: SegmentationLoss {
    /// The generalized Dice term (`variant` `.generalized`; its activation, smoothing, batch apply).
    public var generalizedDice: DiceLoss
    /// The focal term.
    public var focal: FocalLoss
    /// λ_gdl (default 1, finite, ≥ 0).
    public var generalizedDiceWeight: Double = 1
    /// λ_focal (default 1, finite, ≥ 0).
    public var focalWeight: Double = 1

    /// MONAI's `GeneralizedDiceFocalLoss(sigmoid:/softmax:, w_type:, gamma:, weight:,
    /// include_background:, batch:, reduction:, smooth_nr:, smooth_dr:)`: generalized Dice with
    /// `activation` and `weighting`, sigmoid focal loss with γ and the class weights, background
    /// exclusion and `reduction` for both (`.none` is refused at evaluation).
    public init(
        activation: DiceActivation, weighting: GeneralizedWeight = DiceVariant.defaultGeneralizedWeighting,
        gamma: Double = FocalLoss.defaultGamma, classWeights: [Double]? = nil, excludeBackground: Bool = false,
        batch: Bool = false, reduction: LossReduction = .mean, layout: Layout = .channelsLast
    ) {
        generalizedDice = DiceLoss(variant: .generalized(weighting: weighting), activation: activation, layout: layout)
        generalizedDice.excludeBackground = excludeBackground
        generalizedDice.batch = batch
        generalizedDice.reduction = reduction
        focal = FocalLoss(activation: .sigmoid, gamma: gamma, layout: layout)
        focal.classWeights = classWeights
        focal.excludeBackground = excludeBackground
        focal.reduction = reduction
    }

    /// λ_gdl·GDL + λ_focal·focal (shape []) and, when `gradient` is true, the sum of the terms' gradients.
    ///
    /// - Throws: `DiceKitError` for negative weights, reduction none, layouts that differ, a Dice
    ///   term that is not generalized, and anything either term refuses.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try evaluate(prediction, target: target, gradient: gradient, exchange: nil)
    }

    /// Refuses a Dice term that is not generalized.
    func checkVariant() throws {
        guard case .generalized = generalizedDice.variant else {
            throw DiceKitError.option(
                "generalized-dice-focal with a Dice term of variant \(generalizedDice.variant.name.rawValue); expected generalized"
            )
        }
    }

    /// `evaluate(_:target:gradient:)`, over the global batch with `exchange` (DistributedLoss.swift).
    func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>, gradient: Bool,
        exchange: (communicator: any Communicator, contributes: Bool)?
    ) throws -> DiceLossResult<Scalar> {
        try checkVariant()
        return try DiceFocalLoss.compound(
            "generalized-dice-focal", dice: generalizedDice,
            diceWeight: ("generalized dice weight", generalizedDiceWeight), focal: focal, focalWeight: focalWeight,
            prediction, target, gradient: gradient, exchange: exchange)
    }
}
