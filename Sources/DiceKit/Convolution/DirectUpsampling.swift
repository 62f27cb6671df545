// The input gradient of a convolution whose kernel windows tile its input exactly (kernel =
// stride > 1, no padding; ExactTiling.swift) on the direct kernels. It is also the forward pass
// of the transposed convolution with that kernel, a U-Net's 2×2 stride-2 up-sampling:
//
//   dx[n, kd·z + a, kh·y + b, kw·x + c, ci] = fill[ci] + Σ_co dy[n, z, y, x, co] · W[(a, b, c, ci)][co]
//
// Every x pixel takes one product of one dy row, so the pass is a 1×1 "convolution" of dy with
// Cout input and kd·kh·kw·Cin output columns, whose column (a, b, c, ci) of position (z, y, x)
// is stored at x position (kd·z + a, kh·y + b, kw·x + c), channel ci: the direct kernels'
// per-position tiles with a scattered output (dk_conv_geometry.ud/uh/uw), reading dy in place.
// On the lowered path the same pass is a GEMM into a tile followed by the scatter of
// ExactTiling.swift; the direct tiles store each 16-channel vector once, where it belongs.

internal import CDiceKitKernels

extension ConvGeometry {
    /// The 1×1 forward geometry of the scattered pass over dy's grid: Cout reduced channels,
    /// kd·kh·kw·Cin output columns stored at their x pixels (dk_conv_geometry.ud/uh/uw), with the
    /// weight block of the blocking in use. The bfloat16 up-sampling
    /// (BFloat16ExactTiling.swift) runs the same pass.
    var scatteredGeometry: dk_conv_geometry {
        var g = dk_conv_geometry(
            hp: output[1], wp: output[2], output: output, kernel: [1, 1, 1], cin: outChannels, cout: patch)
        g.weight_block = ConvBlocking.current.weightBlock
        (g.ud, g.uh, g.uw) = (Int32(kernel[0]), Int32(kernel[1]), Int32(kernel[2]))
        return g
    }

    /// dx = fill + the exact-tiling scatter of dy · Wᵀ (see the file comment), on the direct
    /// kernels; every element of dx is written once. With `roundsOperands` (the rounded-operand
    /// bfloat16 arithmetic, whose caller has rounded `weight`), dy is rounded as it is read
    /// unless `dyOnGrid` (its values are bfloat16 values: read in place); with `roundsOutput` the
    /// stores round dx (dk_conv_geometry.round_output).
    /// The transposed kernel is kept in `cache` (the convolution's) when there is one.
    func scatteredInputGradient(
        weight: UnsafePointer<Float>, dy: UnsafePointer<Float>, fill: UnsafePointer<Float>?,
        dx: UnsafeMutablePointer<Float>, roundsOperands: Bool, dyOnGrid: Bool = false, roundsOutput: Bool = false,
        cache: BFloat16WeightCache?, workers: Int
    ) {
        let (rows, columns) = (outChannels, patch)
        var padded = PaddedSource(
            source: dy, batch: batch, inner: output, channels: rows, before: [0, 0, 0], after: [0, 0, 0],
            kernelWidth: 1)
        padded.roundsToBFloat16 = roundsOperands && !dyOnGrid
        // Per-position tiles only (the output scatters): nothing is read past a sample.
        padded.readsInPlaceWhenUnpadded = true
        var g = scatteredGeometry
        g.round_output = roundsOutput ? 1 : 0
        // Wᵀ [Cout × K·Cin], written straight into the packed layout of dk_conv_pack_weights:
        // its columns in blocks of 64, each block's rows contiguous.
        let make = { (packed: UnsafeMutablePointer<Float>) in
            let block = Int(DK_CONV_CHANNEL_BLOCK)
            for first in Swift.stride(from: 0, to: columns, by: block) {
                let width = Swift.min(block, columns - first)
                let target = packed + first * rows
                for r in 0..<rows {
                    for j in 0..<width { (target + r * width + j).initialize(to: weight[(first + j) * rows + r]) }
                }
            }
        }
        let bias = scatteredFill(fill)
        Self.withDirectPacking(cache, .scattered(rounded: roundsOperands), count: rows * columns, make: make) {
            packed in
            withOptionalPointer(bias) { bias in
                forwardTasks(
                    g, padded: padded, weight: packed, bias: bias, y: dx, outputSample: inputPixels * inChannels,
                    workers: workers)
            }
        }
    }
}
