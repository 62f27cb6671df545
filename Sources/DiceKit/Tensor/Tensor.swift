// Tensor: a shape and a contiguous, row-major (C order) buffer of scalars.
//
// Goals, in order: (1) a predictable memory layout that kernels and BLAS read directly;
// (2) value semantics with copy-on-write (the storage is a Swift Array); (3) a small surface.
// It is a container for kernels, not a NumPy clone: operations that matter for speed are
// kernels elsewhere in the module. The element loops here (initialisers, indexing, conversion,
// Tensor+Elementwise.swift) are `@inlinable`, so that a caller in another module with a concrete
// scalar type gets them compiled for that type: as plain generic code, reached from another
// module, they ran through the protocol's witnesses: 83× slower for `+` and 34× for `sum()` on
// 4 M Floats (`tensor_*_4m_ms` in dicekit-bench).

/// A dense, contiguous, row-major tensor of `Float` or `Double` with value semantics.
///
/// The last axis varies fastest (C order). Image tensors are channels-last by default,
/// [batch, height, width, channels], or [batch, depth, height, width, channels] for volumes;
/// see `Layout` for channels-first.
public struct Tensor<Scalar: BLASScalar>: Equatable, Sendable {
    /// The extent of each axis; empty for a scalar.
    public private(set) var shape: [Int]
    @usableFromInline var storage: [Scalar]

    /// All elements in row-major order. Setting requires the same element count.
    public var scalars: [Scalar] {
        get { storage }
        set {
            precondition(
                newValue.count == storage.count,
                "Tensor.scalars: \(newValue.count) elements for shape \(shape)")
            storage = newValue
        }
    }

    /// The number of elements: the product of `shape`.
    @inlinable public var count: Int { storage.count }
    /// The number of axes.
    @inlinable public var rank: Int { shape.count }

    /// Row-major strides, in elements, of each axis.
    public var strides: [Int] { Tensor.rowMajorStrides(shape) }

    /// A tensor of the given shape with every element equal to `value` (default 0).
    ///
    /// - Precondition: every extent is ≥ 0.
    @inlinable public init(shape: [Int], repeating value: Scalar = 0) {
        let count = Tensor.elementCount(shape)
        precondition(count != nil, "Tensor: invalid shape \(shape)")
        self.init(uncheckedShape: shape, storage: [Scalar](repeating: value, count: count!))
    }

    /// A tensor of the given shape holding `scalars` in row-major order.
    ///
    /// - Throws: `DiceKitError.shape` when an extent is negative or the element count of
    ///   `shape` differs from `scalars.count`.
    public init(shape: [Int], scalars: [Scalar]) throws {
        guard let count = Tensor.elementCount(shape) else {
            throw DiceKitError.shape("invalid shape \(shape): extents must be ≥ 0 and their product must fit in Int")
        }
        guard count == scalars.count else {
            throw DiceKitError.elementCount(shape: shape, expected: count, actual: scalars.count)
        }
        self.shape = shape
        self.storage = scalars
    }

    /// A rank-1 tensor holding `scalars`.
    public init(_ scalars: [Scalar]) {
        self.shape = [scalars.count]
        self.storage = scalars
    }

    /// Internal initialiser for kernels that have already checked the count.
    @usableFromInline init(uncheckedShape shape: [Int], storage: [Scalar]) {
        self.shape = shape
        self.storage = storage
    }

    /// The element at a multi-dimensional index, one integer per axis.
    @inlinable public subscript(_ indices: Int...) -> Scalar {
        get { storage[flatIndex(indices)] }
        set { storage[flatIndex(indices)] = newValue }
    }

    /// The row-major offset of a multi-dimensional index.
    @inlinable public func flatIndex(_ indices: [Int]) -> Int {
        precondition(
            indices.count == shape.count,
            "Tensor: \(indices.count) indices for a rank-\(shape.count) tensor")
        var offset = 0
        for (axis, index) in indices.enumerated() {
            precondition(
                index >= 0 && index < shape[axis],
                "Tensor: index \(index) out of range 0..<\(shape[axis]) on axis \(axis)")
            offset = offset * shape[axis] + index
        }
        return offset
    }

    /// The same elements with a new shape of equal element count.
    ///
    /// - Throws: `DiceKitError.shape` when the counts differ.
    public func reshaped(to newShape: [Int]) throws -> Tensor {
        try Tensor(shape: newShape, scalars: storage)
    }

    /// The tensor converted element by element to another precision.
    @inlinable public func converted<Other: BLASScalar>(to: Other.Type = Other.self) -> Tensor<Other> {
        Tensor<Other>(uncheckedShape: shape, storage: storage.map { Other($0) })
    }

    /// Calls `body` with the contiguous elements (for kernels inside the module).
    @inlinable func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the contiguous, mutable elements (for kernels inside the module).
    @inlinable mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Row-major strides of `shape`.
    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var stride = 1
        for axis in shape.indices.reversed() {
            strides[axis] = stride
            stride &*= shape[axis]
        }
        return strides
    }

    /// The product of `shape`, or nil when an extent is negative or the product overflows.
    @usableFromInline static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for extent in shape {
            guard extent >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            count = product
        }
        return count
    }
}

extension Tensor: CustomStringConvertible {
    /// The shape and up to the first eight elements.
    public var description: String {
        let head = storage.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(Scalar.self)>(shape: \(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}
