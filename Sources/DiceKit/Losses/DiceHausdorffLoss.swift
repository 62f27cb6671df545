// DiceHausdorffLoss: λ_dice·Dice + λ_hd·HausdorffDT, the compound Karimi & Salcudean (2019) train
// with: the Dice term for overlap, the distance-transform term against boundary outliers. MONAI
// offers the two terms separately; this sums them on the same logits, with MONAI's defaults for
// each (the Dice term keeps the background, the Hausdorff term leaves it out).
//
// Across ranks the Dice term exchanges its statistics (DiceLoss+Exchange.swift) and the Hausdorff
// term, a mean over (sample, class) values whose normalisation does not depend on the batch, is
// exchanged as a mean over samples (`SampleMeanExchange`).

/// A weighted sum of a Dice-family loss and the Hausdorff distance-transform loss on the same
/// logits and target.
///
/// ```
/// let loss = DiceHausdorffLoss(activation: .softmax)   // Dice + 0.01·HausdorffDT, MONAI's terms
/// let result = try loss.evaluate(logits, target: .labels(labels), gradient: true)
/// ```
public struct DiceHausdorffLoss: SegmentationLoss {
    /// The Dice term (its activation, smoothing, batch, class weights, … apply).
    public var dice: DiceLoss
    /// The Hausdorff distance-transform term.
    public var hausdorff: HausdorffDTLoss
    /// λ_dice (default 1, finite, ≥ 0).
    public var diceWeight: Double = 1
    /// λ_hd (default `defaultHausdorffWeight`, finite, ≥ 0).
    public var hausdorffWeight: Double = DiceHausdorffLoss.defaultHausdorffWeight

    /// λ_hd when none is given: 0.01. With α = 2 the Hausdorff term is a mean of squared distances
    /// in pixels: on 128 × 128 images it starts near 200 and ends near 10, so 0.01 gives it about
    /// the Dice term's size once training has converged (Karimi & Salcudean balance the two);
    /// lower it for larger images (Docs/DiceMath.md §9.7 has a sweep).
    public static let defaultHausdorffWeight = 0.01

    /// The two terms as given.
    public init(
        dice: DiceLoss, hausdorff: HausdorffDTLoss, diceWeight: Double = 1,
        hausdorffWeight: Double = DiceHausdorffLoss.defaultHausdorffWeight
    ) {
        self.dice = dice
        self.hausdorff = hausdorff
        self.diceWeight = diceWeight
        self.hausdorffWeight = hausdorffWeight
    }

    /// MONAI's `DiceLoss` and `HausdorffDTLoss` with their defaults, both with `activation`, the
    /// Hausdorff term with exponent `alpha`, the same `reduction` for both (`.none` is refused at
    /// evaluation).
    public init(
        activation: DiceActivation, alpha: Double = HausdorffDTLoss.defaultAlpha, reduction: LossReduction = .mean,
        layout: Layout = .channelsLast
    ) {
        dice = DiceLoss(activation: activation, layout: layout)
        dice.reduction = reduction
        hausdorff = HausdorffDTLoss(activation: activation, layout: layout)
        hausdorff.alpha = alpha
        hausdorff.reduction = reduction
    }

    /// λ_dice·Dice + λ_hd·HausdorffDT (shape []) and, when `gradient` is true, the sum of the
    /// terms' gradients.
    ///
    /// - Throws: `DiceKitError` for weights that are negative or not finite, reduction none,
    ///   layouts that differ, and anything either term refuses.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>, gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try checkCompound()
        let a = try dice.evaluate(prediction, target: target, validMask: nil, gradient: gradient)
        let b = try hausdorff.evaluate(prediction, target: target, gradient: gradient)
        return CompoundLoss.combined(a, diceWeight, b, hausdorffWeight)
    }

    /// The checks of the compound itself; each term checks its own settings.
    func checkCompound() throws {
        try CompoundLoss.checkTerms(
            "dice-hausdorff", weights: [("dice weight", diceWeight), ("hausdorff weight", hausdorffWeight)],
            reductions: [dice.reduction, hausdorff.reduction], layouts: [dice.layout, hausdorff.layout])
    }
}

extension DiceHausdorffLoss: DistributedSegmentationLoss {
    /// λ_dice·Dice + λ_hd·HausdorffDT of the global batch (`DistributedSegmentationLoss`): the Dice
    /// statistics are gathered; the Hausdorff term is Σ_r (B_r / B)·(rank r's mean) with reduction
    /// mean, Σ_r (rank r's sum) with sum, and log(1 + that) when `logarithmic` (the logarithm of
    /// the global value, its slope 1/(1 + value) applied to every rank's gradient).
    ///
    /// - Throws: as `evaluate(_:target:gradient:)`; `DiceKitError.option` for a Hausdorff term with
    ///   `batch` (its per-class means span the batch).
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool = true, gradient: Bool = false, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        try checkCompound()
        guard !hausdorff.batch else {
            throw DiceKitError.option(
                "dice-hausdorff across ranks with a batch Hausdorff term (its per-class means span the batch); "
                    + "expected batch off")
        }
        let a = try dice.evaluate(
            prediction, target: target, contributes: contributes, gradient: gradient, across: communicator)
        var plain = hausdorff
        plain.logarithmic = false
        let local = try plain.evaluate(prediction, target: target, gradient: gradient)
        var b = try SampleMeanExchange(
            communicator: communicator, contributes: contributes, mean: hausdorff.reduction == .mean
        ).combine(local, samples: prediction.shape.first ?? 0)
        if hausdorff.logarithmic {
            let value = Double(b.value)
            b = DiceLossResult(
                loss: Tensor(uncheckedShape: [], storage: [Scalar(Double.log1p(value))]),
                gradient: b.gradient.map { Scalar(1 / (1 + value)) * $0 })
        }
        return CompoundLoss.combined(a, diceWeight, b, hausdorffWeight)
    }
}
