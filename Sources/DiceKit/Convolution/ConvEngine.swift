// The three GEMM passes of a convolution over tiles of lowered rows, run by parallel workers.
//
// With P = tile rows, K·Cg = patch (kernel volume × input channels per group), Co = output
// channels per group, and one GEMM per channel group:
//   forward          y[P × Co]      = col[P × K·Cg] · W[K·Cg × Co]              (+ bias rows)
//   weight gradient  dW[K·Cg × Co] += colᵀ[K·Cg × P] · dy[P × Co]                (over tiles, batch)
//   input gradient   dcol[P × K·Cg] = dy[P × Co] · Wᵀ[Co × K·Cg],  then col2im (accumulating);
//                    at stride 1 instead the adjoint convolution's forward pass over dy
//                    (LoweredInputGradient.swift)
//   bias gradient    db[Cout]      += Σ over the tile's rows of dy               (optional)
// A transposed convolution runs the same passes with its input in y space: its forward is the
// input-gradient pass, its backward the forward and weight-gradient passes. Float passes that
// qualify (stride 1, channels in multiples of 16, AVX-512) skip lowering altogether and run on
// the direct kernels (DirectConvolution.swift).
//
// Parallelism: `workers` workers each own an im2col tile and a weight-gradient accumulator
// and run a fixed set of chunks of lowered rows: worker w takes chunks w, w + workers, … (whole
// samples whenever col2im writes, so no two workers touch the same input pixel). The
// accumulators are summed at the end in worker order. Which chunks feed which accumulator, and
// in which order, thus depends on the worker count only, never on scheduling: the same thread
// count gives the same bits. (The pool's tasks are the workers' indices, not threads: a thread
// that finds a worker's task untaken runs it, so an occupied core still delays nobody for long.)
// GEMM tiles never cross samples and their size does not depend on the batch, so a sample's
// forward product is the same bits in a batch of any size (OpenBLAS's kernel, and its rounding,
// depend on the GEMM's shape; data-parallel ranks rely on it, Docs/Distributed.md).
// OpenBLAS runs on one thread inside each worker (its thread count is process-global, so it is
// set around the parallel region).

internal import CDiceKitKernels

/// Pointers for one lowered pass; nil members are skipped. Weight is [K·Cg_in … × Cout], i.e.
/// the DiceKit kernel layout [k…, Cin/groups, Cout] read as a (K·Cin/groups) × Cout matrix.
struct LoweredPass<T: BLASScalar> {
    /// x-space tensor to lower (needed by `y` and `weightGradient`).
    var x: UnsafePointer<T>?
    var weight: UnsafePointer<T>
    /// y-space output, overwritten with col · W (+ `bias`).
    var y: UnsafeMutablePointer<T>?
    var bias: UnsafePointer<T>?
    /// y-space operand of the weight-gradient and input-gradient passes.
    var dy: UnsafePointer<T>?
    /// Overwritten with Σ colᵀ · dy over the whole batch.
    var weightGradient: UnsafeMutablePointer<T>?
    /// x-space tensor, uninitialised on entry, that receives `dxFill` + col2im(dy · Wᵀ).
    var dx: UnsafeMutablePointer<T>?
    /// A vector of input channels written to every pixel of `dx` first (a transposed
    /// convolution's bias); nil for zeros.
    var dxFill: UnsafePointer<T>?
    /// Overwritten with Σ dy over all rows (a convolution's bias gradient, [Cout]); needs `dy`.
    var biasGradient: UnsafeMutablePointer<T>? = nil
    /// Whether `y` receives max(0, ·) in the output pass (an evaluation-mode convolution + ReLU;
    /// NaN stays NaN, as `ReLU`).
    var rectifies = false
    /// Where the bfloat16 path keeps its packings of `weight` (the convolution's own cache); nil
    /// packs them on every call.
    var bfloat16Weights: BFloat16WeightCache? = nil
    /// When set, x is the channel concatenation of these (`x` is the first), joined in the
    /// direct kernels' padded copy; only for a forward pass that `joinsConcatenatedInput`.
    var xParts: [ChannelPart]? = nil
    /// x as its bfloat16 rounding (a kept activation, KeptActivations.swift), given instead of
    /// `x` to a Float forward pass that `forwardTakesRoundedOperand`, or to a Float backward pass
    /// whose weight gradient rounds x anyway (`backwardRoundsOperands`):
    /// the dot-product and tile kernels copy its bits into their padded operand; the other
    /// bfloat16 paths (rounded operands, exact tilings) read a Float copy widened from it (exact).
    var xRounded: UnsafePointer<UInt16>? = nil
    /// dy as its bfloat16 rounding (a transposed convolution's kept input, KeptActivations.swift),
    /// given instead of `dy` to the transposed backward pass of an exact tiling (x and dy → y and
    /// the weight gradient, no bias gradient), whose weight gradient rounds dy anyway: the
    /// dot-product and tile kernels pack its bits as they are
    /// (`transposedBackwardReadsRoundedInput`); the rounded-operand arithmetic reads a Float copy
    /// widened from it (exact).
    var dyRounded: UnsafePointer<UInt16>? = nil
    /// Given instead of `y` to a Float forward pass that `forwardReadsRoundedOperand`: receives
    /// y's bfloat16 rounding (after the ReLU when `rectifies`), written by the kernels' stores;
    /// no Float y is written (an activation only the next bfloat16 convolution reads,
    /// RoundedForward.swift).
    var yRounded: UnsafeMutablePointer<UInt16>? = nil
    /// With `dx`, the input gradient in two parts of Cin / 2 channels each (uninitialised on
    /// entry): channels [0, Cin / 2) of each pixel to `dx`, the rest to `dxSecond`, as the
    /// kernels store them (a U-Net decoder's input gradient, up-sampled part then skip part);
    /// only for a pass that `splitsInputGradient`.
    var dxSecond: UnsafeMutablePointer<T>? = nil
    /// Whether the input of a forward pass (x, or a transposed convolution's forward input dy)
    /// holds bfloat16 values already, as Floats (an output written with `roundsOutput`): the
    /// rounded-operand passes then read it without rounding it again, so a forward pass may read
    /// it in place (InPlaceForward.swift). Any pass that rounds its input gives the same values.
    var inputOnBFloat16Grid = false
    /// Whether the output of a forward pass (y, or a transposed convolution's forward output dx)
    /// receives each value's bfloat16 rounding, as a Float, after the ReLU: stored so by the
    /// Float direct kernels (dk_conv_geometry.round_output), else rounded after the pass. For an
    /// activation that only rounded-operand passes read (`inputOnBFloat16Grid`).
    var roundsOutput = false
    /// With `y`, a 1×1 head that the bfloat16 dot-product or tile forward pass applies in its stores
    /// (FusedHead.swift): `y` then receives the head's logits, [rows × head.classes], instead of
    /// the pass's output.
    var head: FusedHead? = nil
}

