// CaseSource: whole cases (scans, large images) that may differ in extents, read one at a time —
// what `PatchSource` cuts its fixed-size training patches from. A NIfTI folder of mixed sizes is
// one (`NIfTICaseFolder`); any `SegmentationSource` of one size is another (`UniformCases`).

/// Whole cases that may differ in extents, read one at a time.
///
/// Every case has `channels` channels and `spatialRank` spatial axes; every label lies in
/// 0..<`classes` or is the `ignoreIndex`. Conforming types must be safe to read from a background
/// thread.
public protocol CaseSource: Sendable {
    /// The number of cases.
    var count: Int { get }
    /// The number of spatial axes: 2 for images, 3 for volumes.
    var spatialRank: Int { get }
    /// The channel count C.
    var channels: Int { get }
    /// The number of classes K (labels lie in 0..<K).
    var classes: Int { get }
    /// The label of unlabelled positions (outside 0..<K), or nil.
    var ignoreIndex: Int? { get }

    /// The spatial extents of case `index` as `readCase(_:)` returns it.
    ///
    /// - Precondition: 0 ≤ index < count.
    func extents(ofCase index: Int) -> [Int]

    /// Case `index` at its own extents: image [extents…, C] channels-last, labels [extents…].
    ///
    /// - Precondition: 0 ≤ index < count.
    /// - Throws: an error naming the file when the case cannot be read or no longer fits.
    func readCase(_ index: Int) throws -> SegmentationSample

    /// The physical size of a voxel of case `index` along each spatial axis (NIfTI's header
    /// spacing [dz, dy, dx]), or nil when the data do not say (the default).
    func spacing(ofCase index: Int) -> [Double]?

    /// Case `index`'s extents and spacing as stored, when `readCase` returns it resampled
    /// (`DatasetOptions.targetSpacing`); nil (the default) when it is read as stored. Evaluation
    /// maps predictions back to this grid and scores them against `readStoredLabels(_:)`.
    func storedGrid(ofCase index: Int) -> (extents: [Int], spacing: [Double])?

    /// Case `index`'s label map on its stored grid (read only when `storedGrid(ofCase:)` is not nil).
    ///
    /// - Throws: an error naming the file when it cannot be read or no longer fits.
    func readStoredLabels(_ index: Int) throws -> [Int32]

    /// `scores` [extents…, channels] of case `index` as read (a network's logits or
    /// probabilities) brought to its stored grid (called only when `storedGrid(ofCase:)` is not
    /// nil). The default resamples each channel to the stored extents as
    /// `VolumeResampling` resizes volumes (linear when an axis grows, area averaging when it shrinks).
    ///
    /// - Throws: an error when the scores cannot be brought back.
    func scoresOnStoredGrid(_ scores: [Float], channels: Int, ofCase index: Int) throws -> [Float]
}

extension CaseSource {
    /// nil: the data do not say.
    public func spacing(ofCase index: Int) -> [Double]? { nil }

    /// nil: cases are read as stored.
    public func storedGrid(ofCase index: Int) -> (extents: [Int], spacing: [Double])? { nil }

    /// The labels `readCase(_:)` returns (cases read as stored).
    public func readStoredLabels(_ index: Int) throws -> [Int32] { try readCase(index).labels }

    /// Each channel resampled to the stored extents (3-D), or `scores` unchanged without a stored grid.
    public func scoresOnStoredGrid(_ scores: [Float], channels: Int, ofCase index: Int) throws -> [Float] {
        guard let stored = storedGrid(ofCase: index)?.extents else { return scores }
        return VolumeResampling.resize(scores, extents: extents(ofCase: index), channels: channels, to: stored)
    }
}

/// The samples of a `SegmentationSource` (all of one size) as cases.
public struct UniformCases: CaseSource {
    /// The source the cases come from.
    public let source: any SegmentationSource

    /// The samples of `source` as cases.
    public init(_ source: any SegmentationSource) { self.source = source }

    /// The source's sample count.
    public var count: Int { source.count }
    /// The source's spatial rank.
    public var spatialRank: Int { source.spatialShape.count }
    /// The source's channel count.
    public var channels: Int { source.channels }
    /// The source's class count.
    public var classes: Int { source.classes }
    /// The source's ignore index.
    public var ignoreIndex: Int? { source.ignoreIndex }
    /// The source's one spatial shape.
    public func extents(ofCase index: Int) -> [Int] { source.spatialShape }
    /// The source's sample `index`.
    public func readCase(_ index: Int) throws -> SegmentationSample { try source.sample(at: index) }
}

/// The cases of another case source at chosen indices (a fold, a validation share).
public struct CaseSubset: CaseSource {
    /// The source the cases come from.
    public let base: any CaseSource
    /// The base's indices, in this subset's order.
    public let indices: [Int]

    /// The cases of `base` at `indices`.
    ///
    /// - Throws: `DiceKitError.value` naming the first index outside 0..<base.count.
    public init(_ base: any CaseSource, indices: [Int]) throws {
        try checkIndices(indices, count: base.count, name: "case index")
        (self.base, self.indices) = (base, indices)
    }

    /// The number of chosen cases.
    public var count: Int { indices.count }
    /// The base's spatial rank.
    public var spatialRank: Int { base.spatialRank }
    /// The base's channel count.
    public var channels: Int { base.channels }
    /// The base's class count.
    public var classes: Int { base.classes }
    /// The base's ignore index.
    public var ignoreIndex: Int? { base.ignoreIndex }
    /// The base's extents of case `indices[index]`.
    public func extents(ofCase index: Int) -> [Int] { base.extents(ofCase: indices[index]) }
    /// The base's case `indices[index]`.
    public func readCase(_ index: Int) throws -> SegmentationSample { try base.readCase(indices[index]) }
    /// The base's spacing of case `indices[index]`.
    public func spacing(ofCase index: Int) -> [Double]? { base.spacing(ofCase: indices[index]) }
    /// The base's stored grid of case `indices[index]`.
    public func storedGrid(ofCase index: Int) -> (extents: [Int], spacing: [Double])? {
        base.storedGrid(ofCase: indices[index])
    }
    /// The base's stored labels of case `indices[index]`.
    public func readStoredLabels(_ index: Int) throws -> [Int32] { try base.readStoredLabels(indices[index]) }
    /// The base's scores of case `indices[index]` on its stored grid.
    public func scoresOnStoredGrid(_ scores: [Float], channels: Int, ofCase index: Int) throws -> [Float] {
        try base.scoresOnStoredGrid(scores, channels: channels, ofCase: indices[index])
    }
}
