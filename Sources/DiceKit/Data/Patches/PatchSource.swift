// PatchSource: fixed-size training samples cut from cases of any size (`CaseSource`), so a network
// trains on scans larger than memory allows per batch, or of mixed sizes, without stretching
// them (nnU-Net's and MONAI's patch-based training). Prediction then runs whole cases through a
// sliding window of the patch size (`SlidingWindow`).
//
// Sample i is patch i % patchesPerCase of case caseIndices[i / patchesPerCase]; its position is
// drawn (`PatchSampling`) from a generator seeded by (seed, i) alone, so a sample does not depend
// on the batch size, the thread, the rank or what was read before it. `BatchPlan` reseeds the
// source with each epoch's seed (`EpochDrawnSource`): training sees new patches every epoch,
// while validation, whose plan has no seed, sees the same patches every epoch.

/// A source whose samples are drawn anew for each epoch's seed.
public protocol EpochDrawnSource: SegmentationSource {
    /// The same source drawing its samples from `seed` (e.g. the epoch's seed).
    func drawn(seed: UInt64) -> any SegmentationSource
}

/// Fixed-size patches cut from cases of any size (see the file header).
public struct PatchSource: EpochDrawnSource {
    /// Where the patches are cut from.
    public let cases: any CaseSource
    /// The cases used, indices into `cases` (a training or validation split).
    public let caseIndices: [Int]
    /// The patch extents, foreground probability and patches per case.
    public let sampling: PatchSampling
    /// The seed of the patch positions.
    public let seed: UInt64

    /// Patches of `sampling` from the cases at `caseIndices` (all cases when nil).
    ///
    /// - Throws: `DiceKitError.option` when the patch's rank is not the cases'; `DiceKitError.value`
    ///   naming the first case index outside 0..<cases.count, or a padding label that cannot be stored.
    public init(cases: any CaseSource, caseIndices: [Int]? = nil, sampling: PatchSampling, seed: UInt64) throws {
        guard sampling.extents.count == cases.spatialRank else {
            throw DiceKitError.option(
                "patch size \(sampling.extents.map(String.init).joined(separator: ",")) has \(sampling.extents.count) extents; expected \(cases.spatialRank) for \(cases.spatialRank == 3 ? "volumes (D,H,W)" : "images (H,W)")"
            )
        }
        let indices = caseIndices ?? Array(0..<cases.count)
        try checkIndices(indices, count: cases.count, name: "case index")
        _ = try SegmentationGeometry.ignoreLabel(cases.ignoreIndex)
        (self.cases, self.caseIndices, self.sampling, self.seed) = (cases, indices, sampling, seed)
    }

    /// Cases × patches per case.
    public var count: Int { caseIndices.count * sampling.patchesPerCase }
    /// The patch extents.
    public var spatialShape: [Int] { sampling.extents }
    /// The cases' channel count.
    public var channels: Int { cases.channels }
    /// The cases' class count.
    public var classes: Int { cases.classes }
    /// The cases' ignore index.
    public var ignoreIndex: Int? { cases.ignoreIndex }

    /// Patch `index`: its case read now and the patch cut from it.
    ///
    /// - Throws: the case source's errors; `DiceKitError.shape` naming the case when it is not
    ///   the size it reported.
    public func sample(at index: Int) throws -> SegmentationSample {
        precondition(index >= 0 && index < count, "PatchSource: sample \(index) out of 0..<\(count)")
        let caseIndex = caseIndices[index / sampling.patchesPerCase]
        let extents = cases.extents(ofCase: caseIndex)
        let whole = try cases.readCase(caseIndex)
        let positions = extents.reduce(1, *)
        guard whole.labels.count == positions, whole.image.count == positions * channels else {
            throw DiceKitError.shape(
                "case \(caseIndex): \(whole.image.count) values and \(whole.labels.count) labels; expected \(positions * channels) and \(positions) for extents \(extents)"
            )
        }
        var generator = SeededGenerator(seed: sampleSeed(seed ^ Self.salt, index))
        let corner = sampling.corner(caseExtents: extents, labels: whole.labels, classes: classes, using: &generator)
        return sampling.cut(
            whole, caseExtents: extents, channels: channels, corner: corner,
            padLabel: ignoreIndex.flatMap { Int32(exactly: $0) } ?? 0)
    }

    /// The same patches' cases, drawing positions from `seed`.
    public func drawn(seed: UInt64) -> any SegmentationSource { PatchSource(unchecked: self, seed: seed) }

    private init(unchecked other: PatchSource, seed: UInt64) {
        (cases, caseIndices, sampling, self.seed) = (other.cases, other.caseIndices, other.sampling, seed)
    }

    /// Keeps patch positions apart from the augmentation's stream of the same (seed, position).
    static let salt: UInt64 = 0x5041_5443_4845_5321
}

extension PatchSource {
    /// Training and validation patches of `cases`, split case by case after a seeded shuffle —
    /// the cases of `SourceSubset.split(_:validationFraction:seed:)`, so no case gives patches to
    /// both sides. Both draw from `seed`; the training side is drawn anew each epoch by `BatchPlan`.
    ///
    /// - Throws: `DiceKitError.option` when the fraction is outside (0, 1) or there are fewer
    ///   than 2 cases; as `init(cases:caseIndices:sampling:seed:)`.
    public static func split(
        _ cases: any CaseSource, validationFraction: Double, sampling: PatchSampling, seed: UInt64
    ) throws -> (training: PatchSource, validation: PatchSource) {
        let parts = try SegmentationDataset.splitIndices(
            count: cases.count, validationFraction: validationFraction, seed: seed)
        return (
            try PatchSource(cases: cases, caseIndices: parts.training, sampling: sampling, seed: seed),
            try PatchSource(cases: cases, caseIndices: parts.validation, sampling: sampling, seed: seed)
        )
    }
}
