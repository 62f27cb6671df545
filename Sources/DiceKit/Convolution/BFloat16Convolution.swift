// The bfloat16 path of a lowered pass (ConvEngine.swift hooks it in before the Float direct
// path): Float convolutions with `ConvolutionSettings.precision == .bfloat16` that the direct
// kernels take (DirectConvolution.swift) and whose input channels are a multiple of 16 run on
// the AVX512-BF16 kernels of Sources/CDiceKitKernels/convolution/conv_bf16.c (the dot-product
// arithmetic) or, with the tile arithmetic, on the AMX kernels of conv_amx.c (the weight gradient:
// BFloat16TileWeightGradient.swift): operands rounded to bfloat16 (to nearest, ties to even),
// products accumulated in Float, results in Float. The work split below is the dot products'; the
// tile forward passes share it.
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
// The kernel is packed to bfloat16 once per kernel value (forward and flipped packings, kept by
// the convolution's BFloat16WeightCache), and an evaluation-mode ReLU is applied by the forward
// kernel's stores (`rectifies`), so inference reads the kernel once and the output once.
//
// Work split: the forward passes (forward, input gradient) with at least two samples per worker
// let each worker round its own samples into a padded buffer that stays in cache while it is
// read; otherwise (sample, chunk of positions) tasks are dealt out, each rounding just the padded
// rows its chunk reads into its worker's window (`PaddedSource.forEachWindow`). The weight
// gradient of two output planes or more over the batch (samples × planes: two images, or one
// volume) with at least as many positions per sample as kernel rows runs min(planes, 8) partial
// sums over fixed runs of planes, each in bands of lines packed while in cache, added in order
// at the end; other shapes run (range of kernel rows, block of 64 output channels) tasks over the
// whole batch rounded at once, in tiles of 6 rows × 64 channels, each tile running through a
// group of samples with its sums in registers (or, for samples larger than L2 holds, through
// one sample's chunks of lines at a time). What each holds counts against the workspace bound
// (`ConvGeometry.bfloat16Workspace`).
// Every output element is written by one task in an order fixed by the geometry and the
// batch: the same bits on every run and for every worker count.

internal import CDiceKitKernels