/// Writes `fill` (a vector of `channels` scalars) or zeros to `pixels` consecutive pixels.
func fillPixels<T: BLASScalar>(_ target: UnsafeMutablePointer<T>, pixels: Int, channels: Int, fill: UnsafePointer<T>?) {
    guard let fill = fill else {
        target.initialize(repeating: 0, count: pixels * channels)
        return
    }
    var p = target
    for _ in 0..<pixels {
        p.initialize(from: fill, count: channels)
        p += channels
    }
}

/// Runs `body(worker)` for `workers` workers: directly when there is one, otherwise on the
/// shared worker pool (which, unlike a dispatch queue, has its threads awake for the next
/// layer's call) with OpenBLAS limited to one thread per call.
func runWorkers(_ workers: Int, _ body: @Sendable (Int) -> Void) {
    if workers <= 1 {
        withFlushToZero { body(0) }
    } else {
        BLAS.withThreadCount(1) {
            WorkerPool.shared.run(workers, body)
        }
    }
}

extension ConvGeometry {
    /// Runs a lowered pass over the whole batch.
    ///
    /// Its callers are generic and may run unspecialised (a nested generic function of a generic
    /// type is not specialised), which would leave im2col, col2im and the fills calling the
    /// scalar type's witnesses per element; so the pass continues in concrete Float or Double code.
    func run<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) {
        switch T.precision {
        case .single: runConcrete(unsafeBitCast(pass, to: LoweredPass<Float>.self), settings: settings)
        case .double: runConcrete(unsafeBitCast(pass, to: LoweredPass<Double>.self), settings: settings)
        }
    }

    /// Whether a Float forward pass (x → y) runs on the bfloat16 dot-product or tile kernels, which
    /// read x only through its rounding and may be handed that rounding (`LoweredPass.xRounded`).
    func forwardReadsRoundedOperand(settings: ConvolutionSettings) -> Bool {
        withPlaceholderPass(y: true, dx: false, weightGradient: false) { runsOnBFloat16Kernels($0, settings: settings) }
    }

    /// Whether a Float forward pass may be handed x's rounding instead of x
    /// (`LoweredPass.xRounded`): it runs on the bfloat16 dot-product or tile kernels
    /// (`forwardReadsRoundedOperand`), or on the Float direct kernels with rounded operands, whose
    /// padded copy then widens the bits instead of rounding x (exact: the same operand).
    func forwardTakesRoundedOperand(settings: ConvolutionSettings) -> Bool {
        if forwardReadsRoundedOperand(settings: settings) { return true }
        return BFloat16Arithmetic.current == .roundedOperands
            && withPlaceholderPass(y: true, dx: false, weightGradient: false) { pass in
                !runsBFloat16Tiling(pass, settings: settings) && runsBFloat16(pass, settings: settings)
            }
    }

    /// Whether the forward pass of a transposed convolution (an input gradient alone, of dy: its
    /// input) reads its input only through its bfloat16 rounding: precision `.bfloat16`, on the
    /// bfloat16 exact-tiling paths (BFloat16ExactTiling.swift), whatever the arithmetic.
    func transposedForwardRoundsInput(settings: ConvolutionSettings) -> Bool {
        var placeholder: Float = 0
        return withUnsafeMutablePointer(to: &placeholder) { p in
            runsBFloat16Tiling(LoweredPass<Float>(weight: p, dy: p, dx: p), settings: settings)
        }
    }

    /// Whether the backward pass of a transposed convolution (x, its output gradient, and dy, its
    /// input → y and the weight gradient) may read dy as its bfloat16 bits
    /// (`LoweredPass.dyRounded`): it runs on the exact tiling's dot-product or tile kernels, which
    /// pack dy's bits as they are. (The rounded-operand arithmetic takes a Float copy.)
    func transposedBackwardReadsRoundedInput(settings: ConvolutionSettings) -> Bool {
        BFloat16Arithmetic.current != .roundedOperands
            && withPlaceholderPass(y: true, dx: false, weightGradient: true) {
                runsBFloat16Tiling($0, settings: settings)
            }
    }

    /// `body` of a Float pass whose operands are placeholders: x and the kernel, and y, dx and the
    /// weight gradient as asked (dy with either gradient). The bfloat16 hooks decide from which
    /// operands a pass has, never from their values.
    func withPlaceholderPass<R>(
        y: Bool, dx: Bool, weightGradient: Bool, _ body: (LoweredPass<Float>) -> R
    ) -> R {
        var placeholder: Float = 0
        return withUnsafeMutablePointer(to: &placeholder) { p in
            body(
                LoweredPass<Float>(
                    x: p, weight: p, y: y ? p : nil, dy: dx || weightGradient ? p : nil,
                    weightGradient: weightGradient ? p : nil, dx: dx ? p : nil))
        }
    }

    /// Runs `pass` with the operand it was given as bfloat16 bits (`xRounded`, else `dyRounded`)
    /// widened into a Float copy (exact), made in parallel.
    private func runWidened(_ pass: LoweredPass<Float>, settings: ConvolutionSettings) {
        var pass = pass
        let widensX = pass.xRounded != nil
        let (rounded, count) =
            widensX ? (pass.xRounded!, batch * inputPixels * inChannels) : (pass.dyRounded!, outputRows * outChannels)
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, count))
        defer { copy.deallocate() }
        convertInParallel(rounded, copy, count: count) { dk_bf16_to_f32($0, $1, $2) }
        if widensX {
            (pass.x, pass.xRounded) = (UnsafePointer(copy), nil)
        } else {
            (pass.dy, pass.dyRounded) = (UnsafePointer(copy), nil)
        }
        runConcrete(pass, settings: settings)
    }

    /// Whether a Float backward pass (x, dy and the weight gradient, with `y` and/or `dx` when
    /// set) takes one of `runConcrete`'s bfloat16 hooks, which read x and dy only through their
    /// bfloat16 roundings. The hooks decide from which operands a pass has, never from their
    /// values, so a placeholder stands for each.
    func backwardRoundsOperands(y: Bool, dx: Bool, settings: ConvolutionSettings) -> Bool {
        withPlaceholderPass(y: y, dx: dx, weightGradient: true) { pass in
            runsBFloat16Tiling(pass, settings: settings) || runsBFloat16(pass, settings: settings)
        }
    }

    /// Whether a Float pass with an output (`y`), an input gradient (`dx`) and/or a weight
    /// gradient reads the kernel only through packings made from the convolution's kernel (the
    /// bfloat16 dot-product or tile kernels' packings in `LoweredPass.bfloat16Weights`, or the
    /// Float direct kernels' packed and flipped kernels): those may then be made from the kernel
    /// in PyTorch's layout (KernelStorage.swift), and `LoweredPass.weight` is not read.
    func readsOnlyPackedKernel(y: Bool, dx: Bool, weightGradient: Bool, settings: ConvolutionSettings) -> Bool {
        withPlaceholderPass(y: y, dx: dx, weightGradient: weightGradient) {
            readsOnlyPackedKernel($0, settings: settings)
        }
    }

    /// `readsOnlyPackedKernel(y:dx:weightGradient:settings:)` of a pass (its operands' presence
    /// decides, never their values).
    private func readsOnlyPackedKernel<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) -> Bool {
        if runsOnBFloat16Kernels(pass, settings: settings) { return true }
        guard T.precision == .single, !runsBFloat16Tiling(pass, settings: settings),
            !runsBFloat16(pass, settings: settings)
        else { return false }
        // The Float direct kernels make their forward packing and their flipped kernel from either
        // layout (`ConvGeometry.withKernelSource`); the scattered and few-channel input gradients
        // read the kernel in DiceKit's.
        return runsDirect(pass, settings: settings)
            && (pass.dx == nil || (stride == [1, 1, 1] && inChannels % directChannelMultiple == 0))
    }

    /// Whether a Float pass runs on the bfloat16 dot-product or tile kernels (not with rounded
    /// operands, not an exact tiling): the passes that read x, and may write y, as bfloat16 bits.
    private func runsOnBFloat16Kernels<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) -> Bool {
        T.precision == .single && !runsBFloat16Tiling(pass, settings: settings)
            && runsBFloat16(pass, settings: settings) && BFloat16Arithmetic.current != .roundedOperands
    }

    /// Whether a Float pass's input gradient may be written in two halves of the channels
    /// (`LoweredPass.dxSecond`): Cin is a multiple of 32 and the input gradient runs on forward
    /// kernels whose stores route each 16 channels to their part (dk_conv_geometry.cout_a): the
    /// bfloat16 dot-product or tile kernels, or the Float direct kernels at stride 1, on Float
    /// or rounded operands (`runDirect`). Not the lowered path, nor a scattered input gradient.
    func splitsInputGradient(settings: ConvolutionSettings) -> Bool {
        guard inChannels % 32 == 0 else { return false }
        return withPlaceholderPass(y: false, dx: true, weightGradient: true) { pass in
            if runsBFloat16Tiling(pass, settings: settings) { return false }
            let unitStride = stride == [1, 1, 1]
            if runsBFloat16(pass, settings: settings) {
                return BFloat16Arithmetic.current != .roundedOperands || unitStride
            }
            return unitStride && runsDirect(pass, settings: settings)
        }
    }

    /// Whether a Float backward pass (x, dy and the weight gradient, with `dx` when set) may take
    /// x as the channel concatenation of separate tensors (`LoweredPass.xParts`): it runs on the
    /// direct kernels, with Float or rounded operands (`runDirect`), whose padded copies of x join
    /// them. Not the bfloat16 dot-product and tile kernels, nor the lowered path.
    func backwardJoinsConcatenatedInput(dx: Bool, settings: ConvolutionSettings) -> Bool {
        withPlaceholderPass(y: false, dx: dx, weightGradient: true) { pass in
            if runsBFloat16Tiling(pass, settings: settings) { return false }
            if runsBFloat16(pass, settings: settings) { return BFloat16Arithmetic.current == .roundedOperands }
            return runsDirect(pass, settings: settings)
        }
    }

    /// `run` for a concrete scalar type (called only with Float or Double).
    private func runConcrete<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) {
        precondition(
            pass.head == nil
                || (pass.y != nil && pass.dy == nil && pass.weightGradient == nil && pass.dx == nil
                    && !pass.roundsOutput && forwardFusesHead(settings: settings)),
            "lowered pass: a fused head is applied by the bfloat16 dot-product and tile forward kernels only")
        precondition(
            pass.dxSecond == nil || (pass.dx != nil && splitsInputGradient(settings: settings)),
            "lowered pass: an input gradient in two parts is written by the direct and bfloat16 forward kernels only")
        // A kernel handed over in PyTorch's layout (its packings' source) is for passes that read
        // only the packings; any other pass would read it as DiceKit's layout.
        if let source = pass.bfloat16Weights?.pyTorchKernel {
            let handedOver = source.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
            precondition(
                handedOver != UnsafeRawPointer(pass.weight) || readsOnlyPackedKernel(pass, settings: settings),
                "lowered pass: a kernel in PyTorch's layout given to a pass that reads it")
        }
        if pass.yRounded != nil {
            precondition(
                pass.y == nil && pass.dy == nil && pass.weightGradient == nil && pass.dx == nil
                    && forwardReadsRoundedOperand(settings: settings),
                "lowered pass: a bfloat16 output is written by a bfloat16 forward pass only")
            let pass = unsafeBitCast(pass, to: LoweredPass<Float>.self)
            runBFloat16(pass, settings: settings, tiles: BFloat16Arithmetic.current == .tiles)
            return
        }
        // A forward pass, or a transposed convolution's (an input gradient alone): their input
        // and output may lie on the bfloat16 grid.
        let forward = pass.y != nil && pass.dy == nil && pass.weightGradient == nil && pass.dx == nil
        let transposedForward = pass.dx != nil && pass.x == nil && pass.xRounded == nil && pass.y == nil
        precondition(
            !(pass.roundsOutput || pass.inputOnBFloat16Grid)
                || (T.precision == .single && (forward || transposedForward) && pass.yRounded == nil
                    && pass.dxSecond == nil),
            "lowered pass: an input or output on the bfloat16 grid is for a Float forward pass only")
        // Whether the pass run has made the output's rounding (`roundsOutput`): the Float direct
        // kernels' stores do (the branches below that reach `runDirect` say so); else it is made
        // after the pass, in place, in ranges on the worker pool (a volume's up-sampled tensor is
        // tens of MB).
        var outputRounded = false
        defer {
            if pass.roundsOutput && !outputRounded {
                let (output, count) =
                    forward ? (pass.y!, outputRows * outChannels) : (pass.dx!, batch * inputPixels * inChannels)
                output.withMemoryRebound(to: Float.self, capacity: count) {
                    convertInParallel(UnsafePointer($0), $0, count: count) { dk_f32_round_bf16($0, $1, $2) }
                }
            }
        }
        if pass.dy == nil, pass.dyRounded != nil {
            precondition(
                T.precision == .single && pass.x != nil && pass.dx == nil && pass.weightGradient != nil
                    && pass.biasGradient == nil
                    && backwardRoundsOperands(y: pass.y != nil, dx: false, settings: settings),
                "lowered pass: dy given in bfloat16 to a pass that does not round it")
            let pass = unsafeBitCast(pass, to: LoweredPass<Float>.self)
            if transposedBackwardReadsRoundedInput(settings: settings) {
                runBFloat16Tiling(pass, settings: settings, tiles: BFloat16Arithmetic.current == .tiles)
            } else {
                runWidened(pass, settings: settings)
            }
            return
        }
        if pass.x == nil, pass.xRounded != nil {
            let forward = pass.y != nil && pass.weightGradient == nil && pass.dx == nil
            precondition(
                forward
                    ? forwardTakesRoundedOperand(settings: settings)
                    : pass.y == nil && backwardRoundsOperands(y: false, dx: pass.dx != nil, settings: settings),
                "lowered pass: x given in bfloat16 to a pass that does not round it")
            let pass = unsafeBitCast(pass, to: LoweredPass<Float>.self)
            let arithmetic = BFloat16Arithmetic.current
            if !runsBFloat16Tiling(pass, settings: settings), arithmetic != .roundedOperands {
                runBFloat16(pass, settings: settings, tiles: arithmetic == .tiles)
            } else if arithmetic == .roundedOperands, runsBFloat16(pass, settings: settings) {
                // The direct kernels' padded copies widen the bits (no Float copy of x).
                outputRounded = runRoundedBFloat16(pass, settings: settings)
            } else {
                // The pass it runs, with x widened, makes the rounding itself.
                runWidened(pass, settings: settings)
                outputRounded = true
            }
            return
        }
        precondition(pass.y == nil || pass.x != nil, "lowered pass: the forward product needs x")
        precondition(
            pass.weightGradient == nil || (pass.x != nil && pass.dy != nil),
            "lowered pass: the weight gradient needs x and dy")
        precondition(pass.dx == nil || pass.dy != nil, "lowered pass: the input gradient needs dy")
        precondition(pass.biasGradient == nil || pass.dy != nil, "lowered pass: the bias gradient needs dy")
        precondition(
            pass.xParts == nil
                || (pass.weightGradient == nil
                    ? pass.y != nil && joinsConcatenatedInput(settings: settings)
                    : pass.y == nil && backwardJoinsConcatenatedInput(dx: pass.dx != nil, settings: settings)),
            "lowered pass: a concatenated input is joined by the direct kernels' padded copies only")
        // bfloat16 hooks (BFloat16ExactTiling.swift, BFloat16Convolution.swift): qualifying Float
        // passes with precision .bfloat16, on the dot-product kernels, on AMX tiles, or with rounded
        // operands on the Float ones (BFloat16RoundedOperands.swift), as `BFloat16Arithmetic.current` says.
        if runsBFloat16Tiling(pass, settings: settings) {
            let pass = unsafeBitCast(pass, to: LoweredPass<Float>.self)
            switch BFloat16Arithmetic.current {
            case .dotProducts: runBFloat16Tiling(pass, settings: settings)
            case .tiles: runBFloat16Tiling(pass, settings: settings, tiles: true)
            // The direct kernels round x and dy as they read them (DirectUpsampling.swift).
            case .roundedOperands where runsDirect(pass, settings: settings):
                outputRounded = runRoundedBFloat16(pass, settings: settings)
            case .roundedOperands: runRoundedBFloat16Tiling(pass, settings: settings)
            }
            return
        }
        if runsBFloat16(pass, settings: settings) {
            // T is Float (runsBFloat16 checks the precision); the kernels' stores rectify.
            let pass = unsafeBitCast(pass, to: LoweredPass<Float>.self)
            switch BFloat16Arithmetic.current {
            case .dotProducts: runBFloat16(pass, settings: settings)
            case .tiles: runBFloat16(pass, settings: settings, tiles: true)
            case .roundedOperands: outputRounded = runRoundedBFloat16(pass, settings: settings)
            }
            return
        }
        if runsDirect(pass, settings: settings) {
            // T is Float (runsDirect checks the precision): the cast is between identical types.
            outputRounded = runDirect(unsafeBitCast(pass, to: LoweredPass<Float>.self), settings: settings)
            return
        }
        if runsNarrowPointwise(pass, settings: settings) {
            runNarrowPointwise(unsafeBitCast(pass, to: LoweredPass<Float>.self), settings: settings)
            return
        }
        // A stride-1 input gradient: the adjoint convolution's forward pass over dy
        // (LoweredInputGradient.swift), not dy · Wᵀ scattered by col2im.
        if pass.dx != nil, let adjoint = loweredAdjoint() {
            runInputGradientAsAdjoint(pass, adjoint: adjoint, settings: settings)
            return
        }
        let rowsTotal = outputRows
        let scatters = pass.dx != nil && !isPointwise
        // Automatic: Parallelism.threadCount workers, but none with fewer than 64 rows; explicit: as asked
        // (at most one per row).
        let workers =
            settings.workers.map { Swift.max(1, Swift.min($0, rowsTotal)) }
            ?? Swift.min(Swift.max(1, Parallelism.threadCount), Swift.max(1, rowsTotal / 64))
        // GEMM tiles: each sample's rows in blocks of `tile` from the sample's first row, the last
        // block shorter. `tile` depends on the sample's size, the patch and the requested thread
        // count, never on the batch, so every output row comes from a GEMM of the same shape in
        // a batch of any size: OpenBLAS chooses its kernel, and so the rounding, from the shape
        // (SkylakeX runs m·n·k ≤ 10⁶ on its small-matrix kernel), and a sample's bits would
        // otherwise depend on the samples around it (a data-parallel rank holds part of one
        // process's batch; Docs/Distributed.md). With several threads, blocks of at least 64 rows
        // and about a worker's share of a sample, so that one sample still feeds every worker.
        let requested = Swift.max(1, settings.workers ?? Parallelism.threadCount)
        let share = requested == 1 ? outputPixels : Swift.max(64, (outputPixels + requested - 1) / requested)
        let tile = Swift.max(
            1,
            Swift.min(
                settings.tileRows(patch: patch, elementSize: MemoryLayout<T>.stride, workers: requested),
                outputPixels, share))
        // Chunks of rows: single samples when col2im scatters and there are enough samples;
        // otherwise the blocks (each worker then owns its input gradient).
        let chunks: [Range<Int>]
        let privateDX: Bool
        if scatters && batch >= workers {
            chunks = (0..<batch).map { ($0 * outputPixels)..<(($0 + 1) * outputPixels) }
            privateDX = false
        } else {
            chunks = (0..<batch).flatMap { n in
                Swift.stride(from: 0, to: outputPixels, by: tile).map {
                    (n * outputPixels + $0)..<(n * outputPixels + Swift.min($0 + tile, outputPixels))
                }
            }
            privateDX = scatters && workers > 1
        }
        // A 2×2 stride-2 up-sampling (`tilesExactly`) with workers on whole samples: col2im
        // becomes one store per x pixel (fill + value), with no zero fill and no accumulation
        // (ExactTiling.swift).
        let scattersOnce = scatters && !privateDX && tilesExactly
        let weightCount = patch * outChannels
        let inputCount = batch * inputPixels * inChannels
        // Per-worker accumulators: worker 0 writes the caller's buffers, the others private ones.
        var gradients: [UnsafeMutablePointer<T>] = []
        if let dW = pass.weightGradient {
            dW.update(repeating: 0, count: weightCount)
            gradients.append(dW)
            for _ in 1..<workers {
                let buffer = UnsafeMutablePointer<T>.allocate(capacity: weightCount)
                buffer.initialize(repeating: 0, count: weightCount)
                gradients.append(buffer)
            }
        }
        var inputGradients: [UnsafeMutablePointer<T>] = []
        if let dx = pass.dx {
            // Each worker initialises its own samples (first touch in parallel), unless the
            // workers share samples and sum private buffers.
            if privateDX { fillPixels(dx, pixels: batch * inputPixels, channels: inChannels, fill: pass.dxFill) }
            inputGradients.append(dx)
            for _ in 1..<workers {
                if privateDX {
                    let buffer = UnsafeMutablePointer<T>.allocate(capacity: inputCount)
                    buffer.initialize(repeating: 0, count: inputCount)
                    inputGradients.append(buffer)
                } else {
                    inputGradients.append(dx)
                }
            }
        }
        // The input-gradient GEMM reads W transposed, [Cout × K·Cg]: OpenBLAS is markedly
        // faster with a plain operand than with a transposed one when K·Cg is small (27 for a
        // 3×3 kernel on RGB: 92 vs 63 GFLOP/s on one core), so transpose it once per call. Not
        // for an exact tiling: K·Cg is then 4·Cout or more (an up-sampling's kernel, up to
        // 2048 × 512 in a U-Net of base 32), which the GEMM reads transposed as well.
        var transposedWeight: UnsafeMutablePointer<T>? = nil
        if pass.dx != nil && !isPointwise && !scattersOnce {
            let wt = UnsafeMutablePointer<T>.allocate(capacity: weightCount)
            for j in 0..<patch {
                for o in 0..<outChannels { (wt + o * patch + j).initialize(to: pass.weight[j * outChannels + o]) }
            }
            transposedWeight = wt
        }
        defer { transposedWeight?.deallocate() }
        // Bias gradient: each worker adds the dy rows of its tiles, while they are in cache,
        // into `biasWidth` accumulators (whole rows; ≥ 256 when Cout is small, so the adds
        // vectorise), folded to Cout at the end.
        let biasWidth = Swift.max(1, 256 / outChannels) * outChannels
        let biasSums: [UnsafeMutablePointer<T>] =
            pass.biasGradient == nil
            ? []
            : (0..<workers).map { _ in
                let buffer = UnsafeMutablePointer<T>.allocate(capacity: biasWidth)
                buffer.initialize(repeating: 0, count: biasWidth)
                return buffer
            }
        let weightT = transposedWeight.map { UnsafePointer($0) }
        let localGradients = gradients
        let localInputGradients = inputGradients
        dk_note_isa(DK_KERNEL_CONV, DK_ISA_PORTABLE)
        // Worker w writes its own accumulators and its chunks' rows of y and dx (whole samples
        // when col2im writes), reads the rest. A pass with nothing to sum per worker (a forward
        // pass) hands its chunks out in turn as each worker finishes its last (`TaskTicket`, as
        // InPlaceForward does): each row of y is one chunk's whichever worker runs it, so the bits
        // are the same, and a worker on a slower core takes fewer. The others keep each worker's
        // fixed share (chunks w, w + workers, …), which the order of their sums depends on.
        let inTurn = localGradients.isEmpty && localInputGradients.isEmpty && biasSums.isEmpty
        let ticket = TaskTicket()
        let shared = TaskShared((pass, localGradients, localInputGradients, biasSums, weightT))
        runWorkers(workers) { worker in
            let (pass, localGradients, localInputGradients, biasSums, weightT) = shared.buffers
            let dW = localGradients.isEmpty ? nil : localGradients[worker]
            let dx = localInputGradients.isEmpty ? nil : localInputGradients[worker]
            let biasSum = biasSums.isEmpty ? nil : biasSums[worker]
            let workspace = isPointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: tile * patch)
            defer { workspace?.deallocate() }
            var chunk = inTurn ? ticket.take() : worker
            while chunk < chunks.count {
                defer { chunk = inTurn ? ticket.take() : chunk + workers }
                let rows = chunks[chunk]
                if let dx = dx, !privateDX, !scattersOnce {
                    // Pointwise: x pixels are the lowered rows; otherwise the chunk is one sample.
                    let pixels =
                        isPointwise
                        ? rows
                        : (rows.lowerBound / outputPixels * inputPixels)..<(rows.upperBound / outputPixels * inputPixels)
                    fillPixels(
                        dx + pixels.lowerBound * inChannels, pixels: pixels.count, channels: inChannels,
                        fill: pass.dxFill)
                }
                if let col = workspace {
                    runTiled(
                        pass, rows: rows, tile: tile, col: col, weightGradient: dW, dx: dx, transposedWeight: weightT,
                        biasSum: biasSum, biasWidth: biasWidth, scattersOnce: scattersOnce)
                } else {
                    runPointwise(pass, rows: rows, weightGradient: dW, dx: dx)
                    if let sum = biasSum, let dy = pass.dy {
                        addChannelRows(
                            dy + rows.lowerBound * outChannels, count: rows.count * outChannels, into: sum,
                            width: biasWidth)
                    }
                }
            }
        }
        if let db = pass.biasGradient {
            db.update(repeating: 0, count: outChannels)
            for sum in biasSums {
                for i in 0..<biasWidth { db[i % outChannels] += sum[i] }
                sum.deallocate()
            }
        }
        for worker in 1..<Swift.max(workers, 1) {
            // Plain loops, not BLAS axpy: above 10 000 elements OpenBLAS would wake its thread
            // pool, whose threads then spin for a while and compete with the next call's workers.
            if !gradients.isEmpty {
                addElements(gradients[worker], gradients[0], weightCount)
                gradients[worker].deallocate()
            }
            if privateDX {
                addElements(inputGradients[worker], inputGradients[0], inputCount)
                inputGradients[worker].deallocate()
            }
        }
    }

    /// Fills rows `rows` of the y-space output with the bias (or leaves them for β = 0).
    private func fillBias<T: BLASScalar>(_ y: UnsafeMutablePointer<T>, bias: UnsafePointer<T>, rows: Range<Int>) {
        var target = y + rows.lowerBound * outChannels
        for _ in rows {
            copyElements(bias, target, outChannels)
            target += outChannels
        }
    }

    /// One chunk of rows of a pass, through im2col tiles of at most `tile` rows in `col`.
    private func runTiled<T: BLASScalar>(
        _ pass: LoweredPass<T>, rows: Range<Int>, tile: Int, col: UnsafeMutablePointer<T>,
        weightGradient: UnsafeMutablePointer<T>?, dx: UnsafeMutablePointer<T>?,
        transposedWeight: UnsafePointer<T>?, biasSum: UnsafeMutablePointer<T>?, biasWidth: Int, scattersOnce: Bool
    ) {
        let (co, cout, k) = (outPerGroup, outChannels, patch)
        let w = pass.weight
        var start = rows.lowerBound
        while start < rows.upperBound {
            let end = Swift.min(start + tile, rows.upperBound)
            let m = end - start
            if let y = pass.y, let bias = pass.bias { fillBias(y, bias: bias, rows: start..<end) }
            let tileStart = start
            defer { if pass.rectifies, let y = pass.y { rectify(y + tileStart * cout, count: m * cout) } }
            for g in 0..<groups {
                if let x = pass.x { im2col(x, rows: start..<end, group: g, into: col) }
                if let y = pass.y {
                    BLAS.gemm(
                        transposeA: .none, transposeB: .none, m: m, n: co, k: k,
                        alpha: 1, a: col, lda: k, b: w + g * co, ldb: cout,
                        beta: pass.bias == nil ? 0 : 1, c: y + start * cout + g * co, ldc: cout)
                }
                if let dW = weightGradient, let dy = pass.dy {
                    BLAS.gemm(
                        transposeA: .transpose, transposeB: .none, m: k, n: co, k: m,
                        alpha: 1, a: col, lda: k, b: dy + start * cout + g * co, ldb: cout,
                        beta: 1, c: dW + g * co, ldc: cout)
                }
                if let dx = dx, let dy = pass.dy, scattersOnce {
                    // One group: dcol = dy · Wᵀ with W [K·Cg × Cout] read transposed.
                    BLAS.gemm(
                        transposeA: .none, transposeB: .transpose, m: m, n: k, k: co,
                        alpha: 1, a: dy + start * cout, lda: cout, b: w, ldb: cout,
                        beta: 0, c: col, ldc: k)
                    scatterTiles(UnsafePointer(col), rows: start..<end, fill: pass.dxFill, into: dx)
                } else if let dx = dx, let dy = pass.dy, let wt = transposedWeight {
                    BLAS.gemm(
                        transposeA: .none, transposeB: .none, m: m, n: k, k: co,
                        alpha: 1, a: dy + start * cout + g * co, lda: cout, b: wt + g * co * k, ldb: k,
                        beta: 0, c: col, ldc: k)
                    col2im(UnsafePointer(col), rows: start..<end, group: g, into: dx)
                }
            }
            if let sum = biasSum, let dy = pass.dy {
                addChannelRows(dy + start * cout, count: m * cout, into: sum, width: biasWidth)
            }
            start = end
        }
    }

    /// max(0, ·) over `count` elements in place, while the tile is in cache (NaN stays NaN):
    /// the bits of the `ReLU` layer (dk_rectify_inplace_f32, so −0 becomes +0 as there). A Swift
    /// loop storing only where y < 0 compiled to a branch per element (5 % of the samples of the
    /// lowered 3-D U-Net benchmarks, `DICEKIT_ISA=portable`), and so did one storing a select
    /// back into y.
    private func rectify<T: BLASScalar>(_ y: UnsafeMutablePointer<T>, count: Int) {
        let raw = UnsafeMutableRawPointer(y)
        switch T.precision {
        case .single: dk_rectify_inplace_f32(raw.assumingMemoryBound(to: Float.self), count, 0, 0)
        case .double: dk_rectify_inplace_f64(raw.assumingMemoryBound(to: Double.self), count, 0, 0)
        }
    }

    /// One chunk of rows of a pass for a 1×1, stride-1, unpadded convolution: the x-space
    /// tensor already is the lowered matrix (row stride Cin), so there is no copy.
    private func runPointwise<T: BLASScalar>(
        _ pass: LoweredPass<T>, rows: Range<Int>,
        weightGradient: UnsafeMutablePointer<T>?, dx: UnsafeMutablePointer<T>?
    ) {
        let (cg, cin, co, cout) = (inPerGroup, inChannels, outPerGroup, outChannels)
        let (r, m) = (rows.lowerBound, rows.count)
        let w = pass.weight
        if let y = pass.y, let bias = pass.bias { fillBias(y, bias: bias, rows: rows) }
        defer { if pass.rectifies, let y = pass.y { rectify(y + r * cout, count: m * cout) } }
        for g in 0..<groups {
            if let y = pass.y, let x = pass.x {
                BLAS.gemm(
                    transposeA: .none, transposeB: .none, m: m, n: co, k: cg,
                    alpha: 1, a: x + r * cin + g * cg, lda: cin, b: w + g * co, ldb: cout,
                    beta: pass.bias == nil ? 0 : 1, c: y + r * cout + g * co, ldc: cout)
            }
            if let dW = weightGradient, let x = pass.x, let dy = pass.dy {
                BLAS.gemm(
                    transposeA: .transpose, transposeB: .none, m: cg, n: co, k: m,
                    alpha: 1, a: x + r * cin + g * cg, lda: cin, b: dy + r * cout + g * co, ldb: cout,
                    beta: 1, c: dW + g * co, ldc: cout)
            }
            if let dx = dx, let dy = pass.dy {
                BLAS.gemm(
                    transposeA: .none, transposeB: .transpose, m: m, n: cg, k: co,
                    alpha: 1, a: dy + r * cout + g * co, lda: cout, b: w + g * co, ldb: cout,
                    beta: 1, c: dx + r * cin + g * cg, ldc: cin)
            }
        }
    }
}
