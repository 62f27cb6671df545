// The training objectives (`dicekit train --loss`) and the loss `Trainer` builds from a
// configuration: the objective with the cross-entropy's class weights and label smoothing applied.

/// The training objectives `dicekit train --loss` offers; all take the logits and the label maps.
/// The Dice family, focal, Lovász-softmax, Wasserstein and MCC act on the softmax probabilities;
/// Lovász-hinge on the raw logits against the one-hot target.
public enum LossKind: String, Sendable, CaseIterable {
    /// Soft Dice (MONAI defaults).
    case dice
    /// Dice + softmax cross-entropy, equal weights.
    case diceCE = "dice-ce"
    /// Jaccard (soft IoU).
    case jaccard
    /// Tversky with α = 0.3 (FP), β = 0.7 (FN): recall-leaning, for small objects.
    case tversky
    /// Focal Tversky (α 0.3, β 0.7, γ 0.75).
    case focalTversky = "focal-tversky"
    /// Log-cosh Dice.
    case logCoshDice = "log-cosh-dice"
    /// Generalized Dice (1/G² weights).
    case generalized
    /// Softmax focal loss, γ = 2, no α (MONAI `FocalLoss(use_softmax=True)`).
    case focal
    /// Softmax Dice + sigmoid focal (γ = 2), equal weights (MONAI `DiceFocalLoss(softmax=True)`).
    case diceFocal = "dice-focal"
    /// Lovász-softmax over the whole batch, classes present (smp `LovaszLoss("multiclass")`).
    case lovaszSoftmax = "lovasz-softmax"
    /// Lovász-hinge on the logits against the one-hot target, whole batch (smp multilabel mode).
    case lovaszHinge = "lovasz-hinge"
    /// Generalized Wasserstein Dice with distances 1 − I and the default weighting (background 0).
    case wasserstein
    /// Matthews correlation loss of the softmax probabilities against the one-hot target.
    case mcc
    /// Soft clDice of the softmax probabilities, 3 skeleton iterations (MONAI `SoftclDiceLoss(softmax=True)`).
    case clDice = "cldice"
    /// 0.5·Dice + 0.5·clDice of the softmax probabilities (MONAI `SoftDiceclDiceLoss(softmax=True)`).
    case diceClDice = "dice-cldice"
    /// Softmax generalized Dice (1/G² weights) + sigmoid focal (γ = 2), equal weights (MONAI
    /// `GeneralizedDiceFocalLoss(softmax=True)`).
    case generalizedDiceFocal = "generalized-dice-focal"

    /// The Tversky weights of `.tversky` and `.focalTversky`: α = 0.3 on the false positives,
    /// β = 0.7 on the false negatives (recall-leaning); γ is `DiceVariant.defaultFocalTverskyGamma`.
    public static let tverskyWeights = (alpha: 0.3, beta: 0.7)

    /// The loss this objective stands for, for a model with `classes` output channels.
    public func loss(classes: Int) -> any SegmentationLoss {
        let (alpha, beta) = LossKind.tverskyWeights
        switch self {
        case .dice: return DiceLoss(variant: .dice, activation: .softmax)
        case .diceCE:
            var loss = DiceLoss(variant: .dice, activation: .softmax)
            loss.crossEntropyWeight = 1
            return loss
        case .jaccard: return DiceLoss(variant: .jaccard, activation: .softmax)
        case .tversky: return DiceLoss(variant: .tversky(alpha: alpha, beta: beta), activation: .softmax)
        case .focalTversky: return DiceLoss(variant: .focalTversky(alpha: alpha, beta: beta), activation: .softmax)
        case .logCoshDice: return DiceLoss(variant: .logCoshDice, activation: .softmax)
        case .generalized: return DiceLoss(variant: .generalized(), activation: .softmax)
        case .focal: return FocalLoss(activation: .softmax)
        case .diceFocal: return DiceFocalLoss(activation: .softmax)
        case .lovaszSoftmax: return LovaszLoss(variant: .softmax)
        case .lovaszHinge: return LovaszLoss(variant: .hinge)
        case .wasserstein:
            return WassersteinDiceLoss(distanceMatrix: WassersteinDiceLoss.uniformDistances(classes: classes))
        case .mcc: return MCCLoss(activation: .softmax)
        case .clDice: return ClDiceLoss(activation: .softmax)
        case .diceClDice: return DiceClDiceLoss(activation: .softmax)
        case .generalizedDiceFocal: return GeneralizedDiceFocalLoss(activation: .softmax)
        }
    }
}

extension TrainingConfiguration {
    /// The loss `Trainer` minimises for a model with `classes` output channels: `loss`'s objective
    /// with `crossEntropyClassWeights` and `labelSmoothing` applied.
    ///
    /// - Throws: `DiceKitError` when those options do not fit: another objective than `.diceCE`,
    ///   values out of range, or a number of class weights other than `classes`.
    public func objective(classes: Int) throws -> any SegmentationLoss {
        guard crossEntropyClassWeights != nil || labelSmoothing != 0 else { return loss.loss(classes: classes) }
        return try weightedDiceCE(classes: classes)
    }

    /// The cross-entropy options: with the objective that has a cross-entropy term, in range
    /// (their count is checked once the classes are known, by `objective(classes:)`).
    func validateCrossEntropyOptions() throws {
        guard crossEntropyClassWeights != nil || labelSmoothing != 0 else { return }
        _ = try weightedDiceCE(classes: nil)
    }

    /// Dice + CE with the cross-entropy options, checked by `DiceLoss`'s own check.
    private func weightedDiceCE(classes: Int?) throws -> DiceLoss {
        guard loss == .diceCE, var dice = loss.loss(classes: classes ?? 2) as? DiceLoss else {
            let given = crossEntropyClassWeights != nil ? "cross-entropy class weights" : "label smoothing"
            throw DiceKitError.option(
                "\(given) with loss \(loss.rawValue); expected loss dice-ce (the objective with a cross-entropy term)")
        }
        dice.crossEntropyClassWeights = crossEntropyClassWeights
        dice.labelSmoothing = labelSmoothing
        try dice.checkCrossEntropyOptions(channels: classes)
        return dice
    }
}
