// `dicekit train --patch-size`: training on random patches cut from each case at its own size
// (PatchSource), the validation set on fixed patches; predict and eval then slide a window of
// the patch size over whole cases (the checkpoint records it).

import DiceKit

extension TrainCommand {
    /// The help lines of the patch options.
    static let patchHelp = """
        patches (nnU-Net's and MONAI's patch-based training)
          --patch-size H,W | D,H,W   train on patches cut from each case at its own size (multiples of
                                 2^depth; a case shorter than the patch is padded); NIfTI cases and
                                 pictures of mixed sizes then need no --image-size. Validation uses
                                 fixed patches; predict and eval slide a window of the patch size
                                 over whole cases
          --patches-per-case N   patches cut from each case per epoch (default 1)
          --foreground-oversampling P   probability that a patch is centred on a foreground voxel
                                 (default 0.33, nnU-Net's); otherwise its position is uniform
        """

    /// The value options of this file.
    static let patchValueOptions: Set<String> = ["patch-size", "patches-per-case", "foreground-oversampling"]

    /// The patch sampling `--patch-size` asks for (recorded for resume), or nil.
    ///
    /// - Throws: `UsageError` for a malformed size, extents that are not multiples of 2^depth,
    ///   a probability outside [0, 1], or the other patch options without `--patch-size`.
    static func patchSampling(
        _ arguments: ParsedArguments, depth: Int, recorded: inout [String: String]
    ) throws -> PatchSampling? {
        guard let text = arguments.string("patch-size") else {
            if let other = ["patches-per-case", "foreground-oversampling"].first(where: { arguments.string($0) != nil })
            {
                throw UsageError(message: "--\(other) needs --patch-size H,W (D,H,W for volumes)")
            }
            return nil
        }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingSpaces()) }
        guard (2...3).contains(parts.count), parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw UsageError(message: "--patch-size expects H,W or D,H,W with positive integers, got '\(text)'")
        }
        let extents = parts.map { $0! }
        let multiple = 1 << depth
        if let bad = extents.first(where: { $0 % multiple != 0 }) {
            throw UsageError(
                message:
                    "--patch-size \(text): \(bad) is not a multiple of 2^depth = \(multiple) (a depth-\(depth) U-Net halves each extent \(depth) times)"
            )
        }
        let probability = try arguments.double("foreground-oversampling", default: 0.33)!
        let perCase = try arguments.int("patches-per-case", default: 1, in: 1...10_000)!
        do {
            let sampling = try PatchSampling(
                extents: extents, foregroundProbability: probability, patchesPerCase: perCase)
            recorded["patch-size"] = extents.map(String.init).joined(separator: ",")
            recorded["patches-per-case"] = "\(perCase)"
            recorded["foreground-oversampling"] = "\(probability)"
            return sampling
        } catch let error as DiceKitError { throw UsageError(message: error.description) }
    }

    /// The training and validation patches: the cases of `data` split as `train` splits samples
    /// (a fold, a share, or `--val-data`), each side cut into patches of `sampling`.
    static func patchSources(
        _ data: DataOptions, sampling: PatchSampling, fold: CrossValidationFold?, fraction: Double, seed: UInt64
    ) throws -> (cases: any CaseSource, training: PatchSource, validation: PatchSource?) {
        let (cases, heldOut) = try data.openCases(seed: seed &+ DataOptions.trainingSeedOffset)
        guard sampling.extents.count == cases.spatialRank else {
            throw UsageError(
                message:
                    "--patch-size \(sampling.extents.map(String.init).joined(separator: ",")) has \(sampling.extents.count) extents; the data are \(cases.spatialRank == 3 ? "volumes: give D,H,W" : "images: give H,W")"
            )
        }
        if let fold {
            let parts = try fold.indices(count: cases.count, seed: seed)
            return (
                cases, try PatchSource(cases: cases, caseIndices: parts.training, sampling: sampling, seed: seed),
                try PatchSource(cases: cases, caseIndices: parts.validation, sampling: sampling, seed: seed)
            )
        }
        if fraction > 0 {
            let (training, validation) = try PatchSource.split(
                cases, validationFraction: fraction, sampling: sampling, seed: seed)
            return (cases, training, validation)
        }
        return (
            cases, try PatchSource(cases: cases, sampling: sampling, seed: seed),
            try heldOut.map { try PatchSource(cases: $0, sampling: sampling, seed: seed) }
        )
    }
}
