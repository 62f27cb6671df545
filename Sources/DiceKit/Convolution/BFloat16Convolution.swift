// The bfloat16 path of a lowered pass (ConvEngine.swift hooks it in before the Float direct
// path): Float convolutions with `ConvolutionSettings.precision == .bfloat16` that the direct
// kernels take (DirectConvolution.swift) and whose input channels are a multiple of 16 run on
// the AVX512-BF16 kernels of Sources/CDiceKitKernels/convolution/conv_bf16.c: operands rounded to
// bfloat16 (to nearest, ties to even), products accumulated in Float, results in Float.
//
//   forward          y  = conv(pad(x)₁₆, W₁₆) (+ bias)
//   input gradient   dx = conv(pad'(dy)₁₆, W'₁₆) (+ dxFill), the flipped kernel as in the Float path
//   weight gradient  dW = Σ pad(x)₁₆ patches ⊗ dy₁₆, reduced over pairs of output positions
//   bias gradient    db = Σ dy rows, in Float
//
// Error bound (tests/BFloat16ConvolutionTests): each operand carries a relative error ≤ u = 2⁻⁸,
// so a product ≤ (2u + u²)|a||b|, and the Float accumulation of a length-K reduction adds
// ≤ K·2⁻²⁴·Σ|a||b|: |y − y_exact| ≤ (2u + u² + K·2⁻²⁴)·Σ|a||b|.
//
// Work split: the batch is padded and rounded whole (in parallel over samples); the forward
// passes deal (sample, chunk of positions) tasks, the weight gradient (range of kernel rows,
// block of 64 output channels) tasks over the whole batch, so every output element is written by
// one task in an order fixed by the geometry: the same bits on every run and for every worker
// count.

internal import CDiceKitKernels

