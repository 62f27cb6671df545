// The input of a convolution's backward pass as a layer kept it: the tensor, the tensors it is
// the channel concatenation of, or its bfloat16 rounding (NN/Layers/KeptActivations.swift).

/// A layer's input as its backward pass reads it: the tensor, (Float only) the parts whose
/// channel concatenation it is (a U-Net decoder's up-sampled tensor and skip, kept instead of
/// their concatenation), or (Float only) its bfloat16 rounding kept instead of it.
enum BackwardInput<Scalar: BLASScalar> {
    case tensor(Tensor<Scalar>)
    case parts([Tensor<Scalar>])
    case rounded(BFloat16Activation)

    /// The input's shape (the concatenation's, for parts).
    ///
    /// - Throws: `DiceKitError.shape` when the parts do not concatenate.
    func shape() throws -> [Int] {
        switch self {
        case .tensor(let t): t.shape
        case .parts(let parts): try Tensor<Scalar>.concatenatedChannelShape(parts.map(\.shape))
        case .rounded(let r): r.shape
        }
    }

    /// The same input with scalar type `T` (the same type: `Scalar` and `T` are one type at run time).
    func reinterpreted<T: BLASScalar>(as _: T.Type) -> BackwardInput<T> {
        switch self {
        case .tensor(let t): .tensor(t.reinterpreted(as: T.self))
        case .parts(let parts): .parts(parts.map { $0.reinterpreted(as: T.self) })
        case .rounded(let r): .rounded(r)
        }
    }

    /// Calls `body` with a pointer to the tensor's scalars (the first part's, for parts), the
    /// rounding's bits, and for parts each one's scalars and channel count (Float).
    func withPointers<R>(_ body: (UnsafePointer<Scalar>?, UnsafePointer<UInt16>?, [ChannelPart]?) -> R) -> R {
        switch self {
        case .tensor(let t): t.withUnsafeBufferPointer { body($0.baseAddress!, nil, nil) }
        case .parts(let parts):
            DiceKit.withPointers(parts[...]) { body($0[0], nil, ChannelPart.parts($0, of: parts)) }
        case .rounded(let r): body(nil, UnsafePointer(r.storage.pointer), nil)
        }
    }
}