extension ConvGeometry {
    /// Whether `pass` runs on the bfloat16 kernels: precision `.bfloat16`, a CPU with a bfloat16
    /// level in use, a pass the direct kernels take (with the copies of the kernels in use, the
    /// dot-product or tile kernels' or, with rounded operands, the Float ones, counted against the
    /// workspace bound), and input channels in multiples of 16.
    func runsBFloat16<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) -> Bool {
        guard settings.precision == .bfloat16, T.precision == .single, inChannels % directChannelMultiple == 0,
            stride == [1, 1, 1], ComputePrecision.bfloat16Available
        else { return false }
        let arithmetic = BFloat16Arithmetic.current
        return runsDirect(
            pass, settings: settings,
            kernels: arithmetic == .roundedOperands ? .float : .bfloat16(tiles: arithmetic == .tiles))
    }

    /// Runs a pass that `runsBFloat16` accepted: on the AMX tile kernels with `tiles`
    /// (BFloat16TileWeightGradient.swift for the weight gradient), else on the AVX512-BF16 ones.
    func runBFloat16(_ pass: LoweredPass<Float>, settings: ConvolutionSettings, tiles: Bool = false) {
        let workers = Swift.max(1, settings.workers ?? Parallelism.threadCount)
        let cache = pass.bfloat16Weights ?? BFloat16WeightCache()
        if pass.x != nil || pass.xRounded != nil, pass.y != nil || pass.yRounded != nil || pass.weightGradient != nil {
            var padded =
                if let parts = pass.xParts {
                    PaddedSource(
                        parts: parts, batch: batch, inner: input, before: padBefore, after: padAfter,
                        kernelWidth: kernel[2])
                } else if let x = pass.x {
                    PaddedSource(
                        source: x, batch: batch, inner: input, channels: inChannels,
                        before: padBefore, after: padAfter, kernelWidth: kernel[2])
                } else {
                    PaddedSource(
                        rounded: pass.xRounded!, batch: batch, inner: input, channels: inChannels,
                        before: padBefore, after: padAfter, kernelWidth: kernel[2])
                }
            padded.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<UInt16>.size)
            var g = bfloat16Geometry(padded, output: output, cin: inChannels, cout: outChannels)
            g.relu = pass.rectifies ? 1 : 0
            if let y = pass.y.map(UnsafeMutableRawPointer.init) ?? pass.yRounded.map(UnsafeMutableRawPointer.init) {
                // Float values, or their bfloat16 bits (round_output).
                g.round_output = pass.yRounded != nil ? 1 : 0
                let scalarSize = pass.yRounded != nil ? MemoryLayout<UInt16>.size : MemoryLayout<Float>.size
                var channels = outChannels
                if let head = pass.head {
                    // `forwardFusesHead` (`runConcrete` checks it): the logits instead of y.
                    g.head_classes = Int32(head.classes)
                    g.head_weight = UInt(bitPattern: head.weight)
                    g.head_bias = UInt(bitPattern: head.bias)
                    channels = head.classes
                }
                // Winograd with bfloat16 products where the channels repay it (BFloat16Winograd.swift).
                if tiles || pass.head != nil
                    || !bfloat16WinogradForward(
                        g, padded: padded, pass: pass, y: y, workers: workers, settings: settings)
                {
                    let packed = packedWeight(
                        g, pass.weight, cache: cache, packing: .init(flipped: false, tiles: tiles), workers: workers)
                    packed.withUnsafeBufferPointer { wp in
                        bfloat16Forward(
                            g, padded: padded, weight: wp.baseAddress!, bias: pass.bias, y: y,
                            outputSampleBytes: outputPixels * channels * scalarSize, workers: workers, tiles: tiles)
                    }
                }
            }
            if let dW = pass.weightGradient, let dy = pass.dy {
                if tiles {
                    tileWeightGradient(
                        g, padded: padded, dy: dy, dW: dW, workers: workers, limit: settings.workspaceLimit)
                } else if bfloat16WinogradWeightGradient(
                    g, padded: padded, dy: dy, dW: dW, workers: workers, settings: settings)
                {
                    // Winograd with bfloat16 products where the channels repay it (BFloat16Winograd.swift).
                } else if runsBandedWeightGradient {
                    bfloat16WeightGradientInBands(g, padded: padded, dy: dy, dW: dW, workers: workers)
                } else {
                    padded.withBFloat16Batch(workers: workers) { xp in
                        bfloat16WeightGradient(g, padded: padded, xp: xp, dy: dy, dW: dW, workers: workers)
                    }
                }
            }
        }
        if let db = pass.biasGradient, let dy = pass.dy {
            db.update(repeating: 0, count: outChannels)
            addChannelRows(dy, count: outputRows * outChannels, into: db, width: outChannels)
        }
        if let dx = pass.dx, let dy = pass.dy {
            var padded = PaddedSource(
                source: dy, batch: batch, inner: output, channels: outChannels,
                before: (0..<3).map { kernel[$0] - 1 - padBefore[$0] },
                after: (0..<3).map { kernel[$0] - 1 - padAfter[$0] }, kernelWidth: kernel[2])
            padded.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<UInt16>.size)
            var g = bfloat16Geometry(padded, output: input, cin: outChannels, cout: inChannels)
            var sampleChannels = inChannels
            if let second = pass.dxSecond {
                // Two parts of Cin / 2 channels: the stores route each 16 channels to theirs.
                sampleChannels = inChannels / 2
                g.cout_a = Int32(sampleChannels)
                g.yb_offset = (Int(bitPattern: second) - Int(bitPattern: dx)) / MemoryLayout<Float>.stride
            }
            // The flipped, transposed kernel (or its transform) is made from the forward geometry's weight.
            let forward = bfloat16Geometry(padded, output: output, cin: inChannels, cout: outChannels)
            if !tiles
                && bfloat16WinogradInputGradient(
                    g, forward: forward, padded: padded, pass: pass, dx: dx, sampleChannels: sampleChannels,
                    workers: workers, settings: settings)
            {
                return
            }
            let packed = packedWeight(
                forward, pass.weight, cache: cache, packing: .init(flipped: true, tiles: tiles), workers: workers)
            packed.withUnsafeBufferPointer { wp in
                bfloat16Forward(
                    g, padded: padded, weight: wp.baseAddress!, bias: pass.dxFill, y: dx,
                    outputSampleBytes: inputPixels * sampleChannels * MemoryLayout<Float>.size, workers: workers,
                    tiles: tiles)
            }
        }
    }

    private func bfloat16Geometry(_ padded: PaddedSource, output: [Int], cin: Int, cout: Int) -> dk_conv_geometry {
        var g = dk_conv_geometry(
            hp: padded.extents[1], wp: padded.extents[2], output: output, kernel: kernel, cin: cin, cout: cout)
        // The tile forward pass groups its output channels by it (conv_amx_kernel.h).
        g.weight_block = ConvBlocking.current.weightBlock
        return g
    }

    /// The kernel [kd·kh·kw·cin, cout] of forward geometry `g` as bfloat16 row pairs
    /// (dk_bf16_pack_weight), its flipped, transposed form (dk_bf16_pack_weight_flipped), or
    /// either in the tile kernels' blocks (dk_bf16_pack_weight_tiles), as `cache` keeps it: made
    /// from the cache's kernel in PyTorch's layout when it has one (`weight` is then not read),
    /// else from `weight`.
    private func packedWeight(
        _ g: dk_conv_geometry, _ weight: UnsafePointer<Float>, cache: BFloat16WeightCache,
        packing: BFloat16WeightCache.Packing, workers: Int
    ) -> [UInt16] {
        cache.packed(packing, count: Int(g.kd * g.kh * g.kw * g.cin * g.cout)) { packed in
            withUnsafePointer(to: g) { gp in
                if let kernel = cache.pyTorchKernel {
                    kernel.withUnsafeBufferPointer {
                        packing.pack(gp, $0.baseAddress!, pyTorchLayout: true, into: packed, workers: workers)
                    }
                } else {
                    packing.pack(gp, weight, into: packed, workers: workers)
                }
            }
        }
    }

    /// y = conv over the batch: with at least two samples per worker, worker w rounds samples
    /// w, w + workers, … into its own padded buffer, which stays in cache while every chunk of
    /// the sample reads it; with fewer, the batch is rounded whole and (sample, chunk) tasks are
    /// dealt out (`bfloat16ForwardTasks`). Every output element is the same sum either way.
    /// `y` holds Floats, or bfloat16 bits with `g.round_output`; its samples `outputSampleBytes` apart.
    func bfloat16Forward(
        _ g: dk_conv_geometry, padded: PaddedSource, weight: UnsafePointer<UInt16>, bias: UnsafePointer<Float>?,
        y: UnsafeMutableRawPointer, outputSampleBytes: Int, workers: Int, tiles: Bool
    ) {
        guard batch >= 2 * workers && padded.holdsWholeSamples else {
            bfloat16ForwardTasks(
                g, padded: padded, weight: weight, bias: bias, y: y, outputSampleBytes: outputSampleBytes,
                workers: workers, tiles: tiles)
            return
        }
        let positions = g.od * g.oh * g.ow
        let chunk = Self.bfloat16Chunk(positions)
        withUnsafePointer(to: g) { gp in
            // Each worker rounds its own samples into its own buffer and writes their outputs.
            let shared = TaskShared((gp, padded, weight, bias, y))
            runWorkers(workers) { worker in
                let (gp, padded, weight, bias, y) = shared.buffers
                let buffer = UnsafeMutablePointer<UInt16>.allocate(capacity: padded.sampleCount + padded.slack)
                defer { buffer.deallocate() }
                (buffer + padded.sampleCount).initialize(repeating: 0, count: padded.slack)
                for n in Swift.stride(from: worker, to: padded.batch, by: workers) {
                    padded.padBFloat16(sample: n, into: buffer)
                    for q0 in Swift.stride(from: 0, to: positions, by: chunk) {
                        runBFloat16ForwardKernel(
                            tiles, gp, buffer, weight, bias, y + n * outputSampleBytes, q0,
                            Swift.min(positions, q0 + chunk))
                    }
                }
            }
        }
    }

    /// Output positions per forward task: a multiple of every tile height (16, 12, 8, 6), at most 3072.
    private static func bfloat16Chunk(_ positions: Int) -> Int {
        Swift.max(48, Swift.min(3072, (positions + 47) / 48 * 48))
    }

    /// y = conv over the batch in (sample, chunk of up to 3072 positions) tasks dealt to the
    /// workers, the chunks cut for them (`ConvBlocking.bfloat16TaskChunk`): each task rounds just
    /// the padded rows its chunk reads into its worker's window (`PaddedSource.forEachWindow`),
    /// so nothing batch-sized is made.
    private func bfloat16ForwardTasks(
        _ g: dk_conv_geometry, padded: PaddedSource, weight: UnsafePointer<UInt16>, bias: UnsafePointer<Float>?,
        y: UnsafeMutableRawPointer, outputSampleBytes: Int, workers: Int, tiles: Bool
    ) {
        let positions = g.od * g.oh * g.ow
        // Cut so that every worker gets an equal share, in whole tiles.
        let chunk = ConvBlocking.bfloat16TaskChunk(
            outChannels: Int(g.cout), positions: positions, tiles: tiles, batch: batch, workers: workers)
        let (rowsRead, firstRow) = Self.forwardRows(g, positions: positions, chunk: chunk)
        withUnsafePointer(to: g) { gp in
            // Each task writes its own output positions of one sample.
            let shared = TaskShared((gp, weight, bias, y))
            padded.forEachWindow(
                of: UInt16.self, chunks: (positions + chunk - 1) / chunk, workers: workers, rowsRead: rowsRead,
                firstRow: firstRow, runs: Self.forwardRuns(g, positions: positions, chunk: chunk),
                pad: { $0.padBFloat16(sample: $1, rows: $2, into: $3) }
            ) { _, n, sample, c in
                let (gp, weight, bias, y) = shared.buffers
                runBFloat16ForwardKernel(
                    tiles, gp, sample, weight, bias, y + n * outputSampleBytes, c * chunk,
                    Swift.min(positions, c * chunk + chunk))
            }
        }
    }

    /// Whether the weight gradient runs in bands of lines (`bfloat16WeightGradientInBands`): at
    /// least two output planes over the batch (two samples, or one volume), and at least as many
    /// output positions per sample as kernel rows (in small images the whole batch is small, and
    /// per-partial accumulators would not pay). Decided from the geometry alone, so the bits do
    /// not depend on the worker count.
    var runsBandedWeightGradient: Bool {
        batch * output[0] >= 2 && outputPixels >= patch
    }

    /// dW = Σ over the batch's output planes (samples × planes, in order: a 2-D sample is one) in
    /// `min(planes, 8)` partial sums over fixed runs of them, dealt to the workers and added in
    /// order at the end (so the bits depend on the geometry only). A partial goes through its
    /// planes in bands of output lines whose pair-packed input (the kernel's planes of the band's
    /// rows, an eighth of L2: `bandLines`) and packed gradient are made just before the kernel
    /// reads them, while they are in cache: no batch-sized bfloat16 copy, and each Float input
    /// read once per kernel plane.
    private func bfloat16WeightGradientInBands(
        _ g: dk_conv_geometry, padded: PaddedSource, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>,
        workers: Int
    ) {
        let (weightCount, patch, outChannels) = (self.patch * self.outChannels, self.patch, self.outChannels)
        let (od, oh, ow, kd, kh, wp, cin) = (g.od, g.oh, g.ow, Int(g.kd), Int(g.kh), g.wp, inChannels)
        let bandLines = Self.bandLines(
            paddedWidth: wp, channels: cin, planes: kd, kernelRows: kh, lines: oh)
        let half = (ow + 1) / 2
        let planes = batch * od
        let partials = Swift.min(planes, 8)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: partials * weightCount)
        sums.initialize(repeating: 0, count: partials * weightCount)
        defer { sums.deallocate() }
        let ySample = outputPixels * outChannels
        let count = Swift.min(workers, partials)
        withUnsafePointer(to: g) { gp in
            // Each partial writes its own accumulator in `sums`; its worker owns its band buffers.
            let shared = TaskShared((gp, padded, dy, sums))
            runWorkers(count) { worker in
                let (gp, padded, dy, sums) = shared.buffers
                let rows = kd * (bandLines + kh - 1)
                let xp = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * wp * cin)
                let xq = UnsafeMutablePointer<UInt16>.allocate(capacity: 2 * rows * wp * cin)
                let dyp = UnsafeMutablePointer<UInt16>.allocate(capacity: bandLines * half * outChannels * 2)
                defer {
                    xp.deallocate()
                    xq.deallocate()
                    dyp.deallocate()
                }
                for p in Swift.stride(from: worker, to: partials, by: count) {
                    let accumulator = sums + p * weightCount
                    for plane in (planes * p / partials)..<(planes * (p + 1) / partials) {
                        let (n, z) = (plane / od, plane % od)
                        for l0 in Swift.stride(from: 0, to: oh, by: bandLines) {
                            let lines = Swift.min(bandLines, oh - l0)
                            // The band's geometry: one plane of its lines, and the padded rows
                            // of the kd planes they read.
                            var band = gp.pointee
                            band.od = 1
                            band.oh = lines
                            band.hp = lines + kh - 1
                            padded.padBFloat16(
                                sample: n, planes: z..<(z + kd), rows: l0..<(l0 + band.hp), into: xp)
                            withUnsafePointer(to: band) { bp in
                                dk_bf16_pack_pairs(bp, xp, xq, kd * band.hp * wp)
                                dk_bf16_pack_gradient(
                                    bp, dy + n * ySample + (z * oh + l0) * ow * outChannels, dyp)
                                dk_conv_weight_grad_bf16(
                                    bp, xq, 0, dyp, 0, 1, accumulator, 0, patch, 0, Int32(outChannels), 1)
                            }
                        }
                    }
                }
            }
        }
        dW.update(from: sums, count: weightCount)
        for p in 1..<partials { addElements(sums + p * weightCount, dW, weightCount) }
    }

    /// Output lines per band of the banded weight gradient: as many as keep the band's
    /// pair-packed input (`planes` kernel planes of lines + kernelRows − 1 rows of `paddedWidth`
    /// positions, a pair of bfloat16 per channel: 4 bytes) within `budget`
    /// (`ConvBlocking.bfloat16BandBytes`, an eighth of L2), at least one, at most `lines`.
    static func bandLines(
        paddedWidth: Int, channels: Int, planes: Int, kernelRows: Int, lines: Int,
        budget: Int = ConvBlocking.current.bfloat16BandBytes
    ) -> Int {
        let rowBytes = paddedWidth * channels * 2 * MemoryLayout<UInt16>.size
        return Swift.max(1, Swift.min(lines, budget / (rowBytes * planes) - (kernelRows - 1)))
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
        let batch = self.batch
        withUnsafePointer(to: g) { gp in
            // Each worker packs its own samples; then each task writes its own block of dW.
            let shared = TaskShared((gp, xp, padded, xq, dy, dyp))
            runWorkers(samplesPerWorker) { worker in
                let (gp, xp, padded, xq, dy, dyp) = shared.buffers
                for n in Swift.stride(from: worker, to: batch, by: samplesPerWorker) {
                    dk_bf16_pack_pairs(gp, xp + n * padded.sampleCount, xq + n * xqStride, positions)
                    dk_bf16_pack_gradient(gp, dy + n * ySample, dyp + n * dyStride)
                }
            }
            bfloat16WeightGradientTasks(
                gp, xq: xq, xqStride: xqStride, dyp: dyp, dyStride: dyStride, samples: batch, dW: dW, workers: workers)
        }
    }

    /// dW = Σ over `samples` samples of geometry `gp` (pair-packed inputs `xq`, `xqStride`
    /// elements apart; packed gradients `dyp`, `dyStride` apart), in (range of kernel rows in
    /// multiples of 16, block of 64 output channels) tasks, about one per worker and of equal
    /// size: each streams the samples once and writes its part of dW (no accumulation: dW is not
    /// zeroed first). Each element's sum runs in the kernel's order whatever the task.
    func bfloat16WeightGradientTasks(
        _ gp: UnsafePointer<dk_conv_geometry>, xq: UnsafePointer<UInt16>, xqStride: Int, dyp: UnsafePointer<UInt16>,
        dyStride: Int, samples: Int, dW: UnsafeMutablePointer<Float>, workers: Int
    ) {
        let (patch, outChannels) = (self.patch, self.outChannels)
        let block = Int(DK_CONV_CHANNEL_BLOCK)
        let rowBlocks = patch / 16
        let blocks = (outChannels + block - 1) / block
        let groups = Swift.min(rowBlocks, Swift.max(1, (workers + blocks - 1) / blocks))
        let tasks = groups * blocks
        let count = Swift.min(workers, tasks)
        let shared = TaskShared((gp, xq, dyp, dW))
        runWorkers(count) { worker in
            let (gp, xq, dyp, dW) = shared.buffers
            for task in Swift.stride(from: worker, to: tasks, by: count) {
                let (group, c) = (task / blocks, task % blocks)
                dk_conv_weight_grad_bf16(
                    gp, xq, xqStride, dyp, dyStride, samples, dW,
                    16 * (rowBlocks * group / groups), 16 * (rowBlocks * (group + 1) / groups),
                    Int32(c * block), Int32(Swift.min(outChannels, (c + 1) * block)), 0)
            }
        }
    }
}

