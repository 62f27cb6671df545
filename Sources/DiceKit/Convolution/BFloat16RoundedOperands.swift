// The rounded-operand arithmetic of `.bfloat16` convolutions (BFloat16Arithmetic.swift): the
// passes the bfloat16 kernels would take (BFloat16Convolution.swift, BFloat16ExactTiling.swift)
// run on the Float kernels with their operands rounded to bfloat16, to nearest, ties to even:
//
//   forward          y  = conv(pad(x₁₆), W₁₆) (+ bias)
//   input gradient   dx = conv(pad'(dy₁₆), W'₁₆) (+ dxFill)
//   weight gradient  dW = Σ pad(x₁₆) patches ⊗ dy₁₆
//   bias gradient    db = Σ dy rows, in Float (as the bfloat16 kernels do)
//
// Each product of two bfloat16 values is exact in Float, so this is the bfloat16 kernels' sum
// in another order, within the same bound (on the Winograd passes below, a Float transform of
// those operands, whose error is of the Float direct kernels' order, far inside it). The results
// are those of the Float path given the rounded operands, bit for bit (BFloat16RoundedOperandsTests).
//
// The passes that the Float path runs as Winograd F(2×2, 3×3) (or F(2×2×2, 3×3×3)) run so here
// too, on the rounded input and kernel (Winograd.swift: the transformed kernel of the rounded one
// kept apart, outputs rounded in the output transform where they are handed over on the grid;
// the weight gradient's transform rounds each dy value as it reads it), and so stay the Float
// path's bits given the rounded operands.
//
// Cost: the direct kernels round x and dy while making the padded copies they read anyway, and
// their weight gradient rounds each chunk's lines of dy just before reading them; the kernel is
// rounded once per kernel value and kept in the convolution's BFloat16WeightCache. The 2×2
// up-samplings' passes take the direct kernels too where the Float path would (rounding dy and
// x in the copies those make); elsewhere they round their operands into whole copies and run
// the Float tiling path.

internal import CDiceKitKernels

extension ConvGeometry {
    /// Runs a pass that `runsBFloat16` accepted (or an up-sampling pass that `runsDirect`
    /// accepts), with rounded operands on the Float direct kernels; returns `runDirect`'s answer.
    @discardableResult
    func runRoundedBFloat16(_ pass: LoweredPass<Float>, settings: ConvolutionSettings) -> Bool {
        let cache = pass.bfloat16Weights ?? BFloat16WeightCache()
        let weight = roundedWeight(pass.weight, cache: cache)
        return weight.withUnsafeBufferPointer { wp in
            var rounded = pass
            rounded.weight = wp.baseAddress!
            return runDirect(rounded, settings: settings, roundsOperands: true)
        }
    }

    /// Runs a pass that `runsBFloat16Tiling` accepted, with rounded copies of x, dy and the
    /// kernel on the Float path; the bias gradient is the Float sum of dy.
    func runRoundedBFloat16Tiling(_ pass: LoweredPass<Float>, settings: ConvolutionSettings) {
        let cache = pass.bfloat16Weights ?? BFloat16WeightCache()
        let weight = roundedWeight(pass.weight, cache: cache)
        let xCount = batch * inputPixels * inChannels
        let dyCount = outputRows * outChannels
        let x = pass.x.map { source in
            let copy = UnsafeMutablePointer<Float>.allocate(capacity: xCount)
            dk_f32_round_bf16(source, copy, xCount)
            return copy
        }
        let dy = pass.dy.map { source in
            let copy = UnsafeMutablePointer<Float>.allocate(capacity: dyCount)
            dk_f32_round_bf16(source, copy, dyCount)
            return copy
        }
        defer {
            x?.deallocate()
            dy?.deallocate()
        }
        var floatSettings = settings
        floatSettings.precision = .float
        weight.withUnsafeBufferPointer { wp in
            var rounded = pass
            rounded.weight = wp.baseAddress!
            rounded.x = x.map { UnsafePointer($0) }
            rounded.dy = dy.map { UnsafePointer($0) }
            rounded.biasGradient = nil
            // The Float passes read the rounded kernel: none of their packings may be kept as the
            // Float kernel's (they take the lowered path, which keeps none, but only because the
            // direct kernels refuse these shapes in either precision).
            rounded.bfloat16Weights = nil
            run(rounded, settings: floatSettings)
        }
        if let db = pass.biasGradient, let dy = pass.dy {
            db.update(repeating: 0, count: outChannels)
            addChannelRows(dy, count: dyCount, into: db, width: outChannels)
        }
    }

    /// The kernel [patch × Cout] rounded to bfloat16, as `cache` keeps it (rounded on the worker
    /// pool: after every optimiser step, a pass over every weight).
    private func roundedWeight(_ weight: UnsafePointer<Float>, cache: BFloat16WeightCache) -> [Float] {
        let count = patch * outChannels
        return cache.rounded(count: count) {
            convertInParallel(weight, $0, count: count) { dk_f32_round_bf16($0, $1, $2) }
        }
    }
}
