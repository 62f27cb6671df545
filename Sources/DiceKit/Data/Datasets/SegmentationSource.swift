// SegmentationSource: a data set seen one sample at a time, so training can read data sets
// larger than memory. `SegmentationDataset` (in memory) is one; `ImageFolderSource` (PNG/JPEG
// decoded on demand) and `NPYSource` (samples read from the file by offset) are the others.
// Batches are assembled from samples by `BatchPlan` and prepared ahead by `BatchPrefetcher`.

/// One sample: an image [spatial…, C] (channels-last, row-major) and its label map [spatial…].
public struct SegmentationSample: Sendable, Equatable {
    /// The image's values, `positions × channels` of them.
    public var image: [Float]
    /// The class index of every position, row-major.
    public var labels: [Int32]

    /// A sample; see the properties.
    public init(image: [Float], labels: [Int32]) {
        self.image = image
        self.labels = labels
    }
}

/// A data set read one sample at a time.
///
/// Every sample has the same `spatialShape` and `channels`; every label lies in 0..<`classes` or
/// is the `ignoreIndex`.
/// Conforming types must be safe to read from a background thread (`BatchPrefetcher` does).
public protocol SegmentationSource: Sendable {
    /// The number of samples N.
    var count: Int { get }
    /// The spatial extents of every sample: [H, W] or [D, H, W].
    var spatialShape: [Int] { get }
    /// The channel count C.
    var channels: Int { get }
    /// The number of classes K (labels lie in 0..<K).
    var classes: Int { get }
    /// The label of unlabelled positions (outside 0..<K), or nil: see `DatasetOptions.ignoreIndex`.
    var ignoreIndex: Int? { get }

    /// Sample `index`, decoded (read) now.
    ///
    /// - Precondition: 0 ≤ index < count.
    /// - Throws: an error naming the file when the sample cannot be read or does not fit the
    ///   data set (a corrupt file, another size, a label ≥ `classes`).
    func sample(at index: Int) throws -> SegmentationSample

    /// The samples at `indices`, in that order, as one in-memory batch.
    ///
    /// - Throws: as `sample(at:)`.
    func samples(_ indices: [Int]) throws -> SegmentationDataset
}

extension SegmentationSource {
    /// Pixels (voxels) per sample.
    var positionsPerSample: Int { spatialShape.reduce(1, *) }

    /// `ignoreIndex` as a label value (the sources check that it fits 32 bits when they are made).
    var ignoreLabel: Int32? { ignoreIndex.flatMap { Int32(exactly: $0) } }

    /// Default: `sample(at:)` for each index, copied into one [B, spatial…, C] batch.
    public func samples(_ indices: [Int]) throws -> SegmentationDataset {
        let (imageSize, labelSize) = (positionsPerSample * channels, positionsPerSample)
        var pixels = [Float](repeating: 0, count: indices.count * imageSize)
        var labels = [Int32](repeating: 0, count: indices.count * labelSize)
        for (slot, index) in indices.enumerated() {
            let sample = try sample(at: index)
            precondition(
                sample.image.count == imageSize && sample.labels.count == labelSize,
                "SegmentationSource: sample \(index) has \(sample.image.count) values and \(sample.labels.count) labels; expected \(imageSize) and \(labelSize)"
            )
            pixels.replaceSubrange((slot * imageSize)..<((slot + 1) * imageSize), with: sample.image)
            labels.replaceSubrange((slot * labelSize)..<((slot + 1) * labelSize), with: sample.labels)
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: [indices.count] + spatialShape + [channels], storage: pixels),
            labels: labels, classes: classes, ignoreIndex: ignoreIndex)
    }
}

extension SegmentationDataset: SegmentationSource {
    /// Sample `index`, copied out of memory.
    ///
    /// - Precondition: 0 ≤ index < count.
    public func sample(at index: Int) throws -> SegmentationSample {
        let part = subset([index])
        return SegmentationSample(image: part.images.scalars, labels: part.labels)
    }

    /// `subset(indices)` (never throws).
    public func samples(_ indices: [Int]) throws -> SegmentationDataset { subset(indices) }

    /// The training and validation indices of `split(validationFraction:seed:)`.
    ///
    /// - Throws: as `split(validationFraction:seed:)`.
    static func splitIndices(count: Int, validationFraction: Double, seed: UInt64) throws -> (
        training: [Int], validation: [Int]
    ) {
        guard validationFraction > 0, validationFraction < 1 else {
            throw DiceKitError.invalidOption(
                name: "validation fraction", value: "\(validationFraction)", expected: "a value in (0, 1)")
        }
        guard count >= 2 else { throw DiceKitError.option("cannot split \(count) sample(s); expected at least 2") }
        let order = permutation(count, seed: seed)
        let validationCount = min(max(1, Int((validationFraction * Double(count)).rounded())), count - 1)
        return (Array(order[validationCount...]), Array(order[..<validationCount]))
    }
}

/// Throws `DiceKitError.value` naming the first of `indices` outside 0..<count (`name`: "sample index").
func checkIndices(_ indices: [Int], count: Int, name: String) throws {
    if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
        throw DiceKitError.invalidValue(name: name, value: "\(bad)", expected: "0..<\(count)")
    }
}

/// The samples of another source at chosen indices (nothing is read until a sample is asked for).
public struct SourceSubset: SegmentationSource {
    /// The source the samples come from.
    public let base: any SegmentationSource
    /// The base's indices, in this subset's order.
    public let indices: [Int]

    /// The samples of `base` at `indices` (repeats allowed).
    ///
    /// - Throws: `DiceKitError.value` naming the first index outside 0..<base.count.
    public init(_ base: any SegmentationSource, indices: [Int]) throws {
        try checkIndices(indices, count: base.count, name: "sample index")
        self.base = base
        self.indices = indices
    }

    /// The number of chosen samples.
    public var count: Int { indices.count }
    /// The base's spatial extents.
    public var spatialShape: [Int] { base.spatialShape }
    /// The base's channel count.
    public var channels: Int { base.channels }
    /// The base's class count.
    public var classes: Int { base.classes }
    /// The base's ignore index.
    public var ignoreIndex: Int? { base.ignoreIndex }

    /// The base's sample `indices[index]`.
    public func sample(at index: Int) throws -> SegmentationSample { try base.sample(at: indices[index]) }

    /// The base's samples at the mapped indices.
    public func samples(_ chosen: [Int]) throws -> SegmentationDataset { try base.samples(chosen.map { indices[$0] }) }

    /// Splits `source` into training and validation subsets after a seeded shuffle: the same
    /// samples, in the same order, as `SegmentationDataset.split(validationFraction:seed:)`.
    ///
    /// - Throws: `DiceKitError.option` when the fraction is outside (0, 1) or N < 2.
    public static func split(
        _ source: any SegmentationSource, validationFraction: Double,
        seed: UInt64
    ) throws -> (training: SourceSubset, validation: SourceSubset) {
        let parts = try SegmentationDataset.splitIndices(
            count: source.count, validationFraction: validationFraction, seed: seed)
        return (try SourceSubset(source, indices: parts.training), try SourceSubset(source, indices: parts.validation))
    }
}
