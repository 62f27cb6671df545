// `--folds K --fold I` (train, eval): fold I of a K-fold cross-validation of --data, cut from
// the shuffle of --seed. `train` trains on the other folds and validates on fold I; `eval`
// scores a checkpoint on fold I alone, the images that run never trained on, and with
// `--fold all` scores each fold's checkpoint on its own fold, pooled (EvalCommand+CrossValidation).

import DiceKit

enum FoldOption {
    /// The help lines of `--folds` and `--fold`.
    static let help = """
          --folds K --fold I     K-fold cross-validation (K ≥ 2, I in 0…K−1): the seeded shuffle of --data
                                 cut into K folds; fold I is the validation set (instead of --val-fraction)
        """

    /// The value options this file reads.
    static let valueOptions: Set<String> = ["folds", "fold"]

    /// What `eval --folds K --fold I|all` scores.
    enum Evaluation {
        /// Fold I, with every checkpoint given.
        case one(CrossValidationFold)
        /// Every fold, each with the checkpoint that held it out.
        case all(folds: Int)
    }

    /// `eval`'s `--folds K --fold I|all`, or nil when neither is given.
    ///
    /// - Throws: `UsageError` as `parse(_:)`.
    static func parseEvaluation(_ arguments: ParsedArguments) throws -> Evaluation? {
        guard arguments.string("fold") == "all" else { return try parse(arguments).map { .one($0) } }
        guard arguments.string("folds") != nil else {
            throw UsageError(message: "--fold all needs --folds K, the number of folds")
        }
        return .all(folds: try arguments.int("folds", in: 2...10_000)!)
    }

    /// The fold that `--folds` and `--fold` name, or nil when neither is given.
    ///
    /// - Throws: `UsageError` when only one of them is given or the values are out of range.
    static func parse(_ arguments: ParsedArguments) throws -> CrossValidationFold? {
        switch (arguments.string("folds"), arguments.string("fold")) {
        case (nil, nil): return nil
        case (nil, let fold?): throw UsageError(message: "--fold \(fold) needs --folds K, the number of folds")
        case (_?, nil):
            let folds = try arguments.int("folds", in: 2...10_000)!
            throw UsageError(message: "--folds \(folds) needs --fold I, the fold to hold out (0...\(folds - 1))")
        default:
            let folds = try arguments.int("folds", in: 2...10_000)!
            let fold = try arguments.int("fold", in: 0...(folds - 1))!
            return try CrossValidationFold(folds: folds, fold: fold)
        }
    }
}
