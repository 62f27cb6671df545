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
// So does an up-sampling's on the exact tiling's dot products and tiles (`dyRounded`: its weight
// gradient pairs the bits as they are); with rounded operands it widens the copy
// (`widenedForBackward`).
// The copies (Tensor/BFloat16Activation.swift) keep their memory from step to step
// (Tensor/BFloat16Storage.swift).

/// What a convolution layer keeps of its input for the backward pass: the tensor itself, the
/// tensors it is the channel concatenation of (`keep(parts:)`), or its bfloat16 rounding once
/// `keep(rounded:)` has replaced it.
struct KeptInput<Scalar: BLASScalar> {
    /// The input, while it is kept as it is.
    private(set) var tensor: Tensor<Scalar>?
    /// The parts of the input, while it is kept as them.
    private(set) var parts: [Tensor<Scalar>]?
    /// Its rounding, once kept so.
    private(set) var rounded: BFloat16Activation?

    /// Keeps `input` (a forward pass), or nothing (nil: after a backward pass, or to release it).
    mutating func keep(_ input: Tensor<Scalar>?) {
        tensor = input
        parts = nil
        rounded = nil
    }

    /// Keeps the tensors whose channel concatenation the input is, instead of it (a forward and
    /// backward pass that read them as they are: `Convolution.trainsOnConcatenatedInput`).
    mutating func keep(parts: [Tensor<Scalar>]) {
        keep(nil)
        self.parts = parts
    }

    /// Keeps `rounded`, the rounding of an input that was never kept as a tensor (its forward
    /// pass read the rounding: `ConvolutionLayer.forward(rounded:rectified:)`).
    mutating func keep(roundedOnly rounded: BFloat16Activation) {
        keep(nil)
        self.rounded = rounded
    }

    /// Keeps `rounded`, the rounding of the kept tensor, instead of it.
    mutating func keep(rounded: BFloat16Activation) {
        precondition(tensor?.shape == rounded.shape, "KeptInput: only a kept tensor can be kept rounded")
        keep(nil)
        self.rounded = rounded
    }

    /// The input as the backward pass reads it, the tensor, its parts or its rounding as kept (a
    /// convolution's weight gradient reads parts and a rounding as they are: ConvEngine.swift,
    /// `xParts`, `xRounded`).
    var forBackward: BackwardInput<Scalar>? {
        if let rounded = rounded { return .rounded(rounded) }
        if let parts = parts { return .parts(parts) }
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

extension Tensor {
    /// Whether `other` holds this tensor's storage (not a copy of it): the test by which layers
    /// that kept the same tensor share one bfloat16 copy. Both are alive while it runs, so equal
    /// addresses mean one buffer.
    func sharesStorage(with other: Tensor) -> Bool {
        withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
            && shape == other.shape
    }
}