/// Output positions [q0, q1) of one sample's forward pass (dk_conv_forward_bf16's arguments: `y`
/// holds Floats, or bfloat16 bits with `round_output`) on the AMX tile kernel
/// (dk_conv_forward_tiles, `weight` in its packing) with `tiles`, else on the AVX512-BF16 kernel.
func runBFloat16ForwardKernel(
    _ tiles: Bool, _ g: UnsafePointer<dk_conv_geometry>, _ xp: UnsafePointer<UInt16>, _ weight: UnsafePointer<UInt16>,
    _ bias: UnsafePointer<Float>?, _ y: UnsafeMutableRawPointer, _ q0: Int, _ q1: Int
) {
    if tiles {
        dk_conv_forward_tiles(g, xp, weight, bias, y, q0, q1)
    } else {
        dk_conv_forward_bf16(g, xp, weight, bias, y, q0, q1)
    }
}

extension PaddedSource {
    /// Writes sample n, padded and rounded to bfloat16, to `target` (`sampleCount` elements; the
    /// slack is not touched): one rounding pass per row (a copy of the bits, for an input given
    /// as `rounded`; the parts' channels joined position by position, for a concatenation),
    /// zeros around it.
    func padBFloat16(sample n: Int, into target: UnsafeMutablePointer<UInt16>) {
        padBFloat16(sample: n, planes: 0..<extents[0], rows: 0..<extents[1], into: target)
    }

