// The batches of one epoch over any SegmentationSource: the same order, the same per-sample
// augmentation seeds and so the same bytes as `SegmentationDataset.batches`, but each batch is
// read (decoded, resized, augmented) only when it is asked for, and reading may fail.

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

    /// The batches of one epoch.
    ///
    /// - Parameters:
    ///   - size: the batch size B ≥ 1.
    ///   - seed: shuffles the order and drives augmentation; nil keeps the source's order and
    ///     disables augmentation (for validation).
    ///   - augmentation: applied per sample (default `.none`).
    ///   - dropLast: drop a final batch smaller than B (default false).
    /// - Throws: `DiceKitError.option` when size < 1 or the augmentation's settings are out of range.
    public init(source: any SegmentationSource, size: Int, seed: UInt64? = nil, augmentation: Augmentation = .none,
                dropLast: Bool = false) throws {
        guard size >= 1 else { throw DiceKitError.option("batch size \(size); expected ≥ 1") }
        if seed != nil { try augmentation.validate(spatialShape: source.spatialShape) }
        self.source = source
        self.order = seed.map { SegmentationDataset.permutation(source.count, seed: $0) } ?? Array(0..<source.count)
        self.size = size
        self.seed = seed
        self.augmentation = augmentation
        self.dropLast = dropLast
    }

    /// The number of batches.
    public var count: Int { dropLast ? order.count / size : (order.count + size - 1) / size }

    /// Batch `i` (0-based), read from the source now.
    ///
    /// - Precondition: 0 ≤ i < count.
    /// - Throws: the source's error for a sample that cannot be read (it names the file).
    public func batch(_ i: Int) throws -> SegmentationBatch {
        precondition(i >= 0 && i < count, "BatchPlan: batch \(i) out of 0..<\(count)")
        let indices = Array(order[(i * size)..<Swift.min((i + 1) * size, order.count)])
        return assembled(try source.samples(indices), indices: indices, firstPosition: i * size, seed: seed,
                         augmentation: augmentation)
    }
}
