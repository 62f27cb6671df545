// The direct path of a lowered pass (ConvEngine.swift): Float convolutions with stride 1, no
// dilation, one group and channels that are multiples of 16 run on the AVX-512 or AVX2 kernels
// of Sources/CDiceKitKernels/convolution/conv_avx512.c and conv_avx2.c (the level in use picks
// one)
// instead of im2col + GEMM, with block and chunk sizes from the CPU's caches (ConvBlocking.swift); so does a pass
// whose kernel width × input channels is a multiple of 3 (a first layer on 1 or 3 channels with
// a 3×3 kernel), its input gradient then on the few-channel kernel of conv_narrow.c when there
// are fewer than 16 input channels.
//
//   forward          y  = conv(pad(x), W) (+ bias)
//   weight gradient  dW = Σ over output positions of pad(x) patches ⊗ dy
//   input gradient   dx = conv(pad'(dy), W') (+ dxFill), W'[k′][co][ci] = W[K−1−k′][ci][co],
//                    pad' = kernel − 1 − pad on each side (so the padding may not exceed kernel − 1)
//   bias gradient    db = Σ dy rows
//
// The forward kernels read the kernel packed in 64-channel blocks in a 64-byte aligned buffer
// (dk_conv_pack_weights; the input gradient's flipped kernel is written that way directly).
// The kernels read a zero-padded copy of each sample with regularly spaced rows (the padded-grid
// trick, see conv_avx512.c), or for a stride-1 forward pass over one plain tensor the tensor
// itself plus padded border strips (InPlaceForward.swift). With at least two samples per
// worker, worker w takes samples w, w + workers, … and pads each into its own buffer, reused
// while it is in cache; with fewer, the batch is padded whole and (sample, position chunk)
// tasks are dealt out the same way. Each worker owns a weight- and bias-gradient accumulator,
// summed at the end in worker order: the assignment is fixed by the worker count, so the sums
// are the same bits on every run.

internal import CDiceKitKernels

extension ConvGeometry {
    /// Whether the direct kernels may run: the level in use (`InstructionSet.current`, which
    /// `KernelDispatch.force` may lower) is AVX2 or AVX-512.
    static var directKernelsAvailable: Bool { dk_conv_direct_enabled() != 0 }

    /// Whether `pass` runs on the direct kernels (see the file comment for the conditions), or
    /// with `kernels` `.bfloat16` on the bfloat16 ones, whose copies are counted as theirs.
    func runsDirect<T: BLASScalar>(
        _ pass: LoweredPass<T>, settings: ConvolutionSettings, kernels: DirectKernels = .float
    ) -> Bool {
        // A forward pass alone, on an input that the in-place plan reads (one part or two, Float);
        // or a backward pass alone, whose copies of x are for the weight gradient.
        let forwardOnly = pass.y != nil && pass.dy == nil && (pass.xParts?.count ?? 1) <= 2 && pass.xRounded == nil
        return runsDirect(
            T.self, inputGradient: pass.dx != nil, settings: settings, forwardOnly: forwardOnly,
            backwardOnly: pass.y == nil, kernels: kernels)
    }

    /// Whether a Float forward pass may take its input as a channel concatenation of separate
    /// tensors (`LoweredPass.xParts`): it runs on the direct kernels, with Float operands,
    /// rounded ones, or bfloat16 ones (dot products, tiles), whose padded copy joins them.
    func joinsConcatenatedInput(settings: ConvolutionSettings) -> Bool {
        runsDirect(Float.self, inputGradient: false, settings: settings, forwardOnly: true)
    }

    /// The channel multiple of the direct kernels (DK_CONV_CHANNEL_MULTIPLE, 16 floats).
    var directChannelMultiple: Int { Int(DK_CONV_CHANNEL_MULTIPLE) }

