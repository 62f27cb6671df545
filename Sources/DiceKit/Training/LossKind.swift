// The training objectives (`dicekit train --loss`) and the loss `Trainer` builds from a
// configuration: the objective with its hyper-parameters (`LossOptions`) applied.

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

    /// Dice + 0.01·Hausdorff distance-transform loss (α = 2, background left out of the Hausdorff
    /// term as in MONAI's `HausdorffDTLoss`): `DiceHausdorffLoss`.
    case diceHausdorff = "dice-hausdorff"

    /// The Tversky weights of `.tversky` and `.focalTversky`: α = 0.3 on the false positives,
    /// β = 0.7 on the false negatives (recall-leaning); γ is `DiceVariant.defaultFocalTverskyGamma`.
    public static let tverskyWeights = (alpha: 0.3, beta: 0.7)

    /// The loss this objective stands for, for a model with `classes` output channels, with every
    /// hyper-parameter at its default (`LossOptions.objective(_:classes:ignoreIndex:)` applies others).
    public func loss(classes: Int) -> any SegmentationLoss {
        LossOptions().objective(self, classes: classes)
    }

    /// Whether the objective can train overlapping regions (`LabelRegions`, through `RegionLoss`):
    /// those with a sigmoid form that reads each region on its own (`RegionObjective`) — the Dice
    /// family and Dice + cross-entropy (binary, as nnU-Net's regions), focal, Dice + focal and
    /// generalized Dice + focal (MONAI's `sigmoid=True`), Lovász-hinge and MCC (smp's multilabel
    /// and binary losses). Lovász-softmax, Wasserstein, clDice, Dice + clDice and Dice + Hausdorff
    /// compare classes that exclude each other, or skeletons and distances of class masks.
    public var acceptsRegions: Bool {
        switch self {
        case .dice, .diceCE, .jaccard, .tversky, .focalTversky, .logCoshDice, .generalized, .focal, .diceFocal,
            .generalizedDiceFocal, .lovaszHinge, .mcc:
            return true
        case .lovaszSoftmax, .wasserstein, .clDice, .diceClDice, .diceHausdorff:
            return false
        }
    }

    /// Whether the objective can leave unlabelled positions out (`TrainingConfiguration.ignoreIndex`):
    /// all but clDice, Dice + clDice and Dice + Hausdorff, whose soft skeletons and distance
    /// transforms are taken over the whole target and have no meaning where it is unknown.
    public var acceptsIgnoreIndex: Bool {
        switch self {
        case .clDice, .diceClDice, .diceHausdorff: return false
        default: return true
        }
    }
}

extension LossOptions {
    /// The loss of `kind` for a model with `classes` output channels, with these options applied
    /// (call `check(for:)` first: an option that does not fit `kind` is not used here), leaving
    /// out the positions labelled `ignoreIndex` (for objectives that `acceptsIgnoreIndex`; the
    /// others are built without it). With `regions` (for objectives that `acceptsRegions`), the
    /// objective's sigmoid form over the regions (`RegionLoss`), `classes` being their count.
    public func objective(
        _ kind: LossKind, classes: Int, ignoreIndex: Int? = nil, regions: LabelRegions? = nil
    ) -> any SegmentationLoss {
        if let regions, kind.acceptsRegions,
            let inner = classObjective(kind, classes: classes, ignoreIndex: nil) as? any RegionObjective
        {
            return RegionLoss(regions: regions, loss: inner, ignoreIndex: ignoreIndex)
        }
        return classObjective(kind, classes: classes, ignoreIndex: ignoreIndex)
    }

    /// The objective over `classes` exclusive classes (RegionLoss takes the sigmoid form of it).
    private func classObjective(_ kind: LossKind, classes: Int, ignoreIndex: Int?) -> any SegmentationLoss {
        switch kind {
        case .dice, .diceCE, .jaccard, .tversky, .focalTversky, .logCoshDice, .generalized:
            var dice = diceLoss(kind)
            dice.ignoreIndex = ignoreIndex
            return dice
        case .focal:
            var focal = FocalLoss(activation: .softmax)
            focal.gamma = focalGamma ?? focal.gamma
            focal.classWeights = classWeights
            focal.excludeBackground = excludeBackground
            focal.ignoreIndex = ignoreIndex
            return focal
        case .diceFocal:
            var loss = DiceFocalLoss(
                activation: .softmax, gamma: focalGamma ?? FocalLoss.defaultGamma, classWeights: classWeights,
                excludeBackground: excludeBackground)
            loss.dice.batch = batch
            loss.dice.ignoreIndex = ignoreIndex
            loss.focal.ignoreIndex = ignoreIndex
            loss.diceWeight = diceWeight ?? 1
            loss.focalWeight = focalWeight ?? 1
            return loss
        case .generalizedDiceFocal:
            var loss = GeneralizedDiceFocalLoss(
                activation: .softmax, gamma: focalGamma ?? FocalLoss.defaultGamma, classWeights: classWeights,
                excludeBackground: excludeBackground, batch: batch)
            loss.generalizedDice.ignoreIndex = ignoreIndex
            loss.focal.ignoreIndex = ignoreIndex
            loss.generalizedDiceWeight = diceWeight ?? 1
            loss.focalWeight = focalWeight ?? 1
            return loss
        case .lovaszSoftmax, .lovaszHinge:
            var loss = LovaszLoss(variant: kind == .lovaszSoftmax ? .softmax : .hinge)
            loss.ignoreIndex = ignoreIndex
            return loss
        case .wasserstein:
            var loss = WassersteinDiceLoss(
                distanceMatrix: distanceMatrix ?? WassersteinDiceLoss.uniformDistances(classes: classes))
            loss.ignoreIndex = ignoreIndex
            return loss
        case .mcc:
            var loss = MCCLoss(activation: .softmax)
            loss.ignoreIndex = ignoreIndex
            return loss
        case .clDice:
            var loss = ClDiceLoss(activation: .softmax, iterations: clDiceIterations ?? ClDiceLoss.defaultIterations)
            loss.excludeBackground = excludeBackground
            return loss
        case .diceClDice:
            return DiceClDiceLoss(
                activation: .softmax, iterations: clDiceIterations ?? ClDiceLoss.defaultIterations,
                alpha: clDiceAlpha ?? DiceClDiceLoss.defaultAlpha, excludeBackground: excludeBackground)
        case .diceHausdorff:
            var loss = DiceHausdorffLoss(activation: .softmax, alpha: hausdorffAlpha ?? HausdorffDTLoss.defaultAlpha)
            loss.dice = diceLoss(.dice)
            loss.diceWeight = diceWeight ?? 1
            loss.hausdorffWeight = hausdorffWeight ?? DiceHausdorffLoss.defaultHausdorffWeight
            loss.hausdorff.logarithmic = hausdorffLogarithmic
            return loss
        }
    }

