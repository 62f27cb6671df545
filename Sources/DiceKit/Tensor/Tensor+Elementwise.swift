// Element-wise arithmetic and reductions that tests, optimisers and the CLI need.
// Hot paths live in dedicated kernels; these are straightforward loops over the storage,
// `@inlinable` so that callers in other modules get them compiled for their scalar type
// (Tensor.swift).

extension Tensor {
    /// A tensor of zeros with the given shape.
    @inlinable public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

    /// A new tensor with `transform` applied to every element.
    @inlinable public func map(_ transform: (Scalar) throws -> Scalar) rethrows -> Tensor {
        Tensor(uncheckedShape: shape, storage: try storage.map(transform))
    }

    /// The sum of all elements, accumulated in Double (pairwise within blocks) to limit rounding error.
    @inlinable public func sum() -> Scalar {
        var total = 0.0
        storage.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let end = Swift.min(start + 4096, buffer.count)
                var block = 0.0
                for i in start..<end { block += Double(buffer[i]) }
                total += block
                start = end
            }
        }
        return Scalar(total)
    }

    /// The arithmetic mean of all elements (NaN for an empty tensor).
    @inlinable public func mean() -> Scalar { count == 0 ? .nan : sum() / Scalar(count) }

    /// The largest element, or nil for an empty tensor.
    @inlinable public func max() -> Scalar? { storage.max() }

    /// The smallest element, or nil for an empty tensor.
    @inlinable public func min() -> Scalar? { storage.min() }

    /// True when no element is NaN or infinite.
    @inlinable public var isFinite: Bool { storage.allSatisfy { $0.isFinite } }

    /// The largest |self − other| over all elements.
    ///
    /// - Precondition: the shapes are equal.
    @inlinable public func maxAbsDifference(_ other: Tensor) -> Scalar {
        precondition(shape == other.shape, "maxAbsDifference: shapes \(shape) and \(other.shape) differ")
        var worst: Scalar = 0
        for i in 0..<count { worst = Swift.max(worst, abs(storage[i] - other.storage[i])) }
        return worst
    }

    /// NumPy's `allclose`: |self − other| ≤ atol + rtol·|other| for every element, same shape.
    @inlinable public func isClose(to other: Tensor, relativeTolerance rtol: Scalar, absoluteTolerance atol: Scalar = 0)
        -> Bool
    {
        guard shape == other.shape else { return false }
        for i in 0..<count where !(abs(storage[i] - other.storage[i]) <= atol + rtol * abs(other.storage[i])) {
            return false
        }
        return true
    }

    /// Element-wise sum. - Precondition: equal shapes.
    @inlinable public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "Tensor +: shapes \(lhs.shape) and \(rhs.shape) differ")
        var result = lhs
        for i in 0..<result.count { result.storage[i] += rhs.storage[i] }
        return result
    }

    /// Element-wise difference. - Precondition: equal shapes.
    @inlinable public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "Tensor -: shapes \(lhs.shape) and \(rhs.shape) differ")
        var result = lhs
        for i in 0..<result.count { result.storage[i] -= rhs.storage[i] }
        return result
    }

    /// Element-wise (Hadamard) product. - Precondition: equal shapes.
    @inlinable public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "Tensor *: shapes \(lhs.shape) and \(rhs.shape) differ")
        var result = lhs
        for i in 0..<result.count { result.storage[i] *= rhs.storage[i] }
        return result
    }

    /// Every element multiplied by a scalar.
    @inlinable public static func * (lhs: Scalar, rhs: Tensor) -> Tensor { rhs.map { lhs * $0 } }
}
