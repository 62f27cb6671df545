// Integer label maps: the compact form of a segmentation target (no one-hot tensor in memory).

/// Integer class indices with the spatial shape of a prediction (no channel axis).
///
/// Shape [N, H, W] or [N, D, H, W]; a size-1 channel axis ([N, 1, H, W] or [N, H, W, 1]) is also
/// accepted by the losses. With a single-channel prediction, labels are a binary mask (0 or 1).
/// The one-hot target is never materialised: kernels compare labels with channel indices.
public struct LabelMap: Sendable, Equatable {
    /// The extent of each axis.
    public let shape: [Int]
    @usableFromInline var storage: [Int32]

    /// Labels from integers in row-major order.
    ///
    /// - Throws: `DiceKitError.shape` when `labels.count` differs from the product of `shape`;
    ///   `DiceKitError.value` when a label does not fit in 32 bits.
    public init(shape: [Int], labels: [Int]) throws {
        guard let count = Tensor<Float>.elementCount(shape), count == labels.count else {
            throw DiceKitError.shape("label shape \(shape) does not hold \(labels.count) labels")
        }
        var storage = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            guard let v = Int32(exactly: labels[i]) else {
                throw DiceKitError.value("label \(labels[i]) at element \(i) does not fit in 32 bits")
            }
            storage[i] = v
        }
        self.shape = shape
        self.storage = storage
    }

    /// Labels already stored as 32-bit integers (e.g. a `SegmentationBatch`'s), without conversion.
    ///
    /// - Throws: `DiceKitError.shape` when `labels.count` differs from the product of `shape`.
    public init(shape: [Int], int32Labels labels: [Int32]) throws {
        guard let count = Tensor<Float>.elementCount(shape), count == labels.count else {
            throw DiceKitError.shape("label shape \(shape) does not hold \(labels.count) labels")
        }
        self.shape = shape
        self.storage = labels
    }

    /// Labels from a floating-point tensor of whole numbers (e.g. a mask saved as float).
    ///
    /// - Throws: `DiceKitError.value` naming the first element that is not a whole number.
    public init<T: BLASScalar>(_ tensor: Tensor<T>) throws {
        // Hand off to concrete loops (no unspecialised generic loop runs from other modules).
        storage = try specialised(
            T.self, float: { try Self.wholeNumbers(tensor.reinterpreted(as: Float.self).scalars) },
            double: { try Self.wholeNumbers(tensor.reinterpreted(as: Double.self).scalars) })
        self.shape = tensor.shape
    }

    private static func wholeNumbers(_ values: [Float]) throws -> [Int32] { try wholeNumbers(values.map(Double.init)) }

    private static func wholeNumbers(_ values: [Double]) throws -> [Int32] {
        var storage = [Int32](repeating: 0, count: values.count)
        for (i, x) in values.enumerated() {
            guard x.isFinite, x.rounded() == x, let v = Int32(exactly: x) else {
                throw DiceKitError.value("label element \(i) is \(x); expected a whole number")
            }
            storage[i] = v
        }
        return storage
    }

    /// The labels as integers, row-major.
    public var labels: [Int] { storage.map { Int($0) } }
    /// The number of labels.
    public var count: Int { storage.count }
}