    /// The softmax `DiceLoss` of a Dice-family objective with these options.
    private func diceLoss(_ kind: LossKind) -> DiceLoss {
        let alpha = tverskyAlpha ?? LossKind.tverskyWeights.alpha
        let beta = tverskyBeta ?? LossKind.tverskyWeights.beta
        let variant: DiceVariant
        switch kind {
        case .jaccard: variant = .jaccard
        case .tversky: variant = .tversky(alpha: alpha, beta: beta)
        case .focalTversky:
            variant = .focalTversky(
                alpha: alpha, beta: beta, gamma: tverskyGamma ?? DiceVariant.defaultFocalTverskyGamma)
        case .logCoshDice: variant = .logCoshDice
        case .generalized: variant = .generalized()
        default: variant = .dice
        }
        var dice = DiceLoss(variant: variant, activation: .softmax)
        dice.classWeights = classWeights
        dice.excludeBackground = excludeBackground
        dice.batch = batch
        if kind == .diceCE {
            dice.diceWeight = diceWeight ?? 1
            dice.crossEntropyWeight = crossEntropyWeight ?? 1
            dice.crossEntropyClassWeights = crossEntropyClassWeights
            dice.labelSmoothing = labelSmoothing
        }
        return dice
    }
}

extension TrainingConfiguration {
    /// The loss `Trainer` minimises for a model with `classes` output channels: `loss`'s objective
    /// with `lossOptions` applied.
    ///
    /// With `regions`, the objective's sigmoid form over them (`RegionLoss`; `classes` is their count).
    ///
    /// - Throws: `DiceKitError` when an option does not fit the objective or is out of range
    ///   (`LossOptions.check(for:)`), or the objective or `excludeBackground` does not fit
    ///   regions; the counts against `classes` are checked when the loss first runs.
    public func objective(classes: Int, regions: LabelRegions? = nil) throws -> any SegmentationLoss {
        try lossOptions.check(for: loss)
        try checkIgnoreIndex(classes: regions?.labelClasses ?? classes)
        if regions != nil {
            guard loss.acceptsRegions else {
                let accepting = LossKind.allCases.filter(\.acceptsRegions).map(\.rawValue)
                throw DiceKitError.option(
                    "regions with loss \(loss.rawValue) (it has no form that reads each region on its own); expected loss \(accepting.joined(separator: ", ")) (their sigmoid form)"
                )
            }
            guard !lossOptions.excludeBackground else {
                throw DiceKitError.option(
                    "--exclude-background with regions: a region network has no background channel; expected it left out"
                )
            }
        }
        return lossOptions.objective(loss, classes: classes, ignoreIndex: ignoreIndex, regions: regions)
    }

    /// Checks `ignoreIndex` against the objective and a model with `classes` outputs (nil: the
    /// class count is not known yet).
    ///
    /// - Throws: `DiceKitError.option` for an objective that cannot leave positions out;
    ///   `DiceKitError.value` for an index among the classes or beyond 32 bits.
    func checkIgnoreIndex(classes: Int?) throws {
        guard let ignoreIndex else { return }
        guard loss.acceptsIgnoreIndex else {
            let accepting = LossKind.allCases.filter(\.acceptsIgnoreIndex).map(\.rawValue)
            throw DiceKitError.option(
                "--ignore-index with loss \(loss.rawValue) (its skeleton or distance transform needs every position labelled); expected loss \(accepting.joined(separator: ", "))"
            )
        }
        // LabelRange also checks that the index fits 32 bits.
        if let classes {
            _ = try LabelRange(classes: classes, ignoreIndex: ignoreIndex, largest: 0)
        } else {
            _ = try SegmentationGeometry.ignoreLabel(ignoreIndex)
        }
    }
}

extension TrainingConfiguration {
    /// `objective(classes:)`, evaluated once on a zero input of `spatialRank` axes (4 positions
    /// each), so that what the loss refuses with these settings (a count of class weights other
    /// than the classes, a distance matrix of another size, …) fails before the first step.
    ///
    /// - Throws: `DiceKitError` from `objective(classes:)` or from that evaluation.
    func probedObjective(classes: Int, spatialRank: Int, regions: LabelRegions? = nil) throws -> any SegmentationLoss {
        let loss = try objective(classes: classes, regions: regions)
        let spatial = [Int](repeating: 4, count: spatialRank)
        let logits = Tensor<Float>(shape: [1] + spatial + [classes])
        let labels = try LabelMap(
            shape: [1] + spatial, int32Labels: [Int32](repeating: 0, count: 1 << (2 * spatialRank)))
        _ = try loss.evaluate(logits, target: .labels(labels), gradient: true)
        return loss
    }
}
