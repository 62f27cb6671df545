// `dicekit train`'s loss hyper-parameters (`--class-weights`, `--tversky-alpha`, `--focal-gamma`,
// …): parsed into `LossOptions`, checked against `--loss` by the library, and recorded in the
// checkpoint in a canonical form (numbers as Swift prints them, the distance matrix inline), so a
// resume takes them and refuses a different value.

import DiceKit
import Foundation

extension TrainCommand {
    /// The help lines of the loss options.
    static let lossOptionsHelp = """
          loss options (each refused with a --loss it does not fit; defaults: the objective's own)
          --class-weights w,...|auto   Dice/focal weight per class after --exclude-background (MONAI
                                 weight=): the Dice family but generalized, focal, dice-focal,
                                 generalized-dice-focal, dice-hausdorff; auto: median frequency
                                 balancing over the training set (w_c = median(f)/f_c)
          --exclude-background   leave class 0 out of the Dice, focal and clDice terms (the softmax
                                 keeps it; MONAI include_background=False)
          --batch-dice           Dice statistics summed over the batch (MONAI batch=True, nnU-Net)
          --tversky-alpha A --tversky-beta B   tversky, focal-tversky: FP and FN weights (0.3, 0.7)
          --tversky-gamma G      focal-tversky exponent (0.75)
          --focal-gamma G        focal, dice-focal, generalized-dice-focal (2)
          --dice-weight X        the Dice term of dice-ce, dice-focal, generalized-dice-focal,
                                 dice-hausdorff (1)
          --ce-weight Y          dice-ce: the cross-entropy term (1)
          --focal-weight Y       dice-focal, generalized-dice-focal: the focal term (1)
          --ce-class-weights w0,w1,...|auto  dice-ce: the cross-entropy's weight per class, background
                                 included (PyTorch CrossEntropyLoss weight=; the mean divides by the
                                 labels' weights); auto as for --class-weights
          --label-smoothing E    dice-ce: cross-entropy targets (1 − E)·g + E/C, 0 ≤ E ≤ 1 (default 0)
          --cldice-alpha A       dice-cldice: the clDice share (0.5)
          --cldice-iterations K  cldice, dice-cldice: soft-skeleton iterations (3)
          --distance-matrix M    wasserstein: C×C class distances, M.npy or d00,d01,... row-major (1 − I)
          --hd-alpha A           dice-hausdorff: the distances' exponent (2)
          --hausdorff-weight Y   dice-hausdorff: the Hausdorff term (0.01)
          --hd-log               dice-hausdorff: log(1 + the Hausdorff term) (MONAI LogHausdorffDTLoss)
        """

    /// The loss options that take a value.
    static let lossValueOptions: Set<String> = [
        "class-weights", "tversky-alpha", "tversky-beta", "tversky-gamma", "focal-gamma", "dice-weight", "ce-weight",
        "focal-weight", "ce-class-weights", "label-smoothing", "cldice-alpha", "cldice-iterations", "distance-matrix",
        "hd-alpha", "hausdorff-weight",
    ]
    /// The loss options that are flags.
    static let lossFlags: Set<String> = ["exclude-background", "batch-dice", "hd-log"]

    /// The loss options given on the command line.
    ///
    /// - Throws: `UsageError` for a value that is not a number (list) or an unreadable distance
    ///   matrix; `DiceKitError` for a malformed .npy.
    static func lossOptions(_ arguments: ParsedArguments) throws -> LossOptions {
        var options = LossOptions()
        // "auto" (median frequency balancing) is resolved once the training set is open
        // (`balanceClassWeights`); the empty list holds its place for the checks until then.
        options.classWeights = try balanced("class-weights", arguments) ? [] : arguments.doubles("class-weights")
        options.excludeBackground = arguments.flag("exclude-background")
        options.batch = arguments.flag("batch-dice")
        options.tverskyAlpha = try arguments.double("tversky-alpha")
        options.tverskyBeta = try arguments.double("tversky-beta")
        options.tverskyGamma = try arguments.double("tversky-gamma")
        options.focalGamma = try arguments.double("focal-gamma")
        options.diceWeight = try arguments.double("dice-weight")
        options.crossEntropyWeight = try arguments.double("ce-weight")
        options.focalWeight = try arguments.double("focal-weight")
        options.crossEntropyClassWeights =
            try balanced("ce-class-weights", arguments) ? [] : arguments.doubles("ce-class-weights")
        options.labelSmoothing = try arguments.double("label-smoothing", default: 0)!
        options.clDiceAlpha = try arguments.double("cldice-alpha")
        options.clDiceIterations = try arguments.int("cldice-iterations", in: 0...1000)
        options.distanceMatrix = try distanceMatrix(arguments)
        options.hausdorffAlpha = try arguments.double("hd-alpha")
        options.hausdorffWeight = try arguments.double("hausdorff-weight")
        options.hausdorffLogarithmic = arguments.flag("hd-log")
        return options
    }

    /// Whether `--NAME auto` asks for median-frequency-balanced weights.
    private static func balanced(_ name: String, _ arguments: ParsedArguments) -> Bool {
        arguments.string(name) == "auto"
    }

    /// Replaces the place-holders of `--class-weights auto` and `--ce-class-weights auto` with
    /// the training set's median-frequency-balanced weights (`medianFrequencyWeights()`; the
    /// Dice weights without the background's under `--exclude-background`). Returns the weights,
    /// nil when neither option asks for them.
    ///
    /// - Throws: what reading the training set throws; `DiceKitError.value` for a class that no
    ///   training sample contains.
    static func balanceClassWeights(
        _ arguments: ParsedArguments, training: any SegmentationSource, into options: inout LossOptions
    ) throws -> [Double]? {
        let (dice, crossEntropy) = (balanced("class-weights", arguments), balanced("ce-class-weights", arguments))
        guard dice || crossEntropy else { return nil }
        let weights = try training.medianFrequencyWeights()
        if dice { options.classWeights = options.excludeBackground ? Array(weights.dropFirst()) : weights }
        if crossEntropy { options.crossEntropyClassWeights = weights }
        return weights
    }

    /// `--distance-matrix`: a C×C .npy file, or its C² values row-major, comma-separated.
    private static func distanceMatrix(_ arguments: ParsedArguments) throws -> [Double]? {
        guard let text = arguments.string("distance-matrix") else { return nil }
        guard text.hasSuffix(".npy") else { return try arguments.doubles("distance-matrix") }
        let matrix = try NPY.read(contentsOf: text)
        guard matrix.shape.count == 2, matrix.shape[0] == matrix.shape[1] else {
            throw DiceKitError.shape("\(text): distance matrix shape \(matrix.shape); expected [C, C]")
        }
        return matrix.tensor(of: Double.self).scalars
    }

    /// The options given, as the checkpoint stores them: "true" for a flag, numbers as Swift
    /// prints them, lists comma-separated (the distance matrix inline, whatever form it was given
    /// in), and "auto" as given, so a resumed run balances the same training set again.
    static func recordedLossOptions(_ options: LossOptions, _ arguments: ParsedArguments) -> [String: String] {
        var recorded: [String: String] = [:]
        for (name, value) in options.given { recorded[name] = text(value) }
        for name in ["class-weights", "ce-class-weights"] where balanced(name, arguments) { recorded[name] = "auto" }
        return recorded
    }

    private static func text(_ value: JSONValue) -> String {
        switch value {
        case .bool(let flag): return "\(flag)"
        case .integer(let n): return "\(n)"
        case .number(let x): return "\(x)"
        case .array(let items): return items.map(text).joined(separator: ",")
        default: return "\(value)"
        }
    }
}
