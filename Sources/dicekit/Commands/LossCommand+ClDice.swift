// `dicekit loss --variant cldice|dice-cldice|generalized-dice-focal`, and the focal loss's α given
// per class (`--focal-alpha a0,a1,...`), with their options named as in MONAI.

import DiceKit

extension LossCommand {
    /// The options of the clDice and generalized Dice + focal variants beyond `commonOptions`.
    static let clDiceFamilyOptions: [String: Set<String>] = [
        "cldice": ["cldice-iterations", "smooth-nr", "smooth-dr", "cldice-smooth", "exclude-background", "reduction"],
        "dice-cldice": [
            "cldice-iterations", "cldice-alpha", "smooth-nr", "smooth-dr", "cldice-smooth", "exclude-background",
            "reduction",
        ],
        "generalized-dice-focal": [
            "generalized-weight", "focal-gamma", "class-weights", "exclude-background", "batch", "reduction",
            "smooth-nr", "smooth-dr", "dice-weight", "focal-weight",
        ],
    ]

    /// The activations the clDice and generalized Dice + focal variants take.
    static let clDiceFamilyActivations: [String: [DiceActivation]] = [
        "cldice": [.none, .sigmoid, .softmax], "dice-cldice": [.none, .sigmoid, .softmax],
        "generalized-dice-focal": [.sigmoid, .softmax],
    ]

    /// `--focal-alpha A` (one α) or `--focal-alpha a0,a1,...` (MONAI's per-class α, one value per
    /// class after exclusion).
    static func focalAlpha(_ arguments: ParsedArguments) throws -> (alpha: Double?, perClass: [Double]?) {
        guard let values = try arguments.doubles("focal-alpha") else { return (nil, nil) }
        return values.count == 1 ? (values[0], nil) : (nil, values)
    }

    /// The loss of `variant` (cldice, dice-cldice or generalized-dice-focal).
    static func makeClDiceFamilyLoss(
        _ arguments: ParsedArguments, variant: String, activation: DiceActivation, layout: Layout,
        reduction: LossReduction
    ) throws -> any SegmentationLoss {
        let iterations = try arguments.int("cldice-iterations", default: ClDiceLoss.defaultIterations)!
        let smooth = try arguments.double("cldice-smooth", default: ClDiceLoss.defaultHarmonicSmoothing)!
        let excludeBackground = arguments.flag("exclude-background")
        switch variant {
        case "cldice":
            var loss = ClDiceLoss(activation: activation, iterations: iterations, layout: layout)
            loss.smoothNumerator = try arguments.double("smooth-nr", default: ClDiceLoss.defaultSmoothing)!
            loss.smoothDenominator = try arguments.double("smooth-dr", default: ClDiceLoss.defaultSmoothing)!
            loss.smooth = smooth
            loss.excludeBackground = excludeBackground
            loss.reduction = reduction
            return loss
        case "dice-cldice":
            var loss = DiceClDiceLoss(
                activation: activation, iterations: iterations,
                alpha: try arguments.double("cldice-alpha", default: DiceClDiceLoss.defaultAlpha)!,
                smoothNumerator: try arguments.double("smooth-nr", default: ClDiceLoss.defaultSmoothing)!,
                smoothDenominator: try arguments.double("smooth-dr", default: ClDiceLoss.defaultSmoothing)!,
                excludeBackground: excludeBackground, reduction: reduction, layout: layout)
            loss.clDice.smooth = smooth
            return loss
        default:
            var loss = GeneralizedDiceFocalLoss(
                activation: activation,
                weighting: try arguments.choice(
                    "generalized-weight", as: GeneralizedWeight.self, default: DiceVariant.defaultGeneralizedWeighting)!,
                gamma: try arguments.double("focal-gamma", default: FocalLoss.defaultGamma)!,
                classWeights: try arguments.doubles("class-weights"), excludeBackground: excludeBackground,
                batch: arguments.flag("batch"), reduction: reduction, layout: layout)
            loss.generalizedDice.smoothNumerator = try arguments.double(
                "smooth-nr", default: DiceLoss.defaultSmoothing)!
            loss.generalizedDice.smoothDenominator = try arguments.double(
                "smooth-dr", default: DiceLoss.defaultSmoothing)!
            loss.generalizedDiceWeight = try arguments.double("dice-weight", default: 1)!
            loss.focalWeight = try arguments.double("focal-weight", default: 1)!
            return loss
        }
    }
}
