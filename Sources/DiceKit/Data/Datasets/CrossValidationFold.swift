// k-fold cross-validation: one seeded shuffle of the samples (the shuffle of `--val-fraction`'s
// split) cut into k consecutive folds, fold i the validation set of run i and the other k − 1
// folds its training set. Fold sizes follow scikit-learn's KFold: the first N mod k folds hold
// one sample more. See Docs/Training.md, "Cross-validation".

/// One fold of a k-fold partition of a data set.
public struct CrossValidationFold: Sendable, Equatable {
    /// The number of folds k (at least 2).
    public let folds: Int
    /// This fold's index, in 0..<folds.
    public let fold: Int

    /// Fold `fold` of `folds`.
    ///
    /// - Throws: `DiceKitError.option` for fewer than 2 folds or an index outside 0..<folds.
    public init(folds: Int, fold: Int) throws {
        guard folds >= 2 else {
            throw DiceKitError.invalidOption(name: "folds", value: "\(folds)", expected: "at least 2")
        }
        guard (0..<folds).contains(fold) else {
            throw DiceKitError.invalidOption(name: "fold", value: "\(fold)", expected: "0...\(folds - 1)")
        }
        self.folds = folds
        self.fold = fold
    }

    /// The training and validation indices of this fold among `count` samples shuffled with
    /// `seed`: the validation set is the fold's slice of the shuffled order, the training set the
    /// rest, both in shuffled order. The folds of one seed are disjoint and cover every sample.
    ///
    /// - Throws: `DiceKitError.option` when there are fewer samples than folds.
    public func indices(count: Int, seed: UInt64) throws -> (training: [Int], validation: [Int]) {
        guard count >= folds else {
            throw DiceKitError.option(
                "cannot cut \(count) sample(s) into \(folds) folds; expected at least \(folds) samples")
        }
        let order = SegmentationDataset.permutation(count, seed: seed)
        let (size, extra) = (count / folds, count % folds)
        let start = fold * size + min(fold, extra)
        let end = start + size + (fold < extra ? 1 : 0)
        return (Array(order[..<start] + order[end...]), Array(order[start..<end]))
    }

    /// `source`'s training and validation subsets for this fold (see `indices(count:seed:)`).
    ///
    /// - Throws: as `indices(count:seed:)`.
    public func split(_ source: any SegmentationSource, seed: UInt64) throws -> (
        training: SourceSubset, validation: SourceSubset
    ) {
        let parts = try indices(count: source.count, seed: seed)
        return (try SourceSubset(source, indices: parts.training), try SourceSubset(source, indices: parts.validation))
    }
}
