// The hyper-parameters of a training objective (`dicekit train --class-weights`, `--tversky-alpha`,
// `--focal-gamma`, …): each applies to the objectives whose loss has it, and an option given with
// another objective is refused rather than silently unused. `LossOptions.objective(_:classes:)`
// builds the loss with them; the loss's own checks (counts against the classes, ranges) run when
// `Trainer` probes it before the first step.

import Foundation

/// The hyper-parameters of `TrainingConfiguration.loss`. Every field's default (nil, false, 0)
/// keeps the objective's own setting (`LossKind`'s documentation gives them); a field set with an
/// objective that has no such setting is refused by `check(for:)`.
public struct LossOptions: Sendable, Equatable {
    /// Per-class weights of the Dice-family and focal terms, one per class after the background
    /// exclusion (MONAI's `weight`). The Dice family but generalized Dice (it weighs by volume),
    /// focal, dice-focal (both terms), generalized-dice-focal (the focal term, as MONAI).
    public var classWeights: [Double]?
    /// Leave the background channel out of the Dice-family, focal and clDice terms (MONAI's
    /// `include_background=False`); the softmax still runs over every channel.
    public var excludeBackground = false
    /// Sum the Dice statistics over the batch before the ratio (MONAI's `batch=True`, nnU-Net's
    /// batch Dice): the Dice family, dice-focal, generalized-dice-focal, dice-hausdorff.
    public var batch = false
    /// Tversky weight of the false positives (tversky, focal-tversky; default 0.3).
    public var tverskyAlpha: Double?
    /// Tversky weight of the false negatives (tversky, focal-tversky; default 0.7).
    public var tverskyBeta: Double?
    /// Focal Tversky exponent γ (focal-tversky; default 0.75).
    public var tverskyGamma: Double?
    /// Focal exponent γ (focal, dice-focal, generalized-dice-focal; default 2).
    public var focalGamma: Double?
    /// λ of the Dice term of a compound (dice-ce, dice-focal, generalized-dice-focal,
    /// dice-hausdorff; default 1).
    public var diceWeight: Double?
    /// λ of the cross-entropy term (dice-ce; default 1).
    public var crossEntropyWeight: Double?
    /// λ of the focal term (dice-focal, generalized-dice-focal; default 1).
    public var focalWeight: Double?
    /// The cross-entropy's weight per class, background included (`DiceLoss.crossEntropyClassWeights`;
    /// dice-ce). Each finite and ≥ 0.
    public var crossEntropyClassWeights: [Double]?
    /// The cross-entropy's label smoothing ε in [0, 1] (`DiceLoss.labelSmoothing`; dice-ce).
    public var labelSmoothing = 0.0
    /// α, the clDice term's share (dice-cldice; default 0.5, in [0, 1]).
    public var clDiceAlpha: Double?
    /// Soft-skeleton iterations (cldice, dice-cldice; default 3, ≥ 0).
    public var clDiceIterations: Int?
    /// The C×C class distance matrix, row-major (wasserstein; default 1 − I).
    public var distanceMatrix: [Double]?
    /// The distance exponent α of the Hausdorff term (dice-hausdorff; default 2).
    public var hausdorffAlpha: Double?
    /// λ of the Hausdorff term (dice-hausdorff; default `DiceHausdorffLoss.defaultHausdorffWeight`).
    public var hausdorffWeight: Double?
    /// log(1 + the Hausdorff term), MONAI's `LogHausdorffDTLoss` (dice-hausdorff; default false).
    public var hausdorffLogarithmic = false

    /// Every field at its default: the objective's own settings.
    public init() {}

    /// One option: its `dicekit train` spelling, its value when set (nil when not), and the
    /// objectives it fits.
    struct Rule: Sendable {
        let name: String
        let value: @Sendable (LossOptions) -> JSONValue?
        let objectives: Set<LossKind>
    }

    static let diceFamily: Set<LossKind> = [
        .dice, .diceCE, .jaccard, .tversky, .focalTversky, .logCoshDice, .generalized, .diceHausdorff,
    ]

    private static func number(_ value: Double?) -> JSONValue? { value.map(JSONValue.number) }
    private static func numbers(_ values: [Double]?) -> JSONValue? { values.map { .array($0.map(JSONValue.number)) } }

