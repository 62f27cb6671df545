// RegionObjective: the losses RegionLoss can run on the regions' R-channel 0/1 target — those
// that read each channel through its own sigmoid: the Dice family (and Dice + binary
// cross-entropy), the sigmoid focal loss, Dice + focal, generalized Dice + focal (MONAI's
// `sigmoid=True` forms), Lovász-hinge and MCC (smp's multilabel and binary losses).
//
// An unlabelled position enters RegionLoss masked: logit −10⁴ and target 0 on every region, so
// p = σ(−10⁴) = 0 exactly and it adds exactly 0 to every Dice sum, cross-entropy or focal
// element and Lovász error. Each loss says how its terms then relate to the loss of the counted
// positions alone (`maskedTerms`): a term made of such sums is already exact; a term that is a
// mean over every element (the cross-entropy's, the focal loss's) is rescaled by RegionLoss to a
// mean over the counted elements; MCC, whose true-negative count would gain 1 per masked
// element, subtracts them from its element count.

/// A loss that `RegionLoss` can run on the regions' 0/1 target, one sigmoid per region.
///
/// `DiceLoss` (every variant, with or without its binary cross-entropy), `FocalLoss`,
/// `DiceFocalLoss`, `GeneralizedDiceFocalLoss`, `LovaszLoss` (hinge) and `MCCLoss` conform.
public protocol RegionObjective: DistributedSegmentationLoss {
    /// This loss as `RegionLoss` runs it: the sigmoid of each channel, channels-last, no ignore
    /// index (RegionLoss leaves the unlabelled positions out itself).
    var regionForm: Self { get }

    /// The terms of this loss (in its region form) on a batch in which `masked` elements are
    /// masked (logit −10⁴, target 0), with their weights: `elementMean` marks a mean over every
    /// element, which RegionLoss rescales to a mean over the counted elements; the other terms'
    /// values and gradients are already those of the counted elements alone.
    ///
    /// - Throws: `DiceKitError.option` for a reduction the masking cannot make exact (none,
    ///   which keeps a value per unit; the focal loss's sum of per-image means); a compound's
    ///   own checks.
    func maskedTerms(masked: Int) throws -> [RegionTerm]

    /// Throws when this loss has no region form (a default that accepts every loss is given).
    ///
    /// - Throws: `DiceKitError.option` naming what does not fit regions.
    func checkRegionForm() throws
}

extension RegionObjective {
    /// Accepts the loss.
    public func checkRegionForm() throws {}
}

/// One term of a region objective on a masked batch (`RegionObjective.maskedTerms(masked:)`).
public struct RegionTerm {
    /// The term's loss.
    public var loss: any RegionObjective
    /// Its weight in the objective.
    public var weight: Double
    /// Whether it is a mean over every element (masked ones included).
    public var elementMean: Bool

    /// A term of `loss` weighted by `weight`.
    public init(_ loss: any RegionObjective, weight: Double = 1, elementMean: Bool = false) {
        (self.loss, self.weight, self.elementMean) = (loss, weight, elementMean)
    }

    /// The terms of `terms` with their weights multiplied by `factor`.
    static func scaled(_ terms: [RegionTerm], by factor: Double) -> [RegionTerm] {
        terms.map { RegionTerm($0.loss, weight: $0.weight * factor, elementMean: $0.elementMean) }
    }
}

/// The refusal of reduction none under an ignore index, for `what`.
private func checkMaskable(_ reduction: LossReduction, _ what: String) throws {
    guard reduction != .none else {
        throw DiceKitError.option(
            "region loss (\(what)) with an ignore index and reduction none; expected reduction mean or sum")
    }
}

extension DiceLoss: RegionObjective {
    /// The sigmoid, channels-last form without an ignore index.
    public var regionForm: DiceLoss {
        var loss = self
        loss.activation = .sigmoid
        loss.layout = .channelsLast
        loss.ignoreIndex = nil
        return loss
    }

    /// The Dice term (exact), and the binary cross-entropy as a mean over the elements when it
    /// has a weight and the reduction is mean.
    public func maskedTerms(masked: Int) throws -> [RegionTerm] {
        try checkMaskable(reduction, "dice")
        guard crossEntropyWeight > 0, reduction == .mean else { return [RegionTerm(self)] }
        var diceOnly = self
        diceOnly.crossEntropyWeight = 0
        diceOnly.crossEntropyClassWeights = nil
        var crossEntropyOnly = self
        crossEntropyOnly.diceWeight = 0
        return [RegionTerm(diceOnly), RegionTerm(crossEntropyOnly, elementMean: true)]
    }
}

