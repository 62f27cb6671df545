// DiceFocalLoss: λ_dice·Dice + λ_focal·focal, as MONAI 1.6's `DiceFocalLoss`. MONAI builds its
// focal term with the sigmoid form whatever the Dice activation (its `FocalLoss` is created
// without `use_softmax`), and passes `weight` and `include_background` to both terms; the
// `init(activation:…)` convenience does the same, and any other pairing can be set by hand.

/// A weighted sum of a Dice-family loss and a focal loss on the same logits and target.
public struct DiceFocalLoss: SegmentationLoss {
    /// The Dice term (its activation, smoothing, batch, … apply).
    public var dice: DiceLoss
    /// The focal term.
    public var focal: FocalLoss
    /// λ_dice (default 1, finite, ≥ 0).
    public var diceWeight: Double = 1
    /// λ_focal (default 1, finite, ≥ 0).
    public var focalWeight: Double = 1

    /// The two terms as given.
    public init(dice: DiceLoss, focal: FocalLoss, diceWeight: Double = 1, focalWeight: Double = 1) {
        self.dice = dice
        self.focal = focal
        self.diceWeight = diceWeight
        self.focalWeight = focalWeight
    }

    /// MONAI's `DiceFocalLoss(sigmoid:/softmax:, gamma:, alpha:, weight:, include_background:)`:
    /// Dice with `activation`, sigmoid focal loss with γ and α, class weights and background
    /// exclusion shared by both, and `reduction` for both (`.none` is refused at evaluation).
    public init(
        activation: DiceActivation, gamma: Double = FocalLoss.defaultGamma, alpha: Double? = nil,
        classWeights: [Double]? = nil,
        excludeBackground: Bool = false, reduction: LossReduction = .mean, layout: Layout = .channelsLast
    ) {
        dice = DiceLoss(activation: activation, layout: layout)
        dice.classWeights = classWeights
        dice.excludeBackground = excludeBackground
        dice.reduction = reduction
        focal = FocalLoss(activation: .sigmoid, gamma: gamma, alpha: alpha, layout: layout)
        focal.classWeights = classWeights
        focal.excludeBackground = excludeBackground
        focal.reduction = reduction
    }

    /// λ_dice·Dice + λ_focal·focal (shape []) and, when `gradient` is true, the sum of the terms' gradients.
    ///
    /// - Throws: `DiceKitError` for negative weights, reduction none, layouts that differ, and
    ///   anything either term refuses.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try Self.compound(
            "dice-focal", dice: dice, diceWeight: ("dice weight", diceWeight), focal: focal,
            focalWeight: focalWeight, prediction, target, gradient: gradient)
    }

    /// wd·dice + wf·focal after the checks every Dice + focal compound makes (weights finite and
    /// ≥ 0, a reduction other than none, one layout); `name` starts each message. With `exchange`
    /// (the ranks, and whether this one has samples), each term is the global batch's
    /// (DistributedLoss.swift).
    static func compound<Scalar: BLASScalar>(
        _ name: String, dice: DiceLoss, diceWeight: (name: String, value: Double), focal: FocalLoss,
        focalWeight: Double, _ prediction: Tensor<Scalar>, _ target: SegmentationTarget<Scalar>, gradient: Bool,
        exchange: (communicator: any Communicator, contributes: Bool)? = nil
    ) throws -> DiceLossResult<Scalar> {
        try CompoundLoss.checkTerms(
            name, weights: [diceWeight, ("focal weight", focalWeight)], reductions: [dice.reduction, focal.reduction],
            layouts: [dice.layout, focal.layout])
        guard let (communicator, contributes) = exchange else {
            let a = try dice.evaluate(prediction, target: target, validMask: nil, gradient: gradient)
            let b = try focal.evaluate(prediction, target: target, gradient: gradient)
            return CompoundLoss.combined(a, diceWeight.value, b, focalWeight)
        }
        let a = try dice.evaluate(
            prediction, target: target, contributes: contributes, gradient: gradient, across: communicator)
        let b = try focal.evaluate(
            prediction, target: target, contributes: contributes, gradient: gradient, across: communicator)
        return CompoundLoss.combined(a, diceWeight.value, b, focalWeight)
    }
}
