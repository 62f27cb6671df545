// Max pooling over windows that tile the input (kernel = stride, no padding: the U-Net's 2×
// down-sampling). Each output element records which tap of its window won (a byte, not a flat
// index), and since no two windows overlap the backward pass writes every input element once,
// with no zero-fill and no scattered adds. Same ties (first maximum in window order) and NaN
// handling as the general loops in PoolingKernels.swift. Float 2×2 windows over an even number
// of rows, and 2×2×2 ones over an even number of planes and rows, run the C kernels of
// Sources/CDiceKitKernels/pooling/maxpool2x2.c (16 channels per AVX-512 step), split between the
// workers by output lines or planes (element-wise: the same bits for any split); everything
// else the loops below, on the calling thread.

internal import CDiceKitKernels

extension PoolingKernels {
    /// Whether the windows of `g` tile the input: kernel = stride, no padding, at most 256 taps.
    static func tiles(_ g: ConvGeometry) -> Bool {
        g.kernel == g.stride && g.padBefore.allSatisfy { $0 == 0 } && g.padAfter.allSatisfy { $0 == 0 }
            && g.kernelVolume <= 256
    }

    /// How the C kernels take `g`, or nil: 2×2 windows over an even number of rows, in units of
    /// one output line (planes 1); 2×2×2 windows over an even number of planes and rows, in
    /// units of one output plane (planes 2). Each unit's input and output are contiguous.
    private static func halving(_ g: ConvGeometry) -> (units: Int, unitLines: Int, planes: Int32)? {
        if g.kernel == [1, 2, 2] && g.input[1] % 2 == 0 { return (g.batch * g.output[0] * g.output[1], 1, 1) }
        if g.kernel == [2, 2, 2] && g.input[0] % 2 == 0 && g.input[1] % 2 == 0 {
            return (g.batch * g.output[0], g.output[1], 2)
        }
        return nil
    }

    /// Calls `body(units)` on ranges of `units` that cover them, in parallel where there is
    /// enough work (about 64 K output elements per range).
    private static func forEachUnitRange(
        _ units: Int, elementsPerUnit: Int, _ body: @Sendable (Range<Int>) -> Void
    ) {
        let grain = Swift.max(1, (1 << 16) / Swift.max(elementsPerUnit, 1))
        let ranges = (units + grain - 1) / grain
        WorkerPool.shared.run(ranges) { r in body((r * grain)..<Swift.min(units, (r + 1) * grain)) }
    }

    /// Offsets (in elements) of a window's taps from its first input element, in window order.
    private static func tapOffsets(_ g: ConvGeometry) -> [Int] {
        let (inH, inW, c) = (g.input[1], g.input[2], g.inChannels)
        var offsets: [Int] = []
        for kd in 0..<g.kernel[0] {
            for kh in 0..<g.kernel[1] {
                for kw in 0..<g.kernel[2] { offsets.append(((kd * inH + kh) * inW + kw) * c) }
            }
        }
        return offsets
    }

    /// Calls body(output pixel, offset of its window's first input element) for every output pixel.
    @inline(__always)
    private static func forEachWindow(_ g: ConvGeometry, _ body: (Int, Int) -> Void) {
        let (inD, inH, inW, c) = (g.input[0], g.input[1], g.input[2], g.inChannels)
        var row = 0
        for n in 0..<g.batch {
            for od in 0..<g.output[0] {
                for oh in 0..<g.output[1] {
                    let line = ((n * inD + od * g.kernel[0]) * inH + oh * g.kernel[1]) * inW
                    for ow in 0..<g.output[2] {
                        body(row, (line + ow * g.kernel[2]) * c)
                        row += 1
                    }
                }
            }
        }
    }

    /// The window maxima and, per output element, the index of the winning tap in window order.
    static func tiledMax(_ g: ConvGeometry, _ x: Tensor<Float>) -> (Tensor<Float>, [UInt8]) {
        guard let (units, unitLines, planes) = halving(g) else { return tiledMaxLoops(g, x) }
        let count = g.outputRows * g.inChannels
        var taps = [UInt8](repeating: 0, count: count)
        let (outW, inW, c) = (g.output[2], g.input[2], g.inChannels)
        // Per unit: its output elements, and the input elements its windows read.
        let (unitOutput, unitInput) = (unitLines * outW * c, Int(planes) * 2 * unitLines * inW * c)
        let y = [Float](unsafeUninitializedCapacity: count) { py, initialized in
            x.withUnsafeBufferPointer { px in
                taps.withUnsafeMutableBufferPointer { pt in
                    let shared = TaskShared((px.baseAddress!, py.baseAddress!, pt.baseAddress!))
                    forEachUnitRange(units, elementsPerUnit: unitOutput) { range in
                        let (x, y, t) = shared.buffers
                        let (input, output) = (range.lowerBound * unitInput, range.lowerBound * unitOutput)
                        dk_maxpool_halving_f32(
                            x + input, y + output, t + output, range.count, unitLines, outW, inW, c, planes)
                    }
                }
            }
            initialized = count
        }
        return (Tensor(uncheckedShape: g.outputShape, storage: y), taps)
    }

    /// `tiledMax`'s maxima of `x`'s bfloat16 bits, with no taps (an evaluation pass): the bits of
    /// the rounding of the Float pooling of the values `x` was rounded from
    /// (`dk_maxpool_halving_bf16`); nil, with nothing run, for a window the C kernels do not take.
    static func halvingMax(_ g: ConvGeometry, _ x: BFloat16Activation) -> BFloat16Activation? {
        guard let (units, unitLines, planes) = halving(g) else { return nil }
        let (outW, inW, c) = (g.output[2], g.input[2], g.inChannels)
        let (unitOutput, unitInput) = (unitLines * outW * c, Int(planes) * 2 * unitLines * inW * c)
        let y = BFloat16Activation(uninitializedShape: g.outputShape, kept: false)
        let shared = TaskShared((UnsafePointer(x.storage.pointer), y.storage.pointer))
        forEachUnitRange(units, elementsPerUnit: unitOutput) { range in
            let (x, y) = shared.buffers
            dk_maxpool_halving_bf16(
                x + range.lowerBound * unitInput, y + range.lowerBound * unitOutput, range.count, unitLines, outW, inW,
                c, planes)
        }
        return y
    }

