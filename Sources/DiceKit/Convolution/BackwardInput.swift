// The input of a convolution's backward pass as a layer kept it: the tensor, or its bfloat16
// rounding (NN/Layers/KeptActivations.swift).

/// A layer's input as its backward pass reads it: the tensor, or (Float only) its bfloat16
/// rounding kept instead of it.
enum BackwardInput<Scalar: BLASScalar> {
    case tensor(Tensor<Scalar>)
    case rounded(BFloat16Activation)

    /// The input's shape.
    var shape: [Int] {
        switch self {
        case .tensor(let t): t.shape
        case .rounded(let r): r.shape
        }
    }

    /// The same input with scalar type `T` (the same type: `Scalar` and `T` are one type at run time).
    func reinterpreted<T: BLASScalar>(as _: T.Type) -> BackwardInput<T> {
        switch self {
        case .tensor(let t): .tensor(t.reinterpreted(as: T.self))
        case .rounded(let r): .rounded(r)
        }
    }

    /// Calls `body` with a pointer to the tensor's scalars, or to the rounding's bits.
    func withPointers<R>(_ body: (UnsafePointer<Scalar>?, UnsafePointer<UInt16>?) -> R) -> R {
        switch self {
        case .tensor(let t): t.withUnsafeBufferPointer { body($0.baseAddress!, nil) }
        case .rounded(let r): body(nil, UnsafePointer(r.storage.pointer))
        }
    }
}
