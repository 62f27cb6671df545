// `dicekit train --schedule plateau` (with --plateau-patience, --plateau-factor, --min-lr) and
// `--early-stop N` (with --early-stop-delta): the rules that watch the validation Dice
// (Sources/DiceKit/Training/ValidationPlateau.swift). Neither is fixed for --resume: both are
// replayed from the checkpoint's history.

import DiceKit

extension TrainCommand {
    /// Reads the plateau and early-stopping options into `config` (after `config.schedule`).
    ///
    /// - Throws: `UsageError` for a value out of range, or a plateau option without
    ///   `--schedule plateau`, or `--early-stop-delta` without `--early-stop`.
    static func parseValidationRules(_ arguments: ParsedArguments, into config: inout TrainingConfiguration) throws {
        let plateauOptions = ["plateau-patience", "plateau-factor", "min-lr"]
        if config.schedule != .plateau, let option = plateauOptions.first(where: { arguments.string($0) != nil }) {
            throw UsageError(
                message: "--\(option) applies to --schedule plateau; the schedule is \(config.schedule.rawValue)")
        }
        config.plateau.patience = try arguments.int("plateau-patience", default: 10, in: 0...100_000)!
        config.plateau.factor = try arguments.double("plateau-factor", default: 0.1)!
        config.plateau.minimumLearningRate = try arguments.double("min-lr", default: 0)!
        if let patience = try arguments.int("early-stop", in: 1...100_000) {
            config.earlyStopping = EarlyStopping(
                patience: patience, minimumDelta: try arguments.double("early-stop-delta", default: 0)!)
        } else if let delta = arguments.string("early-stop-delta") {
            throw UsageError(message: "--early-stop-delta \(delta) applies to --early-stop N; give the patience N")
        }
        do {
            try config.plateau.validate()
            try config.earlyStopping?.validate()
        } catch let error as DiceKitError { throw UsageError(message: error.description) }
    }
}
