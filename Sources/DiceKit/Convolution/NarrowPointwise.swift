// The forward pass of a 1×1 convolution with few output channels (fewer than 16) and input
// channels in multiples of 16 — a segmentation network's head, 16 or 32 features to a handful
// of class logits — on the few-channel kernel of conv_narrow.c instead of a GEMM: its vectors
// run along the input channels, 4 positions × 3 output channels per tile, each sum reduced
// across its lanes once, reading x in place. A GEMM with 2 output columns leaves OpenBLAS's
// kernels mostly idle (the reference U-Net's head, 16 → 2 at 128², batch 8, took 1.2 ms, for
// 8.4 MFLOP over 8 MiB of input).

internal import CDiceKitKernels

extension ConvGeometry {
    /// Whether `pass` is such a forward pass (Float, a level with direct kernels, no ReLU, no
    /// gradients), run by `runNarrowPointwise`.
    func runsNarrowPointwise<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) -> Bool {
        settings.allowsDirect && T.precision == .single && Self.directKernelsAvailable && isPointwise && groups == 1
            && outChannels < directChannelMultiple && inChannels % directChannelMultiple == 0 && pass.y != nil
            && pass.weightGradient == nil && pass.dx == nil && pass.biasGradient == nil && !pass.rectifies
            && pass.xParts == nil
    }

    /// y = x · W (+ bias) for a pass that `runsNarrowPointwise` accepted.
    func runNarrowPointwise(_ pass: LoweredPass<Float>, settings: ConvolutionSettings) {
        guard let x = pass.x, let y = pass.y else { return }
        let workers = Swift.max(1, settings.workers ?? Parallelism.threadCount)
        var padded = PaddedSource(
            source: x, batch: batch, inner: input, channels: inChannels, before: [0, 0, 0], after: [0, 0, 0],
            kernelWidth: 1)
        // The narrow tiles read each position's own row and nothing past a sample.
        padded.readsInPlaceWhenUnpadded = true
        let g = dk_conv_geometry(
            hp: output[1], wp: output[2], output: output, kernel: [1, 1, 1], cin: inChannels, cout: outChannels)
        // The kernel transposed, wt[co][ci] (conv_narrow.c).
        let transposed = UnsafeMutablePointer<Float>.allocate(capacity: inChannels * outChannels)
        defer { transposed.deallocate() }
        for co in 0..<outChannels {
            for ci in 0..<inChannels {
                (transposed + co * inChannels + ci).initialize(to: pass.weight[ci * outChannels + co])
            }
        }
        forwardTasks(
            g, padded: padded, weight: transposed, bias: pass.bias, y: y, outputSample: outputPixels * outChannels,
            workers: workers, narrow: true)
    }
}
