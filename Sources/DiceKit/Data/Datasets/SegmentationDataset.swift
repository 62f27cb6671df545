// SegmentationDataset: images and integer label maps held in memory, with the operations a
// training loop needs (subset, shuffle, split, batches). Loading lives in the
// SegmentationDataset+*.swift files next to this one; augmentation in Augmentation.swift.

/// Images and their label maps, in memory.
///
/// - `images`: Float, channels-last, [N, H, W, C] (2-D) or [N, D, H, W, C] (3-D). Values are
///   whatever the source holds; the synthetic set and PNG/uint8 sources are in [0, 1].
/// - `labels`: `Int32` class indices in row-major order with shape `labelShape` = [N, H, W] or
///   [N, D, H, W] (no channel axis, never one-hot). `Int32` halves the memory of `Int` and is
///   the element type of the losses' `LabelMap`.
/// - `classes`: the number of classes K; every label lies in 0..<K (0 is the background), or is
///   the `ignoreIndex` (unlabelled positions) when the data set has one.
public struct SegmentationDataset: Sendable, Equatable {
    /// [N, spatial…, C] Float images, channels-last.
    public let images: Tensor<Float>
    /// Class indices, row-major, shape `labelShape`.
    public let labels: [Int32]
    /// The number of classes K (labels lie in 0..<K).
    public let classes: Int

    /// The mask value of unlabelled positions (outside 0..<K), or nil: see
    /// `DatasetOptions.ignoreIndex`.
    public let ignoreIndex: Int?

    /// Wraps images and labels after checking that they fit together.
    ///
    /// - Parameters:
    ///   - classes: K; nil takes the largest label other than `ignoreIndex`, + 1 (at least 2).
    ///   - ignoreIndex: the label of unlabelled positions (outside 0..<K), or nil.
    /// - Throws: `DiceKitError.shape` when the images are not rank 4 or 5 or the label count is
    ///   not N × spatial; `DiceKitError.value` when a label is neither in 0..<K nor the ignore
    ///   index, or the ignore index is one of the classes.
    public init(images: Tensor<Float>, labels: [Int32], classes: Int? = nil, ignoreIndex: Int? = nil) throws {
        guard images.rank == 4 || images.rank == 5 else {
            throw DiceKitError.shape("images have shape \(images.shape); expected [N, H, W, C] or [N, D, H, W, C]")
        }
        let expected = images.shape.dropLast().reduce(1, *)
        guard labels.count == expected else {
            throw DiceKitError.shape(
                "\(labels.count) labels for images of shape \(images.shape); expected \(expected) (shape \(Array(images.shape.dropLast())))"
            )
        }
        var survey = LabelSurvey(ignore: try SegmentationGeometry.ignoreLabel(ignoreIndex))
        survey.add(labels)
        let range = try LabelRange(classes: classes, ignoreIndex: ignoreIndex, largest: survey.largest)
        try range.check(labels, context: nil)
        self.images = images
        self.labels = labels
        self.classes = range.classes
        self.ignoreIndex = ignoreIndex
    }

    /// Internal: trusted parts (already checked).
    init(unchecked images: Tensor<Float>, labels: [Int32], classes: Int, ignoreIndex: Int?) {
        self.images = images
        self.labels = labels
        self.classes = classes
        self.ignoreIndex = ignoreIndex
    }

    /// The number of samples N.
    public var count: Int { images.shape[0] }
    /// The spatial extents: [H, W] or [D, H, W].
    public var spatialShape: [Int] { Array(images.shape.dropFirst().dropLast()) }
    /// The channel count C.
    public var channels: Int { images.shape.last! }
    /// The shape of `labels`: [N, H, W] or [N, D, H, W].
    public var labelShape: [Int] { Array(images.shape.dropLast()) }
    /// Pixels (voxels) per sample.
    var positions: Int { spatialShape.reduce(1, *) }

    /// The fraction of labelled positions (those whose label is not the ignore index) that
    /// belong to each class, over the whole data set.
    public var classFrequencies: [Double] {
        var counts = [Int](repeating: 0, count: classes)
        let ignore = ignoreLabel
        for label in labels where label != ignore { counts[Int(label)] += 1 }
        let labelled = counts.reduce(0, +)
        return counts.map { Double($0) / Double(max(labelled, 1)) }
    }

    /// The samples at `indices`, in that order (repeats allowed).
    ///
    /// - Precondition: every index is in 0..<count.
    public func subset(_ indices: [Int]) -> SegmentationDataset {
        let (imageSize, labelSize) = (positions * channels, positions)
        var pixels = [Float](repeating: 0, count: indices.count * imageSize)
        var labelValues = [Int32](repeating: 0, count: indices.count * labelSize)
        images.withUnsafeBufferPointer { source in
            for (slot, index) in indices.enumerated() {
                precondition(
                    index >= 0 && index < count, "SegmentationDataset.subset: index \(index) out of 0..<\(count)")
                for j in 0..<imageSize { pixels[slot * imageSize + j] = source[index * imageSize + j] }
                for j in 0..<labelSize { labelValues[slot * labelSize + j] = labels[index * labelSize + j] }
            }
        }
        var shape = images.shape
        shape[0] = indices.count
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: shape, storage: pixels), labels: labelValues, classes: classes,
            ignoreIndex: ignoreIndex)
    }

    /// The samples in an order drawn from `seed` (Fisher–Yates with `SeededGenerator`).
    public func shuffled(seed: UInt64) -> SegmentationDataset { subset(Self.permutation(count, seed: seed)) }

    /// Splits into training and validation sets after a seeded shuffle.
    ///
    /// - Parameters:
    ///   - validationFraction: in (0, 1); the validation set gets round(fraction × N) samples,
    ///     at least 1, and the training set at least 1.
    ///   - seed: the shuffle's seed (the same seed always gives the same split).
    /// - Throws: `DiceKitError.option` when the fraction is outside (0, 1) or N < 2.
    public func split(validationFraction: Double, seed: UInt64) throws -> (
        training: SegmentationDataset, validation: SegmentationDataset
    ) {
        let parts = try Self.splitIndices(count: count, validationFraction: validationFraction, seed: seed)
        return (subset(parts.training), subset(parts.validation))
    }

    /// A seeded permutation of 0..<n (Fisher–Yates).
    static func permutation(_ n: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<n)
        var generator = SeededGenerator(seed: seed)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(generator.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        return order
    }
}
