// `dicekit loss --variant focal|dice-focal|lovasz-softmax|lovasz-hinge|wasserstein|mcc` (and the clDice
// and generalized Dice + focal variants of LossCommand+ClDice.swift): the losses
// beyond the Dice family, with their options named as in MONAI / smp, and a one-line usage error
// for every option that does not apply to the chosen variant.

import DiceKit

extension LossCommand {
    /// The variants built here (the rest are `DiceVariant`s).
    static let familyVariants = [
        "focal", "dice-focal", "lovasz-softmax", "lovasz-hinge", "wasserstein", "mcc", "cldice", "dice-cldice",
        "generalized-dice-focal", "hausdorff-dt",
    ]

    /// Options every variant accepts.
    static let commonOptions: Set<String> = ["layout", "activation", "variant", "labels", "grad"]

    /// The options each family variant accepts beyond `commonOptions`.
    static let familyOptions: [String: Set<String>] = [
        "focal": [
            "focal-gamma", "focal-alpha", "class-weights", "exclude-background", "reduction", "normalized",
            "reduced-threshold", "ignore-index",
        ],
        "dice-focal": [
            "focal-gamma", "focal-alpha", "class-weights", "exclude-background", "reduction", "smooth-nr", "smooth-dr",
            "squared", "batch", "dice-weight", "focal-weight", "ignore-index",
        ],
        "lovasz-softmax": ["per-image", "ignore-index"],
        "lovasz-hinge": ["per-image", "ignore-index"],
        "wasserstein": [
            "distance-matrix", "wasserstein-weighting", "smooth-nr", "smooth-dr", "reduction", "ignore-index",
        ],
        "mcc": ["ignore-index"],
        "hausdorff-dt": ["hd-alpha", "include-background", "batch", "reduction", "log", "spacing"],
    ].merging(clDiceFamilyOptions) { a, _ in a }

    /// The activations each family variant takes.
    static let familyActivations: [String: [DiceActivation]] = [
        "focal": [.sigmoid, .softmax], "dice-focal": [.sigmoid, .softmax], "lovasz-softmax": [.softmax],
        "lovasz-hinge": [.none], "wasserstein": [.softmax], "mcc": [.none, .sigmoid, .softmax],
        "hausdorff-dt": [.none, .sigmoid, .softmax],
    ].merging(clDiceFamilyActivations) { a, _ in a }

    /// Options that only the family variants take (refused with the Dice variants).
    static var familyOnlyOptions: Set<String> {
        [
            "focal-gamma", "focal-alpha", "normalized", "reduced-threshold", "focal-weight", "per-image",
            "distance-matrix", "wasserstein-weighting", "cldice-iterations", "cldice-alpha", "cldice-smooth",
            "hd-alpha", "include-background", "log", "spacing",
        ]
    }

    /// Refuses family-only options given with a Dice-family variant.
    static func checkDiceOptions(_ arguments: ParsedArguments, variant: String) throws {
        guard
            DiceVariant.Name(rawValue: variant) != nil
                || arguments.string("preset") != nil && arguments.string("variant") == nil
        else {
            let all = DiceVariant.Name.allCases.map(\.rawValue) + familyVariants
            throw UsageError(message: "--variant expects one of \(all.joined(separator: "|")), got '\(variant)'")
        }
        for name in (Set(arguments.values.keys).union(arguments.flags)).sorted() where familyOnlyOptions.contains(name)
        {
            let owners = familyVariants.filter { familyOptions[$0]!.contains(name) }.joined(separator: "|")
            throw UsageError(
                message: "--\(name) does not apply to --variant \(variant); it belongs to --variant \(owners)")
        }
    }

