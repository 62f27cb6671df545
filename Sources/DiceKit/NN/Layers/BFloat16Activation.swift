// Activations kept for the backward pass in bfloat16 (a `.bfloat16` training step,
// UNet.storesActivationsInBFloat16). A tensor that the backward pass reads only through its
// bfloat16 rounding (the input of a convolution whose weight gradient rounds its operands, the
// output of a ReLU, whose derivative reads only where it is positive) is kept as that rounding:
// half the bytes, and the same gradients bit for bit.
//
//   a convolution's weight gradient   reads x₁₆ (BFloat16Convolution.swift), so (x₁₆)₁₆ = x₁₆ gives
//                                     the same sums (rounding a bfloat16 value is the identity;
//                                     a NaN stays the same quiet NaN)
//   a ReLU's derivative               reads y > 0; for a normal Float y, y₁₆ > 0 exactly when
//                                     y > 0 (rounding to nearest keeps the sign and never goes
//                                     below the least normal, which both formats share), a NaN
//                                     stays NaN, and the U-Net runs with subnormals flushed
//                                     (FTZ, DAZ), so no y is subnormal
//
// Layers hold the copy instead of the Float tensor (ConvolutionLayer, TransposedConvolutionLayer,
// ActivationLayer); one copy serves every layer that kept the same tensor (a ReLU's output and
// the next convolution's input), and a tensor is converted only when every layer that keeps it
// takes the copy, so that no Float tensor stays alive beside its copy. A convolution's backward
// pass hands the copy's bits to the bfloat16 kernels as they are (ConvEngine.swift, `xRounded`):
// no Float tensor is widened from it, and its padded operand is a copy of bits, not a rounding.
// The copies' memory is kept from step to step (BFloat16Storage.swift).

internal import CDiceKitKernels

/// A Float tensor kept as its bfloat16 rounding (round to nearest, ties to even; `BFloat16`).
///
/// The bits live in memory of their own (`BFloat16Storage`), not in malloc's heap, where the
/// copies, made while the Float tensors they replace are still alive and freed in another order,
/// would leave holes that larger tensors later in the step cannot use.
struct BFloat16Activation: Sendable {
    /// The shape of the tensor it was made from.
    let shape: [Int]
    /// The bfloat16 bit patterns, row-major.
    let storage: BFloat16Storage

    /// The rounding of `tensor`, converted in parallel over ranges of elements.
    init(rounding tensor: Tensor<Float>) {
        shape = tensor.shape
        storage = BFloat16Storage(count: tensor.count)
        let target = storage.pointer
        tensor.withUnsafeBufferPointer { source in
            guard let s = source.baseAddress else { return }
            convertInParallel(s, target, count: source.count) { dk_f32_to_bf16($0, $1, $2) }
        }
    }

    /// The rounding of `Tensor.concatenatingChannels(parts)` (parts [N, spatial…, Cᵢ] alike but in
    /// the last axis, checked by the caller), written position by position from the parts: the
    /// Float concatenation is never written. Converted in parallel over ranges of positions.
    init(roundingConcatenation parts: [Tensor<Float>]) {
        let channels = parts.reduce(0) { $0 + $1.shape.last! }
        shape = Array(parts[0].shape.dropLast()) + [channels]
        let positions = parts[0].count / parts[0].shape.last!
        storage = BFloat16Storage(count: positions * channels)
        let target = storage.pointer
        withPointers(parts[...]) { sources in
            // Each range of positions writes its own rows of every part's channels.
            let shared = TaskShared((sources, parts.map { $0.shape.last! }, target))
            WorkerPool.shared.forEachRange(positions, grain: Swift.max(1, (1 << 16) / channels)) { range in
                let (sources, widths, target) = shared.buffers
                var offset = 0
                for (source, width) in zip(sources, widths) {
                    dk_f32_to_bf16_runs(
                        source + range.lowerBound * width, target + range.lowerBound * channels + offset,
                        range.count, width, channels)
                    offset += width
                }
            }
        }
    }

