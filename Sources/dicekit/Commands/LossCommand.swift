// `dicekit loss PRED.npy TARGET.npy [options] [--grad GRAD.npy]`: one loss, printed as one JSON
// object, with every option of the `DiceLoss` API reachable, and the focal, Lovász, Wasserstein
// Dice and MCC losses (LossCommand+Family.swift; see Docs/CLI.md).

import DiceKit

enum LossCommand: Command {
    static let spec = CommandSpec(
        name: "loss",
        summary: "compute a segmentation loss (and its gradient) of PRED.npy against TARGET.npy",
        help: """
            usage: dicekit loss PRED.npy TARGET.npy [options] [--grad GRAD.npy]

            Prints one JSON object: {"loss": x} (a nested array for --reduction none).
            PRED float32 computes in Float, float64 in Double. Defaults follow MONAI 1.6.

              --layout channels-last|channels-first   channel axis of PRED (default channels-last)
              --activation none|sigmoid|softmax       applied to PRED inside the loss (default none)
              --labels                 TARGET holds integer class indices (any integer or float dtype),
                                       shape [N, spatial...]; otherwise TARGET has PRED's shape
              --variant dice|jaccard|tversky|focal-tversky|log-cosh-dice|generalized   (default dice)
                        |focal|dice-focal|lovasz-softmax|lovasz-hinge|wasserstein|mcc
                        |cldice|dice-cldice|generalized-dice-focal|hausdorff-dt
              --squared                Σp² and Σg² in the denominator
              --soft-labels            soft-label TP = (Σp + Σg − Σ|p − g|)/2 for a dense TARGET
              --smooth-nr X  --smooth-dr X            smoothing (default 1e-5 each)
              --exclude-background     drop channel 0
              --batch                  sum the statistics over the batch (one value per class)
              --class-weights w0,w1,...               per-class loss weights (classes after exclusion)
              --reduction mean|sum|none               (default mean)
              --ignore-index K         label K contributes nothing (with --labels)
              --alpha A  --beta B      Tversky weights of FP and FN (default 0.5, 0.5)
              --gamma G                focal Tversky exponent (default 0.75)
              --generalized-weight square|simple|uniform  (default square)
              --dice-weight X  --ce-weight Y          compound loss X·Dice + Y·CE (default 1, 0)
              --ce-class-weights w0,w1,...            CE weight per channel, background included: softmax
                                       class weights (PyTorch's weight=), sigmoid pos_weight (needs --ce-weight)
              --label-smoothing E      softmax CE targets (1 − E)·g + E/C, E in [0, 1] (default 0)
              --valid-mask MASK.npy    [N, C] of 0/1: pairs with 0 contribute nothing
              --empty-class smooth|exclude|one|zero|penalize   absent classes (default smooth)
              --preset seed-basic|seed-weighted|seed-multiclass  the seed article's functions
              --epsilon E              the presets' ε (default 1e-6)
              --grad GRAD.npy          write d(sum of loss values)/d(PRED), PRED's shape and dtype

            Focal, Lovász, Wasserstein, MCC and clDice variants (other Dice options are refused with them):
              focal           --activation sigmoid|softmax  --focal-gamma G (2)  --focal-alpha A (or a0,a1,...
                              per class, MONAI's sequence alpha)
                              --class-weights  --exclude-background  --reduction mean|sum|none
                              --normalized  --reduced-threshold R   (smp's options; sigmoid, mean)
                              --ignore-index K (with --labels; also dice-focal, wasserstein, mcc)
              dice-focal      MONAI DiceFocalLoss: Dice with --activation, sigmoid focal; --focal-gamma,
                              --focal-alpha, --class-weights, --exclude-background, --reduction mean|sum,
                              --smooth-nr/--smooth-dr, --squared, --batch, --dice-weight X, --focal-weight Y
              lovasz-softmax  --activation softmax, --labels; --per-image, --ignore-index K
              lovasz-hinge    raw logits (--activation none); labels or a 0/1 TARGET; --per-image, --ignore-index K
              wasserstein     --activation softmax, --labels, --distance-matrix M.npy ([C, C]),
                              --wasserstein-weighting default|gdl, --smooth-nr/--smooth-dr, --reduction
              mcc             --activation none|sigmoid|softmax (none: PRED holds probabilities)
              cldice          MONAI SoftclDiceLoss, 2-D or 3-D: --activation none|sigmoid|softmax,
                              --cldice-iterations K (3, ≥ 0), --smooth-nr/--smooth-dr (1 each),
                              --cldice-smooth S (1e-4), --exclude-background, --reduction mean|sum|none
              dice-cldice     MONAI SoftDiceclDiceLoss: (1 − α)·Dice + α·clDice, --cldice-alpha α (0.5, in
                              [0, 1]), the cldice options, --reduction mean|sum
              generalized-dice-focal  MONAI GeneralizedDiceFocalLoss: generalized Dice with --activation
                              sigmoid|softmax, sigmoid focal; --generalized-weight, --focal-gamma,
                              --class-weights (focal term), --exclude-background, --batch, --reduction
                              mean|sum, --smooth-nr/--smooth-dr, --dice-weight X, --focal-weight Y
              hausdorff-dt    MONAI HausdorffDTLoss, 2-D or 3-D: --activation none|sigmoid|softmax, --hd-alpha A
                              (\(HausdorffDTLoss.defaultAlpha)), background excluded unless --include-background (MONAI's
                              default), --batch, --reduction mean|sum|none, --log (LogHausdorffDTLoss),
                              --spacing s0,s1[,s2] (voxel size per spatial axis; default 1)

            Exit status: 0 on success, 1 on bad input (one line on stderr), 2 on bad usage.
            """,
        valueOptions: [
            "layout", "activation", "variant", "smooth-nr", "smooth-dr", "class-weights", "reduction",
            "ignore-index", "alpha", "beta", "gamma", "generalized-weight", "dice-weight", "ce-weight",
            "ce-class-weights", "label-smoothing",
            "valid-mask", "empty-class", "preset", "epsilon", "grad",
            "focal-gamma", "focal-alpha", "reduced-threshold", "focal-weight", "distance-matrix",
            "wasserstein-weighting", "cldice-iterations", "cldice-alpha", "cldice-smooth", "hd-alpha", "spacing",
        ],
        flags: [
            "labels", "squared", "soft-labels", "exclude-background", "batch", "normalized", "per-image",
            "include-background", "log",
        ],
        positionals: 2...2
    )

