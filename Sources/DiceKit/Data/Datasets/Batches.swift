// Mini-batch iteration: an epoch's seeded order, cut into batches, each sample augmented with
// its own generator (derived from the epoch seed and its position) so results do not depend
// on the batch size.

/// A mini-batch: images [B, spatial…, C] and labels [B, spatial…].
public struct SegmentationBatch: Sendable {
    /// [B, H, W, C] or [B, D, H, W, C] Float images, channels-last.
    public let images: Tensor<Float>
    /// Class indices, row-major, shape `labelShape`.
    public let labels: [Int32]
    /// [B, H, W] or [B, D, H, W].
    public let labelShape: [Int]
    /// The data set indices of the samples, in batch order.
    public let indices: [Int]

    /// The batch size B.
    public var count: Int { indices.count }
    /// The labels as `Int` (for APIs that take `[Int]`).
    public var labelsAsInt: [Int] { labels.map(Int.init) }
}

extension SegmentationDataset {
    /// The batches of one epoch.
    ///
    /// - Parameters:
    ///   - size: the batch size B ≥ 1.
    ///   - seed: shuffles the order and drives augmentation; nil keeps the data set's order and
    ///     disables augmentation (for validation). Use a different seed per epoch, e.g. `seed &+ epoch`.
    ///   - augmentation: applied per sample (default `.none`).
    ///   - dropLast: drop a final batch smaller than B (default false).
    /// - Throws: `DiceKitError.option` when size < 1 or the augmentation's settings are out of range.
    public func batches(
        size: Int, seed: UInt64? = nil, augmentation: Augmentation = .none,
        dropLast: Bool = false
    ) throws -> BatchSequence {
        guard size >= 1 else { throw DiceKitError.invalidOption(name: "batch size", value: "\(size)", expected: "≥ 1") }
        if seed != nil { try augmentation.validate(spatialShape: spatialShape) }
        let order = seed.map { Self.permutation(count, seed: $0) } ?? Array(0..<count)
        return BatchSequence(
            dataset: self, order: order, size: size, seed: seed, augmentation: augmentation, dropLast: dropLast)
    }
}

/// The batches of one epoch, in order; see `SegmentationDataset.batches(size:seed:augmentation:dropLast:)`.
public struct BatchSequence: Sequence, Sendable {
    let dataset: SegmentationDataset
    let order: [Int]
    let size: Int
    let seed: UInt64?
    let augmentation: Augmentation
    let dropLast: Bool

    /// The number of batches.
    public var count: Int { dropLast ? order.count / size : (order.count + size - 1) / size }

    /// Batch `i` (0-based) of the epoch.
    ///
    /// - Precondition: 0 ≤ i < count.
    public func batch(_ i: Int) -> SegmentationBatch {
        precondition(i >= 0 && i < count, "BatchSequence: batch \(i) out of 0..<\(count)")
        let indices = Array(order[(i * size)..<Swift.min((i + 1) * size, order.count)])
        return assembled(
            dataset.subset(indices), indices: indices, positions: Array((i * size)..<(i * size + indices.count)),
            seed: seed, augmentation: augmentation)
    }

    /// Iterates the batches in order.
    public func makeIterator() -> AnyIterator<SegmentationBatch> {
        var next = 0
        return AnyIterator {
            guard next < count else { return nil }
            defer { next += 1 }
            return batch(next)
        }
    }
}

/// The batch of the samples `part` (data set indices `indices`), augmented when `seed` is
/// given: the sample at epoch position p gets the generator `sampleSeed(seed, p)`, so a batch
/// depends on (seed, epoch, position) only, never on what was drawn before it.
func assembled(
    _ part: SegmentationDataset, indices: [Int], positions: [Int], seed: UInt64?,
    augmentation: Augmentation
) -> SegmentationBatch {
    var part = part
    if let seed, augmentation != .none, !indices.isEmpty {
        part = augmentation.apply(to: part, seeds: positions.map { sampleSeed(seed, $0) })
    }
    return SegmentationBatch(images: part.images, labels: part.labels, labelShape: part.labelShape, indices: indices)
}

/// A well-mixed seed for sample `position` of an epoch with seed `seed` (SplitMix64 finaliser).
func sampleSeed(_ seed: UInt64, _ position: Int) -> UInt64 {
    var z = seed &+ UInt64(truncatingIfNeeded: position) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
