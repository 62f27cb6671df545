// Binary per-class masks: the input of the surface-distance, confusion-matrix and generalized
// Dice metrics, built from label maps or from one-hot (0/1) tensors. MONAI's metrics take the
// same thing: binarised one-hot tensors [N, C, spatial…].

/// Binary masks per (sample, class), stored channels-first: [N, C, spatial…] row-major.
///
/// ```
/// let predicted = try ClassMasks(labels: predictedLabels, classes: 3)
/// let target = try ClassMasks(oneHot: targetTensor, layout: .channelsFirst)
/// ```
public struct ClassMasks: Sendable, Equatable {
    /// Samples (N).
    public let samples: Int
    /// Classes (C).
    public let classes: Int
    /// The spatial extent, [H, W] or [D, H, W] (any rank ≥ 1 for the overlap metrics).
    public let spatialShape: [Int]
    /// [N, C, spatial…] row-major: true where the class is present.
    public var storage: [Bool]

    /// Positions per (sample, class) mask.
    public var positions: Int { spatialShape.reduce(1, *) }

    /// Masks from raw storage, [N, C, spatial…] row-major.
    ///
    /// - Throws: `DiceKitError.shape` when `storage.count` is not N · C · Π spatial.
    public init(samples: Int, classes: Int, spatialShape: [Int], storage: [Bool]) throws {
        guard samples >= 1, classes >= 1, !spatialShape.isEmpty, spatialShape.allSatisfy({ $0 >= 1 }),
            storage.count == samples * classes * spatialShape.reduce(1, *)
        else {
            throw DiceKitError.shape(
                "masks of \(samples) samples, \(classes) classes and spatial shape \(spatialShape) "
                    + "do not hold \(storage.count) values; expected positive extents and N·C·Πspatial values")
        }
        self.samples = samples
        self.classes = classes
        self.spatialShape = spatialShape
        self.storage = storage
    }

    /// One mask per class from a label map [N, spatial…]: class k is present where the label is k.
    ///
    /// - Parameter classes: the class count C ≥ 1; labels must lie in 0..<C.
    /// - Throws: `DiceKitError.value` naming the first label outside 0..<classes;
    ///   `DiceKitError.shape` for a label map without spatial axes.
    public init(labels: LabelMap, classes: Int) throws {
        try self.init(labels: labels, masksOf: (0..<max(classes, 0)).map { [$0] }, classes: classes)
    }

    /// Masks from a label map [N, spatial…] where label l sets the masks `masksOf[l]` (each in
    /// 0..<classes): one per class, or overlapping regions (`LabelRegions.masks`).
    ///
    /// - Throws: `DiceKitError.value` for classes below 1 or naming the first label outside
    ///   0..<masksOf.count; `DiceKitError.shape` for a label map without spatial axes.
    init(labels: LabelMap, masksOf: [[Int]], classes: Int) throws {
        guard labels.shape.count >= 2 else {
            throw DiceKitError.shape(
                "label map shape \(labels.shape); expected [N, spatial…] with at least one spatial axis")
        }
        guard classes >= 1 else { throw DiceKitError.value("classes is \(classes); expected ≥ 1") }
        let n = labels.shape[0]
        let spatial = Array(labels.shape.dropFirst())
        let s = spatial.reduce(1, *)
        var storage = [Bool](repeating: false, count: n * classes * s)
        for b in 0..<n {
            for i in 0..<s {
                let label = Int(labels.storage[b * s + i])
                guard label >= 0 && label < masksOf.count else {
                    throw DiceKitError.value("label \(label) at element \(b * s + i); expected 0..<\(masksOf.count)")
                }
                for k in masksOf[label] { storage[(b * classes + k) * s + i] = true }
            }
        }
        try self.init(samples: n, classes: classes, spatialShape: spatial, storage: storage)
    }

    /// Masks from a one-hot (or multi-label) tensor of 0s and 1s, [N, spatial…, C] or
    /// [N, C, spatial…] as `layout` says.
    ///
    /// - Throws: `DiceKitError.value` naming the first element that is neither 0 nor 1 (binarise
    ///   probabilities first, or pass labels); `DiceKitError.shape` for a rank below 3.
    public init(oneHot tensor: Tensor<Double>, layout: Layout) throws {
        let shape = tensor.shape
        guard shape.count >= 3 else {
            throw DiceKitError.shape(
                "one-hot shape \(shape); expected [N, spatial…, C] or [N, C, spatial…] with at least one spatial axis")
        }
        let n = shape[0]
        let c = layout == .channelsLast ? shape[shape.count - 1] : shape[1]
        let spatial = layout == .channelsLast ? Array(shape[1..<(shape.count - 1)]) : Array(shape[2...])
        let s = spatial.reduce(1, *)
        var storage = [Bool](repeating: false, count: n * c * s)
        let values = tensor.scalars
        for b in 0..<n {
            for k in 0..<c {
                for i in 0..<s {
                    let index = layout == .channelsLast ? (b * s + i) * c + k : (b * c + k) * s + i
                    let v = values[index]
                    guard v == 0 || v == 1 else {
                        throw DiceKitError.value(
                            "one-hot element \(index) is \(v); expected 0 or 1 (binarise probabilities first, or pass labels)"
                        )
                    }
                    storage[(b * c + k) * s + i] = v == 1
                }
            }
        }
        try self.init(samples: n, classes: c, spatialShape: spatial, storage: storage)
    }

    /// The mask of (sample, class) as a slice of `storage`.
    func mask(sample: Int, class k: Int) -> ArraySlice<Bool> {
        let s = positions
        let start = (sample * classes + k) * s
        return storage[start..<(start + s)]
    }

    /// Checks that `other` has the same samples, classes and spatial shape.
    func checkMatches(_ other: ClassMasks) throws {
        guard samples == other.samples, classes == other.classes, spatialShape == other.spatialShape else {
            throw DiceKitError.shape(
                "prediction masks [N \(samples), C \(classes), spatial \(spatialShape)] and target masks "
                    + "[N \(other.samples), C \(other.classes), spatial \(other.spatialShape)]; expected the same shape"
            )
        }
    }

    /// The classes a metric scores: all, or all but channel 0 when the background is excluded
    /// (MONAI's `ignore_background` keeps a single channel).
    func scoredClasses(includeBackground: Bool) -> Range<Int> {
        includeBackground || classes == 1 ? 0..<classes : 1..<classes
    }
}