    /// Which objectives each option fits (the `dicekit train` spelling names it in errors).
    static let rules: [Rule] = [
        Rule(
            name: "class-weights", value: { numbers($0.classWeights) },
            objectives: diceFamily.subtracting([.generalized]).union([.focal, .diceFocal, .generalizedDiceFocal])),
        Rule(
            name: "exclude-background", value: { $0.excludeBackground ? .bool(true) : nil },
            objectives: diceFamily.union([.focal, .diceFocal, .generalizedDiceFocal, .clDice, .diceClDice])),
        Rule(
            name: "batch-dice", value: { $0.batch ? .bool(true) : nil },
            objectives: diceFamily.union([.diceFocal, .generalizedDiceFocal])),
        Rule(name: "tversky-alpha", value: { number($0.tverskyAlpha) }, objectives: [.tversky, .focalTversky]),
        Rule(name: "tversky-beta", value: { number($0.tverskyBeta) }, objectives: [.tversky, .focalTversky]),
        Rule(name: "tversky-gamma", value: { number($0.tverskyGamma) }, objectives: [.focalTversky]),
        Rule(
            name: "focal-gamma", value: { number($0.focalGamma) },
            objectives: [.focal, .diceFocal, .generalizedDiceFocal]),
        Rule(
            name: "dice-weight", value: { number($0.diceWeight) },
            objectives: [.diceCE, .diceFocal, .generalizedDiceFocal, .diceHausdorff]),
        Rule(name: "ce-weight", value: { number($0.crossEntropyWeight) }, objectives: [.diceCE]),
        Rule(
            name: "focal-weight", value: { number($0.focalWeight) }, objectives: [.diceFocal, .generalizedDiceFocal]),
        Rule(name: "ce-class-weights", value: { numbers($0.crossEntropyClassWeights) }, objectives: [.diceCE]),
        Rule(
            name: "label-smoothing", value: { $0.labelSmoothing != 0 ? .number($0.labelSmoothing) : nil },
            objectives: [.diceCE]),
        Rule(name: "cldice-alpha", value: { number($0.clDiceAlpha) }, objectives: [.diceClDice]),
        Rule(
            name: "cldice-iterations", value: { $0.clDiceIterations.map(JSONValue.integer) },
            objectives: [.clDice, .diceClDice]),
        Rule(name: "distance-matrix", value: { numbers($0.distanceMatrix) }, objectives: [.wasserstein]),
        Rule(name: "hd-alpha", value: { number($0.hausdorffAlpha) }, objectives: [.diceHausdorff]),
        Rule(name: "hausdorff-weight", value: { number($0.hausdorffWeight) }, objectives: [.diceHausdorff]),
        Rule(
            name: "hd-log", value: { $0.hausdorffLogarithmic ? .bool(true) : nil }, objectives: [.diceHausdorff]),
    ]

    /// The options that are set, by their `dicekit train` spelling, with their values.
    public var given: [(name: String, value: JSONValue)] {
        Self.rules.compactMap { rule in rule.value(self).map { (rule.name, $0) } }
    }

    /// Checks that every option set fits `objective` and that the values are in range (counts
    /// against the classes are checked by the loss, when `Trainer` probes it).
    ///
    /// - Throws: `DiceKitError.option` naming the option, the objective and the objectives it fits;
    ///   `DiceKitError.value` for a value out of range.
    public func check(for objective: LossKind) throws {
        for rule in Self.rules where rule.value(self) != nil && !rule.objectives.contains(objective) {
            let fitting = LossKind.allCases.filter { rule.objectives.contains($0) }.map(\.rawValue)
            throw DiceKitError.option(
                "--\(rule.name) with loss \(objective.rawValue); expected loss "
                    + fitting.joined(separator: ", ").replacingLastComma(with: " or "))
        }
        let nonNegative: [(String, Double?)] = [
            ("tversky-alpha", tverskyAlpha), ("tversky-beta", tverskyBeta), ("focal-gamma", focalGamma),
            ("dice-weight", diceWeight), ("ce-weight", crossEntropyWeight), ("focal-weight", focalWeight),
            ("hausdorff-weight", hausdorffWeight),
        ]
        for (name, value) in nonNegative {
            if let value, !(value.isFinite && value >= 0) {
                throw DiceKitError.value("--\(name) is \(value); expected a finite number ≥ 0")
            }
        }
        for (name, value) in [("tversky-gamma", tverskyGamma), ("hd-alpha", hausdorffAlpha)] {
            if let value, !(value.isFinite && value > 0) {
                throw DiceKitError.value("--\(name) is \(value); expected a finite number > 0")
            }
        }
        if let alpha = clDiceAlpha, !(0...1).contains(alpha) {
            throw DiceKitError.value("--cldice-alpha is \(alpha); expected a number in [0, 1]")
        }
        if let iterations = clDiceIterations, iterations < 0 {
            throw DiceKitError.value("--cldice-iterations is \(iterations); expected an integer ≥ 0")
        }
        for (name, values) in [("class-weights", classWeights), ("distance-matrix", distanceMatrix)] {
            if let bad = values?.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw DiceKitError.value("--\(name) has \(bad); expected finite values ≥ 0")
            }
        }
        if objective == .diceCE {
            var dice = DiceLoss(activation: .softmax)
            dice.crossEntropyWeight = 1
            dice.crossEntropyClassWeights = crossEntropyClassWeights
            dice.labelSmoothing = labelSmoothing
            try dice.checkCrossEntropyOptions(channels: nil)
        }
    }
}

extension String {
    /// The text with its last ", " replaced by `word` ("a, b, c" → "a, b or c").
    fileprivate func replacingLastComma(with word: String) -> String {
        guard let range = range(of: ", ", options: .backwards) else { return self }
        return replacingCharacters(in: range, with: word)
    }
}