extension FocalLoss: RegionObjective {
    /// The sigmoid, channels-last form without an ignore index.
    public var regionForm: FocalLoss {
        var loss = self
        loss.activation = .sigmoid
        loss.layout = .channelsLast
        loss.ignoreIndex = nil
        return loss
    }

    /// The loss itself, a mean over the elements (a normalized loss divides by the sum of the
    /// focal terms instead, to which a masked element adds 0).
    ///
    /// - Throws: `DiceKitError.option` for reduction sum (MONAI's sum of each image's spatial
    ///   means: the ignored positions change each image's denominator) or none.
    public func maskedTerms(masked: Int) throws -> [RegionTerm] {
        guard reduction == .mean else {
            throw DiceKitError.option(
                "region loss (focal) with an ignore index and reduction \(reduction.rawValue) (a sum of each image's spatial means); expected reduction mean"
            )
        }
        return [RegionTerm(self, elementMean: !normalized)]
    }
}

extension DiceFocalLoss: RegionObjective {
    /// The sigmoid, channels-last form of both terms.
    public var regionForm: DiceFocalLoss {
        DiceFocalLoss(dice: dice.regionForm, focal: focal.regionForm, diceWeight: diceWeight, focalWeight: focalWeight)
    }

    /// The Dice terms weighted by λ_dice, then the focal term weighted by λ_focal.
    public func maskedTerms(masked: Int) throws -> [RegionTerm] {
        try CompoundLoss.checkTerms(
            "dice-focal", weights: [("dice weight", diceWeight), ("focal weight", focalWeight)],
            reductions: [dice.reduction, focal.reduction], layouts: [dice.layout, focal.layout])
        return RegionTerm.scaled(try dice.maskedTerms(masked: masked), by: diceWeight)
            + RegionTerm.scaled(try focal.maskedTerms(masked: masked), by: focalWeight)
    }
}

extension GeneralizedDiceFocalLoss: RegionObjective {
    /// The sigmoid, channels-last form of both terms.
    public var regionForm: GeneralizedDiceFocalLoss {
        var loss = self
        loss.generalizedDice = generalizedDice.regionForm
        loss.focal = focal.regionForm
        return loss
    }

    /// The generalized Dice terms weighted by λ_gdl, then the focal term weighted by λ_focal.
    public func maskedTerms(masked: Int) throws -> [RegionTerm] {
        try checkVariant()
        try CompoundLoss.checkTerms(
            "generalized-dice-focal",
            weights: [("generalized dice weight", generalizedDiceWeight), ("focal weight", focalWeight)],
            reductions: [generalizedDice.reduction, focal.reduction],
            layouts: [generalizedDice.layout, focal.layout])
        return RegionTerm.scaled(try generalizedDice.maskedTerms(masked: masked), by: generalizedDiceWeight)
            + RegionTerm.scaled(try focal.maskedTerms(masked: masked), by: focalWeight)
    }
}

extension LovaszLoss: RegionObjective {
    /// The channels-last form without an ignore index (the variant is kept: `checkRegionForm`
    /// refuses Lovász-softmax).
    public var regionForm: LovaszLoss {
        var loss = self
        loss.layout = .channelsLast
        loss.ignoreIndex = nil
        return loss
    }

    /// The loss itself: a masked element's hinge error relu(1 − 10⁴) is 0, sorted after every
    /// positive error, so neither the value nor any other element's gradient changes.
    public func maskedTerms(masked: Int) throws -> [RegionTerm] {
        [RegionTerm(self)]
    }

    /// Refuses Lovász-softmax, whose softmax compares exclusive classes.
    public func checkRegionForm() throws {
        guard variant == .hinge else {
            throw DiceKitError.option(
                "region loss with lovasz-softmax (a softmax over exclusive classes); expected lovasz-hinge")
        }
    }
}

extension MCCLoss: RegionObjective {
    /// The sigmoid, channels-last form without an ignore index.
    public var regionForm: MCCLoss {
        var loss = self
        loss.activation = .sigmoid
        loss.layout = .channelsLast
        loss.ignoreIndex = nil
        return loss
    }

    /// The loss with the masked elements taken out of its element count (each would add 1 to
    /// the true negatives; it adds 0 to Σ p, Σ g and Σ p·g).
    public func maskedTerms(masked: Int) throws -> [RegionTerm] {
        var loss = self
        loss.maskedElements = masked
        return [RegionTerm(loss)]
    }
}
