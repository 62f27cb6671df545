// A convolution's kernel as a `Convolution` value holds it: given in DiceKit's layout, or in
// PyTorch's (a layer's parameter as it is) and converted on first use, with the bfloat16
// packings made from it.
//
// A layer rebuilds its convolution after every optimiser step. Converting the kernel to DiceKit's
// layout then costs a read and a write of every weight (7.8 M in a base-32 U-Net) before each
// forward pass; a pass on the bfloat16 kernels reads only the packings, which are made straight
// from PyTorch's layout (dk_bf16_pack_weight_channels), and so does a Float pass on the direct
// kernels (dk_conv_pack_weight_rows_pytorch, dk_conv_pack_weights_flipped_pytorch), so in bf16
// and Float training of a U-Net's 3×3 layers that conversion is never made. The lowered path,
// the scattered and few-channel input gradients, the rounded-operand arithmetic and the public
// `weight` convert once per kernel value, as before (`ConvGeometry.readsOnlyPackedKernel`).

import Synchronization

/// The kernel of a `Convolution` value and its bfloat16 packings, shared by the value's copies;
/// safe to use from several threads (the conversion is made once, under the lock).
final class KernelStorage<Scalar: BLASScalar>: Sendable {
    /// DiceKit's shape [k…, Cin / groups, Cout].
    let shape: [Int]
    /// The bfloat16 packings, made from `pyTorchLayout` when there is one.
    let bfloat16: BFloat16WeightCache
    /// The kernel in PyTorch's layout [Cout, Cin / groups, k…], when it was given that way.
    let pyTorchLayout: Tensor<Scalar>?
    private let converted: Mutex<Tensor<Scalar>?>

    /// A kernel in DiceKit's layout.
    init(_ weight: Tensor<Scalar>) {
        shape = weight.shape
        pyTorchLayout = nil
        converted = Mutex(weight)
        bfloat16 = BFloat16WeightCache()
    }

    /// A kernel in PyTorch's layout [Cout, Cin / groups, k…] (rank 4 or 5, checked by the caller).
    init(pyTorch weight: Tensor<Scalar>) {
        precondition(weight.rank == 4 || weight.rank == 5, "KernelStorage: PyTorch kernel of shape \(weight.shape)")
        shape = Array(weight.shape[2...]) + [weight.shape[1], weight.shape[0]]
        pyTorchLayout = weight
        converted = Mutex(nil)
        bfloat16 = BFloat16WeightCache(pyTorchKernel: Scalar.self == Float.self ? weight.reinterpreted() : nil)
    }

    /// The kernel in DiceKit's layout, converted from PyTorch's on first use.
    var dicekitLayout: Tensor<Scalar> {
        converted.withLock { kept in
            if let kept { return kept }
            guard let source = pyTorchLayout, let made = try? WeightLayout.fromPyTorch(source) else {
                preconditionFailure("KernelStorage: no kernel to convert")
            }
            kept = made
            return made
        }
    }

    /// Whether the kernel in DiceKit's layout has been made (tests).
    var holdsDicekitLayout: Bool { converted.withLock { $0 != nil } }
}
