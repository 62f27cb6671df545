// A segmentation network's 1×1 head (the last block's 16 to 64 features to a few class logits)
// applied in evaluation mode by the bfloat16 forward pass of the convolution before it, in that
// pass's stores (head_store.h: the dot-product kernels' tiles call it with their outputs in
// registers, the AMX tile kernels with each block of 32 positions' outputs after the bias and
// ReLU, conv_amx.c's amx_store_head). The block's Float output, 16.8 MB for a
// base-32 U-Net's batch of eight 128² images, is then neither written nor read back by the
// head's own pass. The logits are the same bits either way: the stores sum each logit as the
// few-channel kernel does when it runs the head alone (NarrowPointwise.swift, at AVX-512, the
// level the bfloat16 kernels need).

internal import CDiceKitKernels

/// The operands of a fused 1×1 head, valid while the pass runs: its kernel in PyTorch's layout,
/// which for a 1×1 kernel is the transposed [classes, features] matrix the stores read, and its
/// bias.
struct FusedHead {
    /// [classes × features] Floats.
    let weight: UnsafePointer<Float>
    /// [classes] Floats, or nil for none.
    let bias: UnsafePointer<Float>?
    /// The logits per position (fewer than 16: the few-channel kernel's).
    let classes: Int
}

extension ConvGeometry {
    /// Whether a Float forward pass may apply a 1×1 head in its stores (`LoweredPass.head`): it
    /// runs on the bfloat16 dot-product or tile kernels (not with rounded operands, nor as an
    /// exact tiling), whose stores see every output channel of a position (at most 64).
    func forwardFusesHead(settings: ConvolutionSettings) -> Bool {
        outChannels <= 64 && forwardReadsRoundedOperand(settings: settings)
    }

    /// Whether a Float forward pass runs on the few-channel kernel at AVX-512 (the order of
    /// `runConcrete`: not a bfloat16 or direct pass first), whose sums a fused head repeats.
    func forwardRunsNarrowAVX512(settings: ConvolutionSettings) -> Bool {
        InstructionSet.current == .avx512
            && withPlaceholderPass(y: true, dx: false, weightGradient: false) { pass in
                !runsBFloat16Tiling(pass, settings: settings) && !runsBFloat16(pass, settings: settings)
                    && !runsDirect(pass, settings: settings) && runsNarrowPointwise(pass, settings: settings)
            }
    }
}

extension Convolution {
    /// Whether the forward pass of an input of `inputShape` may compute `head`'s logits of its
    /// output in its stores (`forward(_:rectified:head:)`): this pass `forwardFusesHead`, and
    /// `head` (a Float 1×1 convolution of as many input channels as this one has output
    /// channels) runs on the few-channel kernel at AVX-512 on that output.
    func fusesHead(_ head: Convolution<Scalar>, inputShape: [Int]) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape), g.forwardFusesHead(settings: settings),
            let h = try? head.geometry(g.outputShape)
        else { return false }
        return h.forwardRunsNarrowAVX512(settings: head.settings)
    }

    /// The logits of `head` of `forward(input, rectified:)`, computed in the forward pass's
    /// stores (precondition: `fusesHead`): [batch, out…, head.classes], the same bits as
    /// `head` run on that output, which is not written.
    ///
    /// - Throws: as `forward(_:rectified:)`.
    func forward(_ input: ForwardInput<Scalar>, rectified: Bool, head: FusedHead) throws -> Tensor<Scalar> {
        let g = try geometry(input.shape())
        precondition(
            Scalar.self == Float.self && g.forwardFusesHead(settings: settings),
            "convolution: a fused head needs the bfloat16 dot-product or tile forward kernels")
        return floatOutput(g, rectified: rectified, roundsOutput: false, head: head) { pass in
            run(pass, on: input, g)
        }
    }
}