    /// The `DiceLoss` the options describe; defaults are the library's (`DiceLoss.defaultSmoothing`,
    /// `DiceVariant.defaultTverskyAlpha`, …, `SeedPreset.defaultEpsilon`).
    static func makeLoss(_ arguments: ParsedArguments) throws -> DiceLoss {
        try checkDiceOptions(arguments, variant: arguments.string("variant") ?? "dice")
        let layout = try arguments.choice("layout", as: Layout.self, default: .channelsLast)!
        let activation = try arguments.choice("activation", as: DiceActivation.self, default: DiceActivation.none)!
        let name = try arguments.choice("variant", as: DiceVariant.Name.self, default: .dice)!
        let smoothNumerator = try arguments.double("smooth-nr", default: DiceLoss.defaultSmoothing)!
        let smoothDenominator = try arguments.double("smooth-dr", default: DiceLoss.defaultSmoothing)!
        let classWeights = try arguments.doubles("class-weights")
        let reduction = try arguments.choice("reduction", as: LossReduction.self, default: .mean)!
        let ignoreIndex = try arguments.int("ignore-index")
        let alpha = try arguments.double("alpha", default: DiceVariant.defaultTverskyAlpha)!
        let beta = try arguments.double("beta", default: DiceVariant.defaultTverskyBeta)!
        let gamma = try arguments.double("gamma", default: DiceVariant.defaultFocalTverskyGamma)!
        let weighting = try arguments.choice(
            "generalized-weight", as: GeneralizedWeight.self, default: DiceVariant.defaultGeneralizedWeighting)!
        let diceWeight = try arguments.double("dice-weight", default: 1)!
        let crossEntropyWeight = try arguments.double("ce-weight", default: 0)!
        let crossEntropyClassWeights = try arguments.doubles("ce-class-weights")
        let labelSmoothing = try arguments.double("label-smoothing", default: 0)!
        let emptyClass = try arguments.choice("empty-class", as: EmptyClassPolicy.self, default: .smooth)!
        let presetName = try arguments.choice("preset", as: SeedPreset.Name.self)
        if arguments.string("epsilon") != nil && presetName == nil {
            throw UsageError(message: "--epsilon applies to --preset only; use --smooth-nr/--smooth-dr otherwise")
        }
        let epsilon = try arguments.double("epsilon", default: SeedPreset.defaultEpsilon)!
        if arguments.string("ignore-index") != nil && !arguments.flag("labels") {
            throw UsageError(message: "--ignore-index needs --labels (integer class targets)")
        }
        let variant = DiceVariant(name, alpha: alpha, beta: beta, gamma: gamma, weighting: weighting)
        try checkUnusedHyperParameters(of: variant, alpha: alpha, beta: beta, gamma: gamma)

        var loss: DiceLoss
        switch presetName {
        case nil: loss = DiceLoss(variant: variant, activation: activation, layout: layout)
        case .basic?: loss = .seed(.basic, epsilon: epsilon, activation: activation, layout: layout)
        case .multiclass?: loss = .seed(.multiclass, epsilon: epsilon, activation: activation, layout: layout)
        case .weighted?:
            // Without --class-weights the loss is refused once the class count is known (`requireSeedWeights`).
            loss = .seed(
                .weighted(classWeights: classWeights ?? []), epsilon: epsilon, activation: activation, layout: layout)
        }
        // A preset does not use the variant, the smoothing, batch, the empty-class policy or (but
        // for seed-weighted's own) the class weights; they are set anyway, so that their values
        // are checked as for any loss.
        loss.variant = variant
        loss.squared = arguments.flag("squared")
        loss.softLabels = arguments.flag("soft-labels")
        loss.smoothNumerator = smoothNumerator
        loss.smoothDenominator = smoothDenominator
        loss.excludeBackground = arguments.flag("exclude-background")
        loss.batch = arguments.flag("batch")
        loss.classWeights = presetName == .weighted ? nil : classWeights
        loss.reduction = reduction
        loss.ignoreIndex = ignoreIndex
        loss.diceWeight = diceWeight
        loss.crossEntropyWeight = crossEntropyWeight
        loss.crossEntropyClassWeights = crossEntropyClassWeights
        loss.labelSmoothing = labelSmoothing
        loss.emptyClass = emptyClass
        return loss
    }