    /// Writes padded rows `rows` (counted over planes and rows: plane·extents[1] + row) of sample
    /// n, rounded to bfloat16, to their places in `target`, a padded sample (as `pad(sample:rows:into:)`).
    func padBFloat16(sample n: Int, rows: Range<Int>, into target: UnsafeMutablePointer<UInt16>) {
        let rowLength = extents[2] * channels
        for r in rows {
            padBFloat16(sample: n, plane: r / extents[1], row: r % extents[1], into: target + r * rowLength)
        }
    }

    /// Writes padded rows `rows` of padded planes `planes` of sample n, rounded to bfloat16, to
    /// `target`, one after the other (planes.count × rows.count × padded width × channels
    /// elements): the input a band of output lines reads.
    func padBFloat16(sample n: Int, planes: Range<Int>, rows: Range<Int>, into target: UnsafeMutablePointer<UInt16>) {
        var p = target
        for z in planes {
            for y in rows {
                padBFloat16(sample: n, plane: z, row: y, into: p)
                p += extents[2] * channels
            }
        }
    }

    /// Writes padded row `y` of padded plane `z` of sample n, rounded to bfloat16, to `target`.
    private func padBFloat16(sample n: Int, plane z: Int, row y: Int, into target: UnsafeMutablePointer<UInt16>) {
        let rowLength = inner[2] * channels
        let (sz, sy) = (z - before[0], y - before[1])
        guard sz >= 0, sz < inner[0], sy >= 0, sy < inner[1] else {
            target.initialize(repeating: 0, count: extents[2] * channels)
            return
        }
        target.initialize(repeating: 0, count: before[2] * channels)
        let row = (n * inner[0] * inner[1] + sz * inner[1] + sy) * rowLength
        let values = target + before[2] * channels
        if let rounded = rounded {
            values.initialize(from: rounded + row, count: rowLength)
        } else if parts.count == 1 {
            dk_f32_to_bf16(parts[0].source + row, values, rowLength)
        } else {
            let first = row / channels
            roundJoining(parts, positions: first..<(first + inner[2]), channels: channels, into: values)
        }
        (values + rowLength).initialize(repeating: 0, count: after[2] * channels)
    }

    /// Calls `body` with the whole batch padded and rounded to bfloat16 (samples `sampleCount`
    /// apart, then zeroed slack), padded in parallel over samples; freed on return.
    func withBFloat16Batch(workers: Int, _ body: (UnsafePointer<UInt16>) -> Void) {
        withWholeBatch(of: UInt16.self, workers: workers, pad: { $0.padBFloat16(sample: $1, into: $2) }, body)
    }
}