    /// Whether a pass over `T` (with or without an input gradient; `forwardOnly`: a forward pass
    /// alone, no output gradient; `backwardOnly`: no forward pass) runs on the direct kernels.
    func runsDirect<T: BLASScalar>(
        _: T.Type, inputGradient: Bool, settings: ConvolutionSettings, forwardOnly: Bool = false,
        backwardOnly: Bool = false, kernels: DirectKernels = .float
    ) -> Bool {
        // Strides above 1 (a strided convolution, or the backward pass of a 2×2 stride-2
        // up-sampling, a convolution of its output gradient) for the forward pass and the weight
        // gradient; the input gradient is a forward pass of stride 1 over the padded dy, or when
        // the kernel tiles the input exactly a scattered 1×1 pass (DirectUpsampling.swift: the
        // forward pass of the up-sampling), which needs input channels in multiples of 16.
        let strided = stride != [1, 1, 1]
        guard settings.allowsDirect, T.precision == .single, Self.directKernelsAvailable, groups == 1,
            !strided || !inputGradient || (tilesExactly && inChannels % directChannelMultiple == 0),
            dilation == [1, 1, 1], !isPointwise, outChannels % directChannelMultiple == 0
        else { return false }
        // Other input channel counts (a first layer on 1 or 3 channels): forward and weight
        // gradient only, with kernel rows in tiles of 3 (kernel width × channels divisible by 3).
        // Their input gradient, a pass with as few output channels, runs on the narrow kernel
        // (conv_narrow.c) when they number fewer than 16.
        let firstLayer = (kernel[2] * inChannels) % 3 == 0 && (!inputGradient || inChannels < directChannelMultiple)
        guard inChannels % directChannelMultiple == 0 || firstLayer else { return false }
        if inputGradient {
            for axis in 0..<3 where padBefore[axis] > kernel[axis] - 1 || padAfter[axis] > kernel[axis] - 1 {
                return false
            }
        }
        // What the pass holds (padded copies, windows of rows or border strips: DirectWorkspace.swift)
        // counts against the same bound as the lowered path's im2col tiles.
        let workers = Swift.max(1, settings.workers ?? Parallelism.threadCount)
        let scalars = directWorkspace(
            inputGradient: inputGradient, workers: workers, settings: settings, forwardOnly: forwardOnly,
            backwardOnly: backwardOnly, kernels: kernels)
        return scalars * MemoryLayout<Float>.stride <= settings.workspaceLimit
    }