    /// `--alpha`, `--beta` and `--gamma` are parsed for every variant and their values refused
    /// when out of range, also when the variant does not use them (the loss checks those it uses).
    static func checkUnusedHyperParameters(of variant: DiceVariant, alpha: Double, beta: Double, gamma: Double) throws {
        switch variant {
        case .tversky, .focalTversky: break
        default:
            for (option, value) in [("alpha", alpha), ("beta", beta)] where !(value.isFinite && value >= 0) {
                throw DiceKitError.value("\(option) is \(value); expected a finite number ≥ 0.0")
            }
        }
        if case .focalTversky = variant { return }
        guard gamma.isFinite, gamma > 0 else {
            throw DiceKitError.value("gamma is \(gamma); expected a finite number > 0")
        }
    }

    /// Refuses `--preset seed-weighted` without `--class-weights`, naming the number of weights
    /// that `prediction`'s shape needs (left to the loss when the shape itself is wrong).
    static func requireSeedWeights(_ arguments: ParsedArguments, _ loss: DiceLoss, predictionShape shape: [Int]) throws
    {
        guard loss.preset?.name == .weighted, arguments.string("class-weights") == nil, shape.count >= 3 else { return }
        let classes = shape[loss.layout.channelAxis(rank: shape.count)] - (loss.excludeBackground ? 1 : 0)
        throw DiceKitError.option("preset seed-weighted needs class weights (\(classes) values)")
    }

    static func run(_ arguments: ParsedArguments) throws {
        let loss: any SegmentationLoss = try makeFamilyLoss(arguments) ?? makeLoss(arguments)
        try checkOutputs(files: [arguments.string("grad")])
        let predictionPath = arguments.positionals[0]
        let targetPath = arguments.positionals[1]
        let prediction = try NPY.read(contentsOf: predictionPath)
        switch prediction.dtype {
        case .float32: try run(Float.self, loss, prediction, targetPath, arguments)
        case .float64: try run(Double.self, loss, prediction, targetPath, arguments)
        default:
            throw DiceKitError.value(
                "\(predictionPath): dtype \(prediction.dtype.rawValue); expected float32 or float64 predictions")
        }
    }

    static func run<T: BLASScalar>(
        _ type: T.Type, _ loss: any SegmentationLoss, _ predictionArray: NPYArray, _ targetPath: String,
        _ arguments: ParsedArguments
    ) throws {
        let prediction = predictionArray.tensor(of: T.self)
        let targetArray = try NPY.read(contentsOf: targetPath)
        let target: SegmentationTarget<T>
        if arguments.flag("labels") {
            target = .labels(try LabelMap(shape: targetArray.shape, labels: targetArray.integers()))
        } else {
            let dense = targetArray.tensor(of: T.self)
            target = arguments.flag("soft-labels") ? .soft(dense) : .oneHot(dense)
        }
        let mask: Tensor<T>? = try arguments.string("valid-mask").map {
            try NPY.read(contentsOf: $0).tensor(of: T.self)
        }
        let gradientPath = arguments.string("grad")
        let result: DiceLossResult<T>
        if let dice = loss as? DiceLoss {
            try requireSeedWeights(arguments, dice, predictionShape: prediction.shape)
            result = try dice.evaluate(prediction, target: target, validMask: mask, gradient: gradientPath != nil)
        } else {
            result = try loss.evaluate(prediction, target: target, gradient: gradientPath != nil)
        }
        if let path = gradientPath, let gradient = result.gradient {
            try NPY.write(gradient, to: path)
        }
        printOutput("{\"loss\": \(jsonValue(result.loss.scalars, shape: result.loss.shape))}")
    }

    /// A JSON number, or nested arrays following `shape`.
    static func jsonValue<T: BLASScalar>(_ values: [T], shape: [Int]) -> String {
        guard let first = shape.first else { return jsonNumber(values[0]) }
        let inner = shape.dropFirst().reduce(1, *)
        return "["
            + (0..<first).map { i in
                jsonValue(Array(values[(i * inner)..<((i + 1) * inner)]), shape: Array(shape.dropFirst()))
            }.joined(separator: ", ") + "]"
    }
}