    /// The loss of a family variant, or nil for a Dice-family variant.
    static func makeFamilyLoss(_ arguments: ParsedArguments) throws -> (any SegmentationLoss)? {
        let variant = arguments.string("variant") ?? "dice"
        guard familyVariants.contains(variant) else { return nil }
        let allowed = commonOptions.union(familyOptions[variant]!)
        for name in (Set(arguments.values.keys).union(arguments.flags)).sorted() where !allowed.contains(name) {
            let accepted = familyOptions[variant]!.sorted().map { "--" + $0 }.joined(separator: ", ")
            throw UsageError(
                message:
                    "--\(name) does not apply to --variant \(variant); it takes \(accepted.isEmpty ? "no options beyond --layout, --activation, --labels and --grad" : accepted)"
            )
        }
        let layout = try arguments.choice("layout", as: Layout.self, default: .channelsLast)!
        let activations = familyActivations[variant]!
        let activation = try arguments.choice("activation", as: DiceActivation.self, default: DiceActivation.none)!
        guard activations.contains(activation) else {
            throw UsageError(
                message:
                    "--variant \(variant) takes --activation \(activations.map(\.rawValue).joined(separator: "|")), got '\(activation.rawValue)'"
            )
        }
        if ["lovasz-softmax", "wasserstein"].contains(variant) && !arguments.flag("labels") {
            throw UsageError(message: "--variant \(variant) takes integer class labels: add --labels")
        }
        if arguments.string("ignore-index") != nil && !arguments.flag("labels") {
            throw UsageError(message: "--ignore-index needs --labels (integer class targets)")
        }
        let reduction = try arguments.choice("reduction", as: LossReduction.self, default: .mean)!
        let gamma = try arguments.double("focal-gamma", default: FocalLoss.defaultGamma)!
        let (alpha, classAlpha) = try focalAlpha(arguments)
        switch variant {
        case "focal":
            var loss = FocalLoss(activation: activation, gamma: gamma, alpha: alpha, layout: layout)
            loss.classWeights = try arguments.doubles("class-weights")
            loss.excludeBackground = arguments.flag("exclude-background")
            loss.reduction = reduction
            loss.normalized = arguments.flag("normalized")
            loss.reducedThreshold = try arguments.double("reduced-threshold")
            loss.classAlpha = classAlpha
            loss.ignoreIndex = try arguments.int("ignore-index")
            return loss
        case "dice-focal":
            var loss = DiceFocalLoss(
                activation: activation, gamma: gamma, alpha: alpha,
                classWeights: try arguments.doubles("class-weights"),
                excludeBackground: arguments.flag("exclude-background"), reduction: reduction, layout: layout)
            loss.dice.smoothNumerator = try arguments.double("smooth-nr", default: DiceLoss.defaultSmoothing)!
            loss.dice.smoothDenominator = try arguments.double("smooth-dr", default: DiceLoss.defaultSmoothing)!
            loss.dice.squared = arguments.flag("squared")
            loss.dice.batch = arguments.flag("batch")
            loss.diceWeight = try arguments.double("dice-weight", default: 1)!
            loss.focalWeight = try arguments.double("focal-weight", default: 1)!
            loss.focal.classAlpha = classAlpha
            loss.dice.ignoreIndex = try arguments.int("ignore-index")
            loss.focal.ignoreIndex = loss.dice.ignoreIndex
            return loss
        case "cldice", "dice-cldice", "generalized-dice-focal":
            return try makeClDiceFamilyLoss(
                arguments, variant: variant, activation: activation, layout: layout, reduction: reduction)
        case "lovasz-softmax", "lovasz-hinge":
            var loss = LovaszLoss(
                variant: LovaszVariant(rawValue: variant)!, perImage: arguments.flag("per-image"), layout: layout)
            loss.ignoreIndex = try arguments.int("ignore-index")
            return loss
        case "wasserstein":
            guard let path = arguments.string("distance-matrix") else {
                throw UsageError(message: "--variant wasserstein needs --distance-matrix M.npy (C×C class distances)")
            }
            let matrix = try NPY.read(contentsOf: path)
            guard matrix.shape.count == 2, matrix.shape[0] == matrix.shape[1] else {
                throw DiceKitError.shape("\(path): distance matrix shape \(matrix.shape); expected [C, C]")
            }
            var loss = WassersteinDiceLoss(
                distanceMatrix: matrix.tensor(of: Double.self).scalars,
                weighting: try arguments.choice(
                    "wasserstein-weighting", as: WassersteinWeighting.self, default: .default)!,
                layout: layout)
            loss.smoothNumerator = try arguments.double("smooth-nr", default: DiceLoss.defaultSmoothing)!
            loss.smoothDenominator = try arguments.double("smooth-dr", default: DiceLoss.defaultSmoothing)!
            loss.reduction = reduction
            loss.ignoreIndex = try arguments.int("ignore-index")
            return loss
        case "hausdorff-dt":
            var loss = HausdorffDTLoss(activation: activation, layout: layout)
            loss.alpha = try arguments.double("hd-alpha", default: HausdorffDTLoss.defaultAlpha)!
            loss.excludeBackground = !arguments.flag("include-background")
            loss.batch = arguments.flag("batch")
            loss.reduction = reduction
            loss.logarithmic = arguments.flag("log")
            loss.spacing = try arguments.doubles("spacing")
            return loss
        default:
            var loss = MCCLoss(activation: activation, layout: layout)
            loss.ignoreIndex = try arguments.int("ignore-index")
            return loss
        }
    }
}