extension ConvGeometry {
    /// Whether `pass` runs on the bfloat16 kernels: precision `.bfloat16`, a CPU with a bfloat16
    /// level in use, a pass the Float direct kernels take, and input channels in multiples of 16.
    func runsBFloat16<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) -> Bool {
        guard settings.precision == .bfloat16, T.precision == .single, inChannels % directChannelMultiple == 0,
            ComputePrecision.bfloat16Available
        else { return false }
        return runsDirect(T.self, inputGradient: pass.dx != nil, settings: settings)
    }

    /// Runs a pass that `runsBFloat16` accepted.
    func runBFloat16(_ pass: LoweredPass<Float>, settings: ConvolutionSettings) {
        let workers = Swift.max(1, settings.workers ?? Parallelism.threadCount)
        if let x = pass.x, pass.y != nil || pass.weightGradient != nil {
            let padded = PaddedSource(
                source: x, batch: batch, inner: input, channels: inChannels,
                before: padBefore, after: padAfter, kernelWidth: kernel[2])
            let g = bfloat16Geometry(padded, output: output, cin: inChannels, cout: outChannels)
            padded.withBFloat16Batch(workers: workers) { xp in
                if let y = pass.y {
                    let packed = packWeight(g, pass.weight)
                    defer { packed.deallocate() }
                    bfloat16Forward(
                        g, padded: padded, xp: xp, weight: packed, bias: pass.bias, y: y,
                        outputSample: outputPixels * outChannels, workers: workers)
                }
                if let dW = pass.weightGradient, let dy = pass.dy {
                    bfloat16WeightGradient(g, padded: padded, xp: xp, dy: dy, dW: dW, workers: workers)
                }
            }
        }
        if let db = pass.biasGradient, let dy = pass.dy {
            db.update(repeating: 0, count: outChannels)
            addRows(dy, count: outputRows * outChannels, into: db, width: outChannels)
        }
        if let dx = pass.dx, let dy = pass.dy {
            let padded = PaddedSource(
                source: dy, batch: batch, inner: output, channels: outChannels,
                before: (0..<3).map { kernel[$0] - 1 - padBefore[$0] },
                after: (0..<3).map { kernel[$0] - 1 - padAfter[$0] }, kernelWidth: kernel[2])
            let weightCount = patch * outChannels
            let taps = kernelVolume
            let flipped = UnsafeMutablePointer<Float>.allocate(capacity: weightCount)
            defer { flipped.deallocate() }
            for t in 0..<taps {
                let source = pass.weight + (taps - 1 - t) * inChannels * outChannels
                let target = flipped + t * outChannels * inChannels
                for co in 0..<outChannels {
                    for ci in 0..<inChannels {
                        (target + co * inChannels + ci).initialize(to: source[ci * outChannels + co])
                    }
                }
            }
            let g = bfloat16Geometry(padded, output: input, cin: outChannels, cout: inChannels)
            let packed = packWeight(g, flipped)
            defer { packed.deallocate() }
            padded.withBFloat16Batch(workers: workers) { dyp in
                bfloat16Forward(
                    g, padded: padded, xp: dyp, weight: packed, bias: pass.dxFill, y: dx,
                    outputSample: inputPixels * inChannels, workers: workers)
            }
        }
    }

    private func bfloat16Geometry(_ padded: PaddedSource, output: [Int], cin: Int, cout: Int) -> dk_conv_geometry {
        dk_conv_geometry(
            hp: padded.extents[1], wp: padded.extents[2], od: output[0], oh: output[1], ow: output[2],
            kd: Int32(kernel[0]), kh: Int32(kernel[1]), kw: Int32(kernel[2]), cin: Int32(cin), cout: Int32(cout),
            weight_block: 0, relu: 0)
    }

    /// The kernel [kd·kh·kw·cin, cout] as bfloat16 row pairs (dk_bf16_pack_weight); the caller deallocates.
    private func packWeight(_ g: dk_conv_geometry, _ weight: UnsafePointer<Float>) -> UnsafeMutablePointer<UInt16> {
        let count = Int(g.kd * g.kh * g.kw * g.cin * g.cout)
        let packed = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
        withUnsafePointer(to: g) { dk_bf16_pack_weight($0, weight, packed) }
        return packed
    }

    /// y = conv over the batch in (sample, chunk of up to 3072 positions) tasks, dealt to the workers.
    private func bfloat16Forward(
        _ g: dk_conv_geometry, padded: PaddedSource, xp: UnsafePointer<UInt16>,
        weight: UnsafePointer<UInt16>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
        outputSample: Int, workers: Int
    ) {
        let positions = g.od * g.oh * g.ow
        // A multiple of every tile height (16, 12, 8, 6).
        let chunk = Swift.max(48, Swift.min(3072, (positions + 47) / 48 * 48))
        let chunks = (positions + chunk - 1) / chunk
        let tasks = batch * chunks
        let count = Swift.min(workers, tasks)
        withUnsafePointer(to: g) { gp in
            // Each task writes its own output positions of one sample.
            let shared = TaskShared((gp, xp, padded, weight, bias, y))
            runWorkers(count) { worker in
                let (gp, xp, padded, weight, bias, y) = shared.buffers
                for task in Swift.stride(from: worker, to: tasks, by: count) {
                    let (n, c) = (task / chunks, task % chunks)
                    let q0 = c * chunk
                    dk_conv_forward_bf16(
                        gp, xp + n * padded.sampleCount, weight, bias, y + n * outputSample, q0,
                        Swift.min(positions, q0 + chunk))
                }
            }
        }
    }

    /// dW = Σ over the batch, in (segment, 64-channel block) tasks over pair-packed copies.
    private func bfloat16WeightGradient(
        _ g: dk_conv_geometry, padded: PaddedSource, xp: UnsafePointer<UInt16>,
        dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>, workers: Int
    ) {
        let positions = padded.sampleCount / inChannels
        let xqStride = 2 * padded.sampleCount
        let half = (g.ow + 1) / 2
        let dyStride = g.od * g.oh * half * outChannels * 2
        let xq = UnsafeMutablePointer<UInt16>.allocate(capacity: batch * xqStride)
        let dyp = UnsafeMutablePointer<UInt16>.allocate(capacity: batch * dyStride)
        defer {
            xq.deallocate()
            dyp.deallocate()
        }
        let ySample = outputPixels * outChannels
        let samplesPerWorker = Swift.min(workers, batch)
        let (batch, patch, outChannels) = (self.batch, self.patch, self.outChannels)
        withUnsafePointer(to: g) { gp in
            // Each worker packs its own samples; then each task writes its own block of dW.
            let shared = TaskShared((gp, xp, padded, xq, dy, dyp, dW))
            runWorkers(samplesPerWorker) { worker in
                let (gp, xp, padded, xq, dy, dyp, _) = shared.buffers
                for n in Swift.stride(from: worker, to: batch, by: samplesPerWorker) {
                    dk_bf16_pack_pairs(gp, xp + n * padded.sampleCount, xq + n * xqStride, positions)
                    dk_bf16_pack_gradient(gp, dy + n * ySample, dyp + n * dyStride)
                }
            }
            dW.update(repeating: 0, count: patch * outChannels)
            // Tasks: (range of kernel rows in multiples of 16, block of 64 output channels), about
            // one per worker and of equal size; each streams the batch once and owns its part of dW.
            let block = Int(DK_CONV_CHANNEL_BLOCK)
            let rowBlocks = patch / 16
            let blocks = (outChannels + block - 1) / block
            let groups = Swift.min(rowBlocks, Swift.max(1, (workers + blocks - 1) / blocks))
            let tasks = groups * blocks
            let count = Swift.min(workers, tasks)
            runWorkers(count) { worker in
                let (gp, _, _, xq, _, dyp, dW) = shared.buffers
                for task in Swift.stride(from: worker, to: tasks, by: count) {
                    let (group, c) = (task / blocks, task % blocks)
                    dk_conv_weight_grad_bf16(
                        gp, xq, xqStride, dyp, dyStride, batch, dW,
                        16 * (rowBlocks * group / groups), 16 * (rowBlocks * (group + 1) / groups),
                        Int32(c * block), Int32(Swift.min(outChannels, (c + 1) * block)))
                }
            }
        }
    }
}

extension PaddedSource {
    /// Calls `body` with the whole batch padded and rounded to bfloat16 (samples `sampleCount`
    /// apart, then zeroed slack), padded in parallel over samples; freed on return.
    func withBFloat16Batch(workers: Int, _ body: (UnsafePointer<UInt16>) -> Void) {
        let whole = UnsafeMutablePointer<UInt16>.allocate(capacity: batch * sampleCount + slack)
        defer { whole.deallocate() }
        (whole + batch * sampleCount).initialize(repeating: 0, count: slack)
        let count = Swift.min(workers, batch)
        // Each worker rounds its own samples.
        let shared = TaskShared((self, whole))
        runWorkers(count) { worker in
            let (source, whole) = shared.buffers
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: source.sampleCount)
            defer { buffer.deallocate() }
            for n in Swift.stride(from: worker, to: source.batch, by: count) {
                source.pad(sample: n, into: buffer)
                dk_f32_to_bf16(buffer, whole + n * source.sampleCount, source.sampleCount)
            }
        }
        body(UnsafePointer(whole))
    }
}