    /// Runs a pass that `runsDirect` accepted. With `roundsOperands` (the rounded-operand
    /// bfloat16 arithmetic, whose caller has already rounded `pass.weight`), x and dy are rounded
    /// to bfloat16 as the kernels' copies of them are made, and x may come as its bfloat16 bits
    /// (`pass.xRounded`, a kept activation), widened in those copies; the bias gradient stays the
    /// Float sum of dy. Returns whether the kernels' stores wrote the output's bfloat16 rounding
    /// (`pass.roundsOutput`; not the few-channel input gradient's).
    @discardableResult
    func runDirect(_ pass: LoweredPass<Float>, settings: ConvolutionSettings, roundsOperands: Bool = false) -> Bool {
        let workers = Swift.max(1, settings.workers ?? Parallelism.threadCount)
        let weightCount = patch * outChannels
        // With rounded operands too: the Float path given the rounded input, kernel and dy (the
        // Winograd weight gradient rounds each dy value as its transform reads it).
        let winogradLimit = settings.allowsWinograd ? settings.workspaceLimit : nil
        precondition(pass.xRounded == nil || roundsOperands, "direct pass: x in bfloat16 for a pass in Float")
        if pass.x != nil || pass.xRounded != nil {
            var padded =
                pass.xRounded.map {
                    PaddedSource(
                        rounded: $0, batch: batch, inner: input, channels: inChannels, before: padBefore,
                        after: padAfter, kernelWidth: kernel[2])
                }
                ?? PaddedSource(
                    parts: pass.xParts ?? [ChannelPart(source: pass.x!, channels: inChannels)], batch: batch,
                    inner: input, before: padBefore, after: padAfter, kernelWidth: kernel[2])
            padded.roundsToBFloat16 = roundsOperands && !pass.inputOnBFloat16Grid
            // Strided passes run on per-position tiles only, which read nothing past a sample.
            padded.readsInPlaceWhenUnpadded = stride != [1, 1, 1]
            padded.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<Float>.size)
            var g = directGeometry(
                padded: padded, output: output, kernel: kernel, cin: inChannels, cout: outChannels, stride: stride)
            g.relu = pass.rectifies ? 1 : 0
            g.round_output = pass.roundsOutput ? 1 : 0
            if let y = pass.y {
                withPackedKernel(g, pass, roundsOperands: roundsOperands) { packed in
                    forwardTasks(
                        g, padded: padded, weight: packed, bias: pass.bias, y: y,
                        outputSample: outputPixels * outChannels,
                        workers: workers, inPlace: settings.readsInPlace, winogradLimit: winogradLimit,
                        winogradSplit: settings.winogradSplit, kernelCache: pass.bfloat16Weights,
                        roundedOperands: roundsOperands)
                }
            }
            if let dW = pass.weightGradient, let dy = pass.dy {
                weightGradientTasks(
                    g, padded: padded, dy: dy, dW: dW, db: pass.biasGradient, weightCount: weightCount,
                    roundsDY: roundsOperands, workers: workers, winogradLimit: winogradLimit,
                    winogradSplit: settings.winogradSplit)
            }
        }
        if pass.weightGradient == nil, let db = pass.biasGradient, let dy = pass.dy {
            sumRows(dy, rows: outputRows, channels: outChannels, into: db)
        }
        if let dx = pass.dx, let dy = pass.dy, stride != [1, 1, 1] {
            // An exact tiling (runsDirect): every x pixel takes one value of one dy row.
            scatteredInputGradient(
                weight: pass.weight, dy: dy, fill: pass.dxFill, dx: dx,
                roundsOperands: roundsOperands, dyOnGrid: pass.inputOnBFloat16Grid, roundsOutput: pass.roundsOutput,
                cache: pass.bfloat16Weights, workers: workers)
        } else if let dx = pass.dx, let dy = pass.dy {
            // dy padded by kernel − 1 − pad: a full convolution with the flipped, transposed kernel.
            var padded = PaddedSource(
                source: dy, batch: batch, inner: output, channels: outChannels,
                before: (0..<3).map { kernel[$0] - 1 - padBefore[$0] },
                after: (0..<3).map { kernel[$0] - 1 - padAfter[$0] }, kernelWidth: kernel[2])
            padded.roundsToBFloat16 = roundsOperands && !pass.inputOnBFloat16Grid
            padded.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<Float>.size)
            var g = directGeometry(padded: padded, output: input, kernel: kernel, cin: outChannels, cout: inChannels)
            g.round_output = pass.roundsOutput ? 1 : 0
            var sampleChannels = inChannels
            if let second = pass.dxSecond {
                // Two parts of Cin / 2 channels (`splitsInputGradient`): the stores route each 16
                // channels to theirs.
                sampleChannels = inChannels / 2
                g.cout_a = Int32(sampleChannels)
                g.yb_offset = (Int(bitPattern: second) - Int(bitPattern: dx)) / MemoryLayout<Float>.stride
            }
            if inChannels % directChannelMultiple != 0 {
                narrowInputGradient(
                    g, padded: padded, weight: pass.weight, fill: pass.dxFill, dx: dx, workers: workers,
                    inPlace: settings.readsInPlace)
                return false
            }
            withFlippedKernel(pass, roundsOperands: roundsOperands) { flipped in
                forwardTasks(
                    g, padded: padded, weight: flipped, bias: pass.dxFill, y: dx,
                    outputSample: inputPixels * sampleChannels, workers: workers, inPlace: settings.readsInPlace,
                    winogradLimit: winogradLimit, winogradSplit: settings.winogradSplit,
                    roundedOperands: roundsOperands)
            }
        }
        return pass.roundsOutput
    }

    /// Calls `body` with the flipped, transposed kernel of `pass` (the input gradient's), written
    /// straight into the packed layout of dk_conv_pack_weights (its output channels, our input
    /// channels, in blocks of 64), 16 input channels of one tap per unit, in ranges of units on
    /// the worker pool; of the rounded kernel with `roundsOperands`.
    func withFlippedKernel(
        _ pass: LoweredPass<Float>, roundsOperands: Bool, _ body: (UnsafePointer<Float>) -> Void
    ) {
        let flipped = Self.allocateAligned(patch * outChannels)
        defer { flipped.deallocate() }
        Self.withKernelSource(pass, roundsOperands: roundsOperands) { weight, pyTorch in
            let shared = TaskShared((weight, flipped, kernelVolume, inChannels, outChannels))
            if pyTorch && packsPyTorchBlocks {
                // Ranges of 16 output channels, every tap (blocks transposed in registers).
                forEachChannelRange { channels in
                    let (weight, flipped, taps, cin, cout) = shared.buffers
                    dk_conv_pack_weights_flipped_channels_pytorch(
                        weight, flipped, taps, cin, cout, channels.lowerBound, channels.upperBound)
                }
                return
            }
            let flip = pyTorch ? dk_conv_pack_weights_flipped_pytorch : dk_conv_pack_weights_flipped
            WorkerPool.shared.forEachRange(
                kernelVolume * inChannels / 16, grain: Swift.max(1, Self.packingGrain / (16 * outChannels))
            ) { units in
                let (weight, flipped, taps, cin, cout) = shared.buffers
                flip(weight, flipped, taps, cin, cout, units.lowerBound, units.upperBound)
            }
        }
        body(UnsafePointer(flipped))
    }

    /// Calls `body` with `pass.weight` in the forward kernels' packed layout (dk_conv_pack_weights),
    /// kept in the convolution's cache (`withDirectPacking`; of the rounded kernel with
    /// `roundsOperands`), or with `keeps` false made for this call only. The rows are packed in
    /// ranges on the worker pool.
    func withPackedKernel(
        _ g: dk_conv_geometry, _ pass: LoweredPass<Float>, roundsOperands: Bool, keeps: Bool = true,
        _ body: (UnsafePointer<Float>) -> Void
    ) {
        let make = { (target: UnsafeMutablePointer<Float>) in
            Self.withKernelSource(pass, roundsOperands: roundsOperands) { weight, pyTorch in
                let shared = TaskShared((g, weight, target))
                if pyTorch && packsPyTorchBlocks {
                    // Ranges of 16 output channels, every row (blocks transposed in registers).
                    forEachChannelRange { channels in
                        var (g, weight, target) = shared.buffers
                        dk_conv_pack_weight_channels_pytorch(
                            &g, weight, target, channels.lowerBound, channels.upperBound)
                    }
                    return
                }
                let pack = pyTorch ? dk_conv_pack_weight_rows_pytorch : dk_conv_pack_weight_rows
                WorkerPool.shared.forEachRange(patch, grain: Swift.max(1, Self.packingGrain / outChannels)) { rows in
                    var (g, weight, target) = shared.buffers
                    pack(&g, weight, target, rows.lowerBound, rows.upperBound)
                }
            }
        }
        Self.withDirectPacking(
            keeps ? pass.bfloat16Weights : nil, .forward(rounded: roundsOperands), count: patch * outChannels,
            make: make, body)
    }

    /// Weights per range of a packing split between the workers: below about 16 K, waking a
    /// worker costs more than the copy.
    static let packingGrain = 16384

    /// Whether the kernel's packings from PyTorch's layout are made in blocks of 16 × 16 channels
    /// transposed in registers, in ranges of output channels (`dk_conv_packs_pytorch_blocks`),
    /// rather than by gathers in ranges of rows or of input channels: the same bits.
    private var packsPyTorchBlocks: Bool {
        dk_conv_packs_pytorch_blocks(kernelVolume, inChannels, outChannels) != 0
    }

    /// Runs `body` on consecutive ranges of output channels, multiples of 16 covering them all,
    /// each of about `packingGrain` weights (at least 16 channels), on the worker pool.
    private func forEachChannelRange(_ body: @Sendable (Range<Int>) -> Void) {
        let blocks = outChannels / 16
        let tasks = Swift.min(blocks, Swift.max(1, outChannels * patch / Self.packingGrain))
        WorkerPool.shared.run(tasks) { t in body((16 * (blocks * t / tasks))..<(16 * (blocks * (t + 1) / tasks))) }
    }

    /// Calls `body` with the packing `packing` of `count` elements: the one kept in `cache` (made
    /// there by `make` on first use and kept alive while `body` reads it), or without a cache one
    /// `make` writes for this call.
    static func withDirectPacking(
        _ cache: BFloat16WeightCache?, _ packing: BFloat16WeightCache.DirectPacking, count: Int,
        make: (UnsafeMutablePointer<Float>) -> Void, _ body: (UnsafePointer<Float>) -> Void
    ) {
        guard let cache else {
            let packed = allocateAligned(count)
            defer { packed.deallocate() }
            make(packed)
            body(UnsafePointer(packed))
            return
        }
        let kept = cache.directPacked(packing, count: count, make: make)
        withExtendedLifetime(kept) { body(UnsafePointer(kept.pointer)) }
    }

    /// Calls `body` with the kernel the packings are made from: the convolution's kernel in
    /// PyTorch's layout when it holds one (a layer's parameter as it is;
    /// `BFloat16WeightCache.pyTorchKernel`; `pyTorch` true), else `pass.weight`, which is then in
    /// DiceKit's layout. A pass with `roundsOperands` reads the rounded kernel, `pass.weight`.
    static func withKernelSource(
        _ pass: LoweredPass<Float>, roundsOperands: Bool, _ body: (UnsafePointer<Float>, _ pyTorch: Bool) -> Void
    ) {
        if !roundsOperands, let source = pass.bfloat16Weights?.pyTorchKernel {
            source.withUnsafeBufferPointer { body($0.baseAddress!, true) }
        } else {
            body(pass.weight, false)
        }
    }

    /// Uninitialised Floats on a 64-byte boundary, so that the kernels' vector loads of the
    /// packed weights never straddle two cache lines.
    static func allocateAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    func directGeometry(
        padded: PaddedSource, output: [Int], kernel: [Int], cin: Int, cout: Int, stride: [Int] = [1, 1, 1]
    ) -> dk_conv_geometry {
        var g = dk_conv_geometry(
            hp: padded.extents[1], wp: padded.extents[2], output: output, kernel: kernel, cin: cin, cout: cout)
        g.weight_block = ConvBlocking.current.weightBlock
        (g.sd, g.sh, g.sw) = (Int32(stride[0]), Int32(stride[1]), Int32(stride[2]))
        return g
    }

    /// dx of a layer with fewer than 16 input channels: the forward pass over the padded dy
    /// (`g`) with the flipped kernel transposed for the narrow kernel, wt[ci][t·Cout + co] =
    /// W[taps − 1 − t][ci][co] (conv_narrow.c).
    private func narrowInputGradient(
        _ g: dk_conv_geometry, padded: PaddedSource, weight: UnsafePointer<Float>, fill: UnsafePointer<Float>?,
        dx: UnsafeMutablePointer<Float>, workers: Int, inPlace: Bool
    ) {
        let taps = kernelVolume
        let transposed = UnsafeMutablePointer<Float>.allocate(capacity: patch * outChannels)
        defer { transposed.deallocate() }
        for ci in 0..<inChannels {
            for t in 0..<taps {
                let source = weight + ((taps - 1 - t) * inChannels + ci) * outChannels
                (transposed + (ci * taps + t) * outChannels).initialize(from: source, count: outChannels)
            }
        }
        forwardTasks(
            g, padded: padded, weight: transposed, bias: fill, y: dx, outputSample: inputPixels * inChannels,
            workers: workers, narrow: true, inPlace: inPlace)
    }

    /// The padded rows a forward pass of `g` in chunks of `chunk` of its `positions` output
    /// positions reads through chunk c (`rowsRead`), and from (`firstRow`; `PaddedSource.forEachChunk`).
    static func forwardRows(_ g: dk_conv_geometry, positions: Int, chunk: Int) -> (
        rowsRead: @Sendable (Int) -> Int, firstRow: @Sendable (Int) -> Int
    ) {
        (
            { c in Self.paddedRowsRead(g, through: Swift.min(positions, c * chunk + chunk) - 1) },
            { c in Self.paddedFirstRow(g, line: c * chunk / Swift.max(g.ow, 1)) }
        )
    }

    /// The runs of padded rows (planes × rows, in order, sorted and disjoint) whose values the
    /// stored outputs of forward chunk c (`chunk` of `positions` output positions) read: the kd
    /// kernel planes' rows under each output plane's lines of the chunk. In 3-D they leave out
    /// most of the rows between a chunk's first and last (the rest of those planes), which its
    /// window spans (`PaddedSource.forEachWindow`'s `runs`).
    static func forwardRuns(_ g: dk_conv_geometry, positions: Int, chunk: Int) -> @Sendable (Int) -> [Range<Int>] {
        { c in
            let ow = Swift.max(g.ow, 1)
            let q0 = c * chunk
            let q1 = Swift.min(positions, q0 + chunk)
            return Self.paddedRuns(g, lines: (q0 / ow)..<((q1 - 1) / ow + 1))
        }
    }

    /// The runs of padded rows that the weight gradient's chunk c of `perChunk` of `lines` output
    /// lines reads (its kernels read the valid output positions of the chunk's lines only).
    static func weightGradientRuns(_ g: dk_conv_geometry, lines: Int, perChunk: Int) -> @Sendable (Int) -> [Range<Int>]
    {
        { c in Self.paddedRuns(g, lines: (c * perChunk)..<Swift.min(lines, c * perChunk + perChunk)) }
    }

    /// The runs of padded rows that output lines `lines` (plane · oh + row) read, sorted and merged.
    static func paddedRuns(_ g: dk_conv_geometry, lines: Range<Int>) -> [Range<Int>] {
        let oh = Swift.max(g.oh, 1)
        let (sd, sh, kd, kh) = (Int(Swift.max(g.sd, 1)), Int(Swift.max(g.sh, 1)), Int(g.kd), Int(g.kh))
        var runs: [Range<Int>] = []
        var line = lines.lowerBound
        while line < lines.upperBound {
            let z = line / oh
            let last = Swift.min(lines.upperBound, (z + 1) * oh) - 1
            for kz in 0..<kd {
                let plane = (z * sd + kz) * g.hp
                runs.append((plane + line % oh * sh)..<(plane + last % oh * sh + kh))
            }
            line = last + 1
        }
        runs.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for run in runs {
            if let previous = merged.last, previous.upperBound >= run.lowerBound {
                merged[merged.count - 1] = previous.lowerBound..<Swift.max(previous.upperBound, run.upperBound)
            } else {
                merged.append(run)
            }
        }
        return merged
    }

    /// The padded rows the weight gradient of `g` in chunks of `perChunk` of its `lines` output
    /// lines reads through chunk c (`rowsRead`), and from (`firstRow`; `PaddedSource.forEachChunk`).
    static func weightGradientRows(_ g: dk_conv_geometry, lines: Int, perChunk: Int) -> (
        rowsRead: @Sendable (Int) -> Int, firstRow: @Sendable (Int) -> Int
    ) {
        (
            { c in Self.paddedRowsRead(g, through: Swift.min(lines, c * perChunk + perChunk) * g.ow - 1) },
            { c in Self.paddedFirstRow(g, line: c * perChunk) }
        )
    }

    /// The first padded row (planes × rows, in order) of a sample that the passes of `g` read for
    /// output line `line` (plane · oh + row) and the lines after it: its first kernel row's.
    static func paddedFirstRow(_ g: dk_conv_geometry, line: Int) -> Int {
        let (z, y) = (line / Swift.max(g.oh, 1), line % Swift.max(g.oh, 1))
        let (sd, sh) = (Int(Swift.max(g.sd, 1)), Int(Swift.max(g.sh, 1)))
        return z * sd * g.hp + y * sh
    }

    /// How many padded rows (planes × rows, in order) of a sample the passes of `g` read for output
    /// positions 0...q: through the last kernel row of the last kernel plane of q's line.
    static func paddedRowsRead(_ g: dk_conv_geometry, through q: Int) -> Int {
        let (plane, line) = (g.oh * g.ow, Swift.max(q, 0))
        let (z, y) = (line / plane, line % plane / g.ow)
        let (sd, sh) = (Int(Swift.max(g.sd, 1)), Int(Swift.max(g.sh, 1)))
        return (z * sd + Int(g.kd) - 1) * g.hp + y * sh + Int(g.kh)
    }

    /// y = conv(padded, weight) (+ bias) over the batch, in chunks of output positions sized from
    /// L2 and cut for the workers (`ConvBlocking.forwardTaskChunk`). `narrow`:
    /// the few-channel kernel, with `weight` transposed (`narrowInputGradient`). `inPlace`: read
    /// the input itself where `InPlaceForward` accepts the pass, instead of a padded copy.
    /// `winogradLimit`: run as Winograd F(2×2, 3×3) or F(2×2×2, 3×3×3) where the pass qualifies
    /// and its padded batch, or slabs of it, fit that many bytes (Winograd.swift), its
    /// transformed kernel kept in `kernelCache` when given (the forward pass's, not the input
    /// gradient's); nil: never. `roundedOperands`: the input and kernel are the rounded-operand
    /// arithmetic's.
    func forwardTasks(
        _ g: dk_conv_geometry, padded: PaddedSource, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        y: UnsafeMutablePointer<Float>, outputSample: Int, workers: Int, narrow: Bool = false, inPlace: Bool = false,
        winogradLimit: Int? = nil, winogradSplit: WinogradSplit = .automatic, kernelCache: BFloat16WeightCache? = nil,
        roundedOperands: Bool = false
    ) {
        if let limit = winogradLimit, !narrow,
            winogradForward(
                g, padded: padded, packedKernel: { $0(weight) }, bias: bias, y: UnsafeMutableRawPointer(y),
                outputSample: outputSample, workers: workers, workspaceLimit: limit, split: winogradSplit,
                cache: kernelCache, roundedOperands: roundedOperands)
        {
            return
        }
        // Positions per chunk of a pass over `positions` output positions per sample (with fewer
        // than two samples per worker, cut so that every worker gets an equal share).
        let chunkSize = { [batch = padded.batch] (positions: Int) in
            ConvBlocking.current.forwardTaskChunk(
                inChannels: Int(g.cin), outChannels: Int(g.cout), positions: positions, batch: batch, workers: workers)
        }
        if inPlace, let plan = InPlaceForward(g, source: padded) {
            plan.run(
                source: padded, weight: weight, bias: bias, y: y, outputSample: outputSample,
                chunk: chunkSize(plan.interior.od * plan.interior.oh * plan.interior.ow), workers: workers,
                narrow: narrow)
            return
        }
        let positions = g.od * g.oh * g.ow
        let chunk = chunkSize(positions)
        // One read-only geometry for every worker (not an inout per call).
        withUnsafePointer(to: g) { gp in
            // Each chunk writes its own output positions of one sample.
            let shared = TaskShared((gp, weight, bias, y))
            let (rowsRead, firstRow) = Self.forwardRows(g, positions: positions, chunk: chunk)
            _ = padded.forEachChunk(
                chunks: (positions + chunk - 1) / chunk, workers: workers, rowsRead: rowsRead, firstRow: firstRow,
                runs: Self.forwardRuns(g, positions: positions, chunk: chunk)
            ) { _, n, sample, c in
                let (gp, weight, bias, y) = shared.buffers
                let (q0, q1) = (c * chunk, Swift.min(positions, c * chunk + chunk))
                if narrow {
                    dk_conv_forward_narrow_f32(gp, sample, weight, bias, y + n * outputSample, q0, q1)
                } else {
                    dk_conv_forward_f32(gp, sample, weight, bias, y + n * outputSample, q0, q1)
                }
            }
        }
    }

    /// dW (and db) = Σ over the batch, in chunks of whole output lines sized from L2
    /// (`ConvBlocking.weightGradientLines`),
    /// with an accumulator per worker summed in worker order. With `roundsDY`, dW reads dy
    /// rounded to bfloat16: each chunk's lines are rounded into the worker's own buffer just
    /// before the kernel reads them (the whole batch at once for small images); db reads dy.
    private func weightGradientTasks(
        _ g: dk_conv_geometry, padded: PaddedSource, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>,
        db: UnsafeMutablePointer<Float>?, weightCount: Int, roundsDY: Bool, workers: Int, winogradLimit: Int?,
        winogradSplit: WinogradSplit
    ) {
        // Winograd F(2×2, 3×3) or F(2×2×2, 3×3×3) where the pass qualifies and fits
        // `winogradLimit` bytes, whole or in slabs (Winograd.swift; with `roundsDY`, reading dy
        // rounded).
        if let limit = winogradLimit,
            winogradWeightGradient(
                g, padded: padded, dy: dy, dW: dW, workers: workers, workspaceLimit: limit, roundsDY: roundsDY,
                split: winogradSplit)
        {
            if let db = db { sumRows(dy, rows: outputRows, channels: outChannels, into: db) }
            return
        }
        // Small images (fewer output positions per sample than kernel rows: 8² and 16² in a
        // U-Net): a per-worker accumulator would be read and written once per sample, so the
        // workers split the kernel instead, each block summed over the whole batch.
        let block = Int(DK_CONV_CHANNEL_BLOCK)
        let segments = kernel[0] * kernel[1]
        let channelBlocks = (outChannels + block - 1) / block
        if weightGradientSplitsKernel(workers: workers) {
            // The tiles load and store their dW rows once per pass: into an aligned buffer, copied
            // to dW at the end, so that no 64-byte access straddles two cache lines.
            let aligned = Self.allocateAligned(weightCount)
            defer { aligned.deallocate() }
            aligned.initialize(repeating: 0, count: weightCount)
            // Each block's tiles run over this many lines of one sample at a time, so that the
            // lines' input rows and output-gradient block are read from L2 by all of the block's tiles.
            let lines = ConvBlocking.current.weightGradientBlockLines(
                inChannels: Int(g.cin), outChannels: Int(g.cout), width: g.ow)
            let roundedDY = roundsDY ? UnsafeMutablePointer<Float>.allocate(capacity: outputRows * outChannels) : nil
            defer { roundedDY?.deallocate() }
            if let roundedDY { dk_f32_round_bf16(dy, roundedDY, outputRows * outChannels) }
            let kernelDY = roundedDY.map { UnsafePointer($0) } ?? dy
            // The input's positions spread an odd number of cache lines apart at the AVX2 level,
            // so that the tiles find them in L1 (dk_conv_spread_position_floats).
            let spread = dk_conv_spread_position_floats(g.cin)
            withUnsafePointer(to: g) { gp in
                padded.withSpreadBatch(workers: workers, positionFloats: spread) { xp, sampleFloats in
                    // Each task writes its own block of dW (one kernel segment, 64 output channels).
                    let shared = TaskShared((gp, xp, kernelDY, aligned))
                    WorkerPool.shared.run(segments * channelBlocks) { task in
                        let (gp, xp, dy, dW) = shared.buffers
                        let (s, c) = (task / channelBlocks, task % channelBlocks)
                        dk_conv_weight_grad_block_f32(
                            gp, xp, sampleFloats, spread, dy, batch, dW, Int32(s), Int32(s + 1),
                            Int32(c * block), Int32(Swift.min(outChannels, (c + 1) * block)), lines)
                    }
                }
            }
            dW.update(from: aligned, count: weightCount)
            if let db = db { sumRows(dy, rows: outputRows, channels: outChannels, into: db) }
            return
        }
        let lines = g.od * g.oh
        let linesPerChunk = ConvBlocking.current.weightGradientLines(
            inChannels: Int(g.cin), outChannels: Int(g.cout), width: g.ow)
        let cout = outChannels
        let sampleLines = lines * g.ow * cout
        // One block per worker: dW then db.
        let width = weightCount + cout
        let sums = Self.allocateAligned(workers * width) // 64-byte aligned blocks: width is a multiple of 16
        sums.initialize(repeating: 0, count: workers * width)
        defer { sums.deallocate() }
        // Per worker, a chunk's lines of rounded dy.
        let chunkLines = linesPerChunk * g.ow * cout
        let rounded = roundsDY ? UnsafeMutablePointer<Float>.allocate(capacity: workers * chunkLines) : nil
        defer { rounded?.deallocate() }
        let used = withUnsafePointer(to: g) { gp in
            // Each worker accumulates into its own block of `sums` and rounds into its own part of `rounded`.
            let shared = TaskShared((gp, sums, dy, db, rounded))
            // With fewer than two samples per worker (or samples past the bound's share), each
            // task pads only the rows it reads.
            let (rowsRead, firstRow) = Self.weightGradientRows(g, lines: lines, perChunk: linesPerChunk)
            return padded.forEachChunk(
                chunks: (lines + linesPerChunk - 1) / linesPerChunk, workers: workers, rowsRead: rowsRead,
                firstRow: firstRow, runs: Self.weightGradientRuns(g, lines: lines, perChunk: linesPerChunk)
            ) { worker, n, sample, c in
                let (gp, sums, dy, db, rounded) = shared.buffers
                let accumulator = sums + worker * width
                let l0 = c * linesPerChunk
                let l1 = Swift.min(lines, l0 + linesPerChunk)
                let sampleDY = dy + n * sampleLines
                var kernelDY = sampleDY
                if let rounded {
                    // At the place of the chunk's lines in a sample that starts at `kernelDY`.
                    let (own, first) = (rounded + worker * chunkLines, l0 * g.ow * cout)
                    dk_f32_round_bf16(sampleDY + first, own, (l1 - l0) * g.ow * cout)
                    kernelDY = UnsafePointer(own - first)
                }
                dk_conv_weight_grad_f32(gp, sample, kernelDY, accumulator, l0, l1)
                if db != nil {
                    addChannelRows(
                        sampleDY + l0 * g.ow * cout, count: (l1 - l0) * g.ow * cout, into: accumulator + weightCount,
                        width: cout)
                }
            }
        }
        dW.update(from: sums, count: weightCount)
        if let db = db { db.update(from: sums + weightCount, count: cout) }
        for worker in 1..<used {
            addElements(sums + worker * width, dW, weightCount)
            if let db = db { addElements(sums + worker * width + weightCount, db, cout) }
        }
    }

    /// target = Σ of `rows` rows of `channels` (overwrites).
    private func sumRows(
        _ source: UnsafePointer<Float>, rows: Int, channels: Int, into target: UnsafeMutablePointer<Float>
    ) {
        target.update(repeating: 0, count: channels)
        addChannelRows(source, count: rows * channels, into: target, width: channels)
    }
}
