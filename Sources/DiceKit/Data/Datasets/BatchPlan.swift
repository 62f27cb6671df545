// The batches of one epoch over any SegmentationSource: the same order, the same per-sample
// augmentation seeds and so the same bytes as `SegmentationDataset.batches`, but each batch is
// read (decoded, resized, augmented) only when it is asked for, and reading may fail. A source
// whose samples are drawn per epoch (`PatchSource`) is drawn with the epoch's seed.

/// The batches of one epoch of a `SegmentationSource`, built on demand.
///
/// Batch `i` depends only on the source, the seed (one per epoch, e.g. `seed &+ epoch`), the
/// augmentation and `i`: it is the same whichever thread builds it and whenever it is built.
public struct BatchPlan: Sendable {
    /// Where the samples come from.
    public let source: any SegmentationSource
    /// The epoch's order of source indices.
    let order: [Int]
    let size: Int
    let seed: UInt64?
    let augmentation: Augmentation
    let dropLast: Bool
    /// Per batch, the positions in `order` it takes (a rank's shards in distributed training);
    /// nil: consecutive runs of `size`.
    let positions: [[Int]]?

    /// The batches of one epoch.
    ///
    /// - Parameters:
    ///   - size: the batch size B ≥ 1.
    ///   - seed: shuffles the order and drives augmentation; nil keeps the source's order and
    ///     disables augmentation (for validation).
    ///   - augmentation: applied per sample (default `.none`).
    ///   - dropLast: drop a final batch smaller than B (default false).
    /// - Throws: `DiceKitError.option` when size < 1 or the augmentation's settings are out of range.
    public init(
        source: any SegmentationSource, size: Int, seed: UInt64? = nil, augmentation: Augmentation = .none,
        dropLast: Bool = false
    ) throws {
        guard size >= 1 else { throw DiceKitError.invalidOption(name: "batch size", value: "\(size)", expected: "≥ 1") }
        if seed != nil { try augmentation.validate(spatialShape: source.spatialShape) }
        self.source = seed.map { Self.drawn(source, seed: $0) } ?? source
        self.order = seed.map { SegmentationDataset.permutation(source.count, seed: $0) } ?? Array(0..<source.count)
        self.size = size
        self.seed = seed
        self.augmentation = augmentation
        self.dropLast = dropLast
        self.positions = nil
    }

    /// A plan whose batch i takes the samples at `positions[i]` of the epoch's seeded order, each
    /// augmented with the seed of its position — so the union of several such plans (one per
    /// rank) holds exactly the samples, and the bytes, of the one-process plan. A batch may be
    /// empty.
    ///
    /// - Throws: `DiceKitError.option` for augmentations the samples' shape does not allow.
    init(source: any SegmentationSource, seed: UInt64, augmentation: Augmentation, positions: [[Int]]) throws {
        try augmentation.validate(spatialShape: source.spatialShape)
        self.source = Self.drawn(source, seed: seed)
        self.order = SegmentationDataset.permutation(source.count, seed: seed)
        self.size = positions.map(\.count).max() ?? 1
        self.seed = seed
        self.augmentation = augmentation
        self.dropLast = false
        self.positions = positions
    }

    /// `source` drawn for the epoch's `seed` when its samples vary by epoch (`PatchSource`), else `source`.
    static func drawn(_ source: any SegmentationSource, seed: UInt64) -> any SegmentationSource {
        (source as? any EpochDrawnSource)?.drawn(seed: seed) ?? source
    }

    /// The number of batches.
    public var count: Int { positions?.count ?? (dropLast ? order.count / size : (order.count + size - 1) / size) }

    /// Batch `i` (0-based), read from the source now.
    ///
    /// - Precondition: 0 ≤ i < count.
    /// - Throws: the source's error for a sample that cannot be read (it names the file).
    public func batch(_ i: Int) throws -> SegmentationBatch {
        precondition(i >= 0 && i < count, "BatchPlan: batch \(i) out of 0..<\(count)")
        let chosen = positions?[i] ?? Array((i * size)..<Swift.min((i + 1) * size, order.count))
        let indices = chosen.map { order[$0] }
        return assembled(
            try source.samples(indices), indices: indices, positions: chosen, seed: seed,
            augmentation: augmentation)
    }
}