    /// The bit patterns as an array (tests).
    var bits: [UInt16] { Array(UnsafeBufferPointer(start: storage.pointer, count: storage.count)) }

    /// The Float values of the bit patterns (exact), as a `Scalar` tensor (Float: the only type
    /// whose activations are kept this way).
    func widened<Scalar: BLASScalar>(as _: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        precondition(Scalar.self == Float.self, "BFloat16Activation: only Float tensors are kept in bfloat16")
        let source = UnsafePointer(storage.pointer)
        let values = [Float](unsafeUninitializedCapacity: storage.count) { target, initialized in
            if let t = target.baseAddress {
                convertInParallel(source, t, count: storage.count) { dk_bf16_to_f32($0, $1, $2) }
            }
            initialized = storage.count
        }
        return Tensor<Float>(uncheckedShape: shape, storage: values).reinterpreted()
    }
}

/// `convert(source + i, target + i, n)` over ranges [i, i + n) of `count` elements, in parallel:
/// the element-wise conversions between Float and bfloat16.
func convertInParallel<Source, Target>(
    _ source: UnsafePointer<Source>, _ target: UnsafeMutablePointer<Target>, count: Int,
    _ convert: @Sendable @escaping (UnsafePointer<Source>, UnsafeMutablePointer<Target>, Int) -> Void
) {
    // Each range converts its own elements.
    let shared = TaskShared((source, target))
    WorkerPool.shared.forEachRange(count) { range in
        let (s, t) = shared.buffers
        convert(s + range.lowerBound, t + range.lowerBound, range.count)
    }
}

/// What a convolution layer keeps of its input for the backward pass: the tensor itself, or its
/// bfloat16 rounding once `keep(rounded:)` has replaced it.
struct KeptInput<Scalar: BLASScalar> {
    /// The input, while it is kept as it is.
    private(set) var tensor: Tensor<Scalar>?
    /// Its rounding, once kept so.
    private(set) var rounded: BFloat16Activation?

    /// Keeps `input` (a forward pass), or nothing (nil: after a backward pass, or to release it).
    mutating func keep(_ input: Tensor<Scalar>?) {
        tensor = input
        rounded = nil
    }

    /// Keeps `rounded`, the rounding of an input that was never kept as a tensor (its forward
    /// pass read the rounding: `ConvolutionLayer.forward(rounded:rectified:)`).
    mutating func keep(roundedOnly rounded: BFloat16Activation) {
        tensor = nil
        self.rounded = rounded
    }

    /// Keeps `rounded`, the rounding of the kept tensor, instead of it.
    mutating func keep(rounded: BFloat16Activation) {
        precondition(tensor?.shape == rounded.shape, "KeptInput: only a kept tensor can be kept rounded")
        tensor = nil
        self.rounded = rounded
    }

    /// The input as the backward pass reads it, the tensor or its rounding as kept (a
    /// convolution's weight gradient reads a rounding as it is: ConvEngine.swift, `xRounded`).
    var forBackward: BackwardInput<Scalar>? {
        if let rounded = rounded { return .rounded(rounded) }
        return tensor.map { .tensor($0) }
    }

    /// The input as a Float tensor for a backward pass that reads only that. A rounding is widened
    /// (exact: the pass rounds it back to the same bits) and kept in its place: the copy is let
    /// go of before the pass runs (a copy shared with another layer stays with it), and a pass
    /// that throws leaves the input kept, as a Float one would be.
    mutating func widenedForBackward() -> Tensor<Scalar>? {
        if let rounded = rounded {
            tensor = rounded.widened()
            self.rounded = nil
        }
        return tensor
    }
}

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

extension Tensor {
    /// Whether `other` holds this tensor's storage (not a copy of it): the test by which layers
    /// that kept the same tensor share one bfloat16 copy. Both are alive while it runs, so equal
    /// addresses mean one buffer.
    func sharesStorage(with other: Tensor) -> Bool {
        withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
            && shape == other.shape
    }
}