    /// `tiledMax` for any scalar and tiling window.
    static func tiledMaxLoops<T: BLASScalar>(_ g: ConvGeometry, _ x: Tensor<T>) -> (Tensor<T>, [UInt8]) {
        let c = g.inChannels
        let count = g.outputRows * c
        let offsets = tapOffsets(g)
        var taps = [UInt8](repeating: 0, count: count)
        let y = [T](unsafeUninitializedCapacity: count) { py, initialized in
            x.withUnsafeBufferPointer { px in
                taps.withUnsafeMutableBufferPointer { pt in
                    let (x, y, t) = (px.baseAddress!, py.baseAddress!, pt.baseAddress!)
                    forEachWindow(g) { row, base in
                        for k in 0..<c {
                            var (best, code) = (x[base + k], UInt8(0))
                            for i in 1..<offsets.count {
                                let v = x[base + offsets[i] + k]
                                if v > best || (v.isNaN && !best.isNaN) {
                                    (best, code) = (v, UInt8(truncatingIfNeeded: i))
                                }
                            }
                            y[row * c + k] = best
                            t[row * c + k] = code
                        }
                    }
                }
            }
            initialized = count
        }
        return (Tensor(uncheckedShape: g.outputShape, storage: y), taps)
    }

    /// The flat input index of every winning tap (`MaxPoolingResult.argmax`).
    static func tiledArgmax(_ g: ConvGeometry, taps: [UInt8]) -> [Int] {
        let c = g.inChannels
        let offsets = tapOffsets(g)
        var argmax = [Int](repeating: 0, count: taps.count)
        forEachWindow(g) { row, base in
            for k in 0..<c { argmax[row * c + k] = base + offsets[Int(taps[row * c + k])] + k }
        }
        return argmax
    }

    /// ∂loss/∂input of `tiledMax` (shape `g.inputShape`), plus `addend` (same shape) when given:
    /// each output gradient goes to its window's winning tap, every other input element gets zero.
    static func tiledScatter(_ g: ConvGeometry, _ dy: Tensor<Float>, taps: [UInt8], adding addend: Tensor<Float>?)
        -> Tensor<Float>
    {
        guard let (units, unitLines, planes) = halving(g) else {
            return tiledScatterLoops(g, dy, taps: taps, adding: addend)
        }
        let (outW, inW, c) = (g.output[2], g.input[2], g.inChannels)
        let (unitOutput, unitInput) = (unitLines * outW * c, Int(planes) * 2 * unitLines * inW * c)
        return tiledGradient(g, addend) { dx, pa in
            dy.withUnsafeBufferPointer { pdy in
                taps.withUnsafeBufferPointer { pt in
                    let shared = TaskShared((pdy.baseAddress!, pt.baseAddress!, pa, dx))
                    forEachUnitRange(units, elementsPerUnit: unitOutput) { range in
                        let (dy, t, addend, dx) = shared.buffers
                        let (input, output) = (range.lowerBound * unitInput, range.lowerBound * unitOutput)
                        dk_maxpool_halving_back_f32(
                            dy + output, t + output, addend.map { $0 + input }, dx + input, range.count, unitLines,
                            outW, inW, c, planes)
                    }
                }
            }
        }
    }

    /// `tiledScatter` for any scalar and tiling window.
    static func tiledScatterLoops<T: BLASScalar>(
        _ g: ConvGeometry, _ dy: Tensor<T>, taps: [UInt8], adding addend: Tensor<T>?
    ) -> Tensor<T> {
        let c = g.inChannels
        let offsets = tapOffsets(g)
        return tiledGradient(g, addend) { dx, pa in
            dy.withUnsafeBufferPointer { pdy in
                taps.withUnsafeBufferPointer { pt in
                    forEachWindow(g) { row, base in
                        for i in 0..<offsets.count {
                            let target = base + offsets[i]
                            for k in 0..<c {
                                let routed = pt[row * c + k] == i ? pdy[row * c + k] : 0
                                dx[target + k] = (pa?[target + k] ?? 0) + routed
                            }
                        }
                    }
                }
            }
        }
    }

    /// An input gradient whose windows `body(dx, addend)` writes; input elements beyond the last
    /// whole window (floor mode) belong to no window and get the addend or zero first.
    private static func tiledGradient<T: BLASScalar>(
        _ g: ConvGeometry, _ addend: Tensor<T>?,
        _ body: (UnsafeMutablePointer<T>, UnsafePointer<T>?) -> Void
    ) -> Tensor<T> {
        let count = g.batch * g.inputPixels * g.inChannels
        let covered = (0..<3).allSatisfy { g.output[$0] * g.kernel[$0] == g.input[$0] }
        let dx = [T](unsafeUninitializedCapacity: count) { pdx, initialized in
            withOptionalPointer(addend) { pa in
                let dx = pdx.baseAddress!
                if !covered {
                    if let pa = pa {
                        dx.initialize(from: pa, count: count)
                    } else {
                        dx.initialize(repeating: 0, count: count)
                    }
                }
                body(dx, pa)
            }
            initialized = count
        }
        return Tensor(uncheckedShape: g.inputShape, storage: dx)
    }
}
