// The bfloat16 precision's forward passes and input gradients as Winograd F(2×2, 3×3) (and
// F(2×2×2, 3×3×3)) with bfloat16 products, in the dot-product arithmetic
// (BFloat16Convolution.swift tries them first; conv_winograd_bf16.c):
//
//   V = Bᵀ d₁₆ B in Float from the padded input rounded to bfloat16 (to nearest, ties to even;
//   or the bfloat16 bits it was handed over as), U = G g Gᵀ in Float from the Float kernel, both
//   rounded to bfloat16; M = Σ over ci of V₁₆ ⊙ U₁₆ summed in Float (vdpbf16ps); y = Aᵀ M A
//   (+ bias) in Float, stored as Floats or as bfloat16 bits.
//
// The input is read only through its rounding, as the dot-product kernels read it (so a layer
// may keep or hand over its input as bfloat16 bits and get the same bits). With u = 2⁻⁸ the
// rounded V is within (2u + u²)·|Bᵀ||d||B| of the exact one and U within u·|G||g||Gᵀ|, so a
// product within (3u + 3u² + u³) of the product of those magnitudes; the output transform adds
// such sums with ±1 coefficients. Docs/Convolution.md, "bfloat16 products", states the bound the
// tests hold it to and the error measured against the direct bfloat16 kernels'.
//
// Only the passes whose channels repay the transforms (`Winograd.qualifiesBFloat16`: 64 and up);
// the weight gradient stays on the dot-product kernels. The forward pass keeps its rounded
// transformed kernel in the convolution's cache (`.winogradBFloat16`); the Float packing and
// transform it is made from are made for that and dropped. The input gradient's is made per pass.

internal import CDiceKitKernels

extension ConvGeometry {
    /// The forward pass of `pass` (geometry `g` over `padded`) into `y` (Floats, or with
    /// `g.round_output` bfloat16 bits) as Winograd with bfloat16 products; false, having done
    /// nothing, where it does not run (`winogradForward`).
    func bfloat16WinogradForward(
        _ g: dk_conv_geometry, padded: PaddedSource, pass: LoweredPass<Float>, y: UnsafeMutableRawPointer,
        workers: Int, settings: ConvolutionSettings
    ) -> Bool {
        guard settings.allowsWinograd else { return false }
        var padded = padded
        padded.roundsToBFloat16 = true
        return winogradForward(
            g, padded: padded,
            packedKernel: { withPackedKernel(g, pass, roundsOperands: false, keeps: false, $0) },
            bias: pass.bias, y: y, outputSample: outputPixels * outChannels, workers: workers,
            workspaceLimit: settings.workspaceLimit, cache: pass.bfloat16Weights,
            products: .bfloat16)
    }

    /// The input gradient of `pass` (geometry `g` over the padded dy, `sampleChannels` per part of
    /// dx) as the forward pass of the flipped kernel with bfloat16 products, `pass.dxFill` as its
    /// bias; false, having done nothing, where it does not run (`winogradForward`).
    func bfloat16WinogradInputGradient(
        _ g: dk_conv_geometry, padded: PaddedSource, pass: LoweredPass<Float>, dx: UnsafeMutablePointer<Float>,
        sampleChannels: Int, workers: Int, settings: ConvolutionSettings
    ) -> Bool {
        guard settings.allowsWinograd else { return false }
        var padded = padded
        padded.roundsToBFloat16 = true
        return winogradForward(
            g, padded: padded, packedKernel: { withFlippedKernel(pass, roundsOperands: false, $0) },
            bias: pass.dxFill, y: UnsafeMutableRawPointer(dx), outputSample: inputPixels * sampleChannels,
            workers: workers, workspaceLimit: settings.workspaceLimit, cache: nil, products: .bfloat16)
    }
}
