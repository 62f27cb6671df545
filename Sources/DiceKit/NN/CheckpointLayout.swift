// The layout a parameter has in checkpoints, where tensors follow PyTorch's state_dict.
//
// DiceKit keeps kernels as [k…, a, b] (TensorFlow's layout: spatial axes first); PyTorch keeps
// them as [b, a, k…]. For a convolution (a, b) = (Cin/groups, Cout); for a transposed
// convolution (a, b) = (Cout/groups, Cin). Both are the same axis permutation, so one case
// covers them: element [k, i, j] of DiceKit's tensor is element [j, i, k] of PyTorch's.

/// How a parameter's value maps to the tensor stored under its name in a checkpoint.
public enum CheckpointLayout: Sendable, Equatable {
    /// Stored as it is (biases, normalisation parameters, buffers).
    case same
    /// A kernel kept as [k…, a, b] in DiceKit and stored as [b, a, k…] (PyTorch's convolution
    /// [out, in, k…] and transposed convolution [in, out, k…] weights).
    case convolutionKernel

    /// The checkpoint (PyTorch) shape of a value of DiceKit shape `shape`.
    public func checkpointShape(_ shape: [Int]) -> [Int] {
        switch self {
        case .same: return shape
        case .convolutionKernel:
            precondition(shape.count >= 3, "CheckpointLayout.convolutionKernel: shape \(shape) has rank < 3")
            let n = shape.count
            return [shape[n - 1], shape[n - 2]] + shape[..<(n - 2)]
        }
    }

    /// The DiceKit shape of a checkpoint tensor of shape `shape` (the inverse of `checkpointShape`).
    public func valueShape(_ shape: [Int]) -> [Int] {
        switch self {
        case .same: return shape
        case .convolutionKernel:
            precondition(shape.count >= 3, "CheckpointLayout.convolutionKernel: shape \(shape) has rank < 3")
            return Array(shape[2...]) + [shape[1], shape[0]]
        }
    }

    /// A DiceKit value in checkpoint layout.
    public func toCheckpoint<T: BLASScalar>(_ value: Tensor<T>) -> Tensor<T> {
        guard self == .convolutionKernel else { return value }
        let n = value.rank
        let (k, a, b) = (value.shape[..<(n - 2)].reduce(1, *), value.shape[n - 2], value.shape[n - 1])
        var out = [T](repeating: 0, count: value.count)
        value.withUnsafeBufferPointer { source in
            for kk in 0..<k {
                for i in 0..<a { for j in 0..<b { out[(j * a + i) * k + kk] = source[(kk * a + i) * b + j] } }
            }
        }
        return Tensor(uncheckedShape: checkpointShape(value.shape), storage: out)
    }

    /// A checkpoint tensor in DiceKit layout.
    public func fromCheckpoint<T: BLASScalar>(_ stored: Tensor<T>) -> Tensor<T> {
        guard self == .convolutionKernel else { return stored }
        let shape = valueShape(stored.shape)
        let n = shape.count
        let (k, a, b) = (shape[..<(n - 2)].reduce(1, *), shape[n - 2], shape[n - 1])
        var out = [T](repeating: 0, count: stored.count)
        stored.withUnsafeBufferPointer { source in
            for kk in 0..<k {
                for i in 0..<a { for j in 0..<b { out[(kk * a + i) * b + j] = source[(j * a + i) * k + kk] } }
            }
        }
        return Tensor(uncheckedShape: shape, storage: out)
    }
}
