// Kernels shared by BatchNorm, InstanceNorm and GroupNorm, on channels-last data viewed as
// [N, S, C] (S = the product of the spatial extents).
//
// Each normalisation splits the elements into sets, normalises each set with its mean μ and
// biased variance σ², then applies a per-channel affine map:
//   x̂ = (x − μ)/√(σ² + ε),   y = γ_c·x̂ + β_c.
// BatchNorm's sets are the channels (over N and S); GroupNorm's are (sample, group of C/G
// channels) over S; InstanceNorm is GroupNorm with G = C.
//
// Backward, for a set of K elements (Ioffe & Szegedy 2015, eq. in §3):
//   d x̂ = γ_c·dy,
//   dx = (1/√(σ²+ε))·(d x̂ − mean(d x̂) − x̂·mean(d x̂·x̂)),
//   dγ_c = Σ dy·x̂,   dβ_c = Σ dy   (sums over every element of channel c).
// Sums accumulate in Double: a set can hold millions of elements.
//
// Float runs the C passes of CDiceKitKernels/normalization (dk_normalization.h): the `reference…`
// Swift loops here, element by element in the same order, vectorised for the CPU (Swift's own
// loops compile for baseline x86-64); the same bits (NormalizationKernelTests). Double runs the
// Swift loops.

internal import CDiceKitKernels

/// Checks that `shape` is [N, spatial…, C] with the expected channel count; returns (N, S, C).
func normalizationExtents(_ shape: [Int], channels: Int, layer: String) throws -> (Int, Int, Int) {
    guard shape.count >= 3, shape.last == channels else {
        throw DiceKitError.shape(
            "\(layer): input shape \(shape); expected [batch, spatial…, \(channels)] (channels-last, rank ≥ 3)")
    }
    let spatial = shape.dropFirst().dropLast().reduce(1, *)
    return (shape[0], spatial, channels)
}

/// Per-channel statistics over all rows of an [M, C] matrix: (mean, biased variance). Float runs
/// dk_norm_moments_f32, the bits of `referenceChannelMoments`.
@_specialize(where T == Float)
@_specialize(where T == Double)
func channelMoments<T: BLASScalar>(_ x: UnsafeBufferPointer<T>, rows: Int, channels: Int) -> (
    mean: [Double], variance: [Double]
) {
    guard T.self == Float.self, rows > 0 else { return referenceChannelMoments(x, rows: rows, channels: channels) }
    var mean = [Double](repeating: 0, count: channels)
    var variance = [Double](repeating: 0, count: channels)
    dk_norm_moments_f32(floats(x), rows, channels, &mean, &variance)
    return (mean, variance)
}

/// `channelMoments` in Swift, the reference of the C kernel (and the Double form).
@_specialize(where T == Float)
@_specialize(where T == Double)
func referenceChannelMoments<T: BLASScalar>(_ x: UnsafeBufferPointer<T>, rows: Int, channels: Int) -> (
    mean: [Double], variance: [Double]
) {
    var mean = [Double](repeating: 0, count: channels)
    var variance = [Double](repeating: 0, count: channels)
    guard rows > 0 else { return (mean, variance) }
    mean.withUnsafeMutableBufferPointer { m in
        variance.withUnsafeMutableBufferPointer { v in
            // Two passes (mean, then squared deviations): stable for large offsets.
            for r in 0..<rows {
                let base = r &* channels
                for c in 0..<channels { m[c] += Double(x[base &+ c]) }
            }
            for c in 0..<channels { m[c] /= Double(rows) }
            for r in 0..<rows {
                let base = r &* channels
                for c in 0..<channels {
                    let d = Double(x[base &+ c]) - m[c]
                    v[c] += d * d
                }
            }
            for c in 0..<channels { v[c] /= Double(rows) }
        }
    }
    return (mean, variance)
}

/// y = γ_c·x̂ + β_c with x̂ = (x − shift_c)·scale_c, row by row over [M, C]; also stores x̂. With
/// `activation`, y is that activation's output instead: a ReLU's (+0 where γ_c·x̂ + β_c ≤ 0, NaN
/// kept) or a leaky ReLU's (slope·v where v ≤ 0, NaN kept), the bits of the activation's own pass.
@_specialize(where T == Float)
@_specialize(where T == Double)
func normalizeRows<T: BLASScalar>(
    _ x: UnsafeBufferPointer<T>, rows: Int, channels: Int,
    shift: [T], scale: [T], gamma: [T], beta: [T], activation: ActivationKind? = nil,
    normalized: UnsafeMutableBufferPointer<T>, output: UnsafeMutableBufferPointer<T>
) {
    guard T.self == Float.self, rows > 0 else {
        referenceNormalizeRows(
            x, rows: rows, channels: channels, shift: shift, scale: scale, gamma: gamma, beta: beta,
            activation: activation, normalized: normalized, output: output)
        return
    }
    let (kind, slope): (Int32, Float) =
        switch activation {
        case nil: (Int32(DK_NORM_IDENTITY), 0)
        case .relu: (Int32(DK_NORM_RELU), 0)
        case .leakyReLU(let slope): (Int32(DK_NORM_LEAKY_RELU), Float(slope))
        }
    withChannelValues(shift, scale, gamma, beta) { shift, scale, gamma, beta in
        dk_norm_normalize_f32(
            floats(x), rows, channels, floats(shift), floats(scale), floats(gamma), floats(beta), kind, slope,
            mutableFloats(normalized), mutableFloats(output))
    }
}

/// One range of rows of a normalisation's output pass (BatchNorm's and GroupNorm's `normalize`):
/// x, x̂, the range of elements, and the shift, scale, γ and β per channel that hold there.
typealias NormalizedRowsPass<T: BLASScalar> =
    @Sendable (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>, Range<Int>, [T], [T], [T], [T]) -> Void

/// The output of a normalisation whose `normalize` hands every range of rows of a tensor of
/// `shape` to a pass (and keeps x̂): y = γ·x̂ + β with `activation` (`normalizeRows`).
func normalizedOutput<T: BLASScalar>(
    shape: [Int], activation: ActivationKind?, _ normalize: (@escaping NormalizedRowsPass<T>) throws -> Void
) throws -> Tensor<T> {
    // Every element is written by the passes: no zeroing.
    var output = Tensor<T>.uninitialised(shape)
    try output.withUnsafeMutableBufferPointer { y in
        let output = TaskShared(y)
        try normalize { x, h, elements, shift, scale, gamma, beta in
            normalizeRows(
                UnsafeBufferPointer(rebasing: x[elements]), rows: elements.count / shift.count, channels: shift.count,
                shift: shift, scale: scale, gamma: gamma, beta: beta, activation: activation,
                normalized: UnsafeMutableBufferPointer(rebasing: h[elements]),
                output: UnsafeMutableBufferPointer(rebasing: output.buffers[elements]))
        }
    }
    return output
}

/// `normalizedOutput` with a ReLU, stored as its bfloat16 rounding (`normalizeRowsRounded`: no
/// Float output written); nil for Doubles.
func roundedNormalizedOutput<T: BLASScalar>(
    shape: [Int], _ normalize: (@escaping NormalizedRowsPass<T>) throws -> Void
) throws -> BFloat16Activation? {
    guard T.self == Float.self else { return nil }
    return try BFloat16Activation(shape: shape) { target in
        let output = TaskShared(target)
        try normalize { x, h, elements, shift, scale, gamma, beta in
            normalizeRowsRounded(
                UnsafeBufferPointer(rebasing: x[elements]), rows: elements.count / shift.count, channels: shift.count,
                shift: shift, scale: scale, gamma: gamma, beta: beta,
                normalized: UnsafeMutableBufferPointer(rebasing: h[elements]),
                output: output.buffers + elements.lowerBound
            )
        }
    }
}

/// `normalizeRows` of Floats followed by a ReLU, the output stored as its bfloat16 rounding in
/// `output` (dk_norm_normalize_bf16: the bits of rounding `normalizeRows`' output).
func normalizeRowsRounded<T: BLASScalar>(
    _ x: UnsafeBufferPointer<T>, rows: Int, channels: Int, shift: [T], scale: [T], gamma: [T], beta: [T],
    normalized: UnsafeMutableBufferPointer<T>, output: UnsafeMutablePointer<UInt16>
) {
    precondition(T.self == Float.self, "normalizeRowsRounded: Float rows only")
    guard rows > 0 else { return }
    withChannelValues(shift, scale, gamma, beta) { shift, scale, gamma, beta in
        dk_norm_normalize_bf16(
            floats(x), rows, channels, floats(shift), floats(scale), floats(gamma), floats(beta), Int32(DK_NORM_RELU),
            0, mutableFloats(normalized), output)
    }
}

/// `normalizeRows` in Swift, the reference of the C kernel (and the Double form).
@_specialize(where T == Float)
@_specialize(where T == Double)
func referenceNormalizeRows<T: BLASScalar>(
    _ x: UnsafeBufferPointer<T>, rows: Int, channels: Int,
    shift: [T], scale: [T], gamma: [T], beta: [T], activation: ActivationKind? = nil,
    normalized: UnsafeMutableBufferPointer<T>, output: UnsafeMutableBufferPointer<T>
) {
    switch activation {
    case .relu:
        referenceNormalizeRows(
            x, rows: rows, channels: channels, shift: shift, scale: scale, gamma: gamma, beta: beta,
            normalized: normalized, output: output, { $0 <= 0 ? 0 : $0 })
    case .leakyReLU(let slope):
        let a = T(slope)
        referenceNormalizeRows(
            x, rows: rows, channels: channels, shift: shift, scale: scale, gamma: gamma, beta: beta,
            normalized: normalized, output: output, { $0 > 0 ? $0 : a * $0 })
    case nil:
        referenceNormalizeRows(
            x, rows: rows, channels: channels, shift: shift, scale: scale, gamma: gamma, beta: beta,
            normalized: normalized, output: output, { $0 })
    }
}

/// `referenceNormalizeRows` with `activation` applied to y (inlined into each caller's loop).
@inline(__always)
private func referenceNormalizeRows<T: BLASScalar>(
    _ x: UnsafeBufferPointer<T>, rows: Int, channels: Int, shift: [T], scale: [T], gamma: [T], beta: [T],
    normalized: UnsafeMutableBufferPointer<T>, output: UnsafeMutableBufferPointer<T>, _ activation: (T) -> T
) {
    shift.withUnsafeBufferPointer { shift in
        scale.withUnsafeBufferPointer { scale in
            gamma.withUnsafeBufferPointer { gamma in
                beta.withUnsafeBufferPointer { beta in
                    for r in 0..<rows {
                        let base = r &* channels
                        for c in 0..<channels {
                            let h = (x[base &+ c] - shift[c]) * scale[c]
                            normalized[base &+ c] = h
                            output[base &+ c] = activation(gamma[c] * h + beta[c])
                        }
                    }
                }
            }
        }
    }
}

/// Per-channel Σ dy and Σ dy·x̂ over the rows of [M, C]. Float runs dk_norm_gradient_sums_f32,
/// the bits of `referenceChannelGradientSums`.
@_specialize(where T == Float)
@_specialize(where T == Double)
func channelGradientSums<T: BLASScalar>(
    _ dy: UnsafeBufferPointer<T>, _ xhat: UnsafeBufferPointer<T>,
    rows: Int, channels: Int
) -> (dBeta: [Double], dGamma: [Double]) {
    guard T.self == Float.self, rows > 0 else {
        return referenceChannelGradientSums(dy, xhat, rows: rows, channels: channels)
    }
    var dBeta = [Double](repeating: 0, count: channels)
    var dGamma = [Double](repeating: 0, count: channels)
    dk_norm_gradient_sums_f32(floats(dy), floats(xhat), rows, channels, &dBeta, &dGamma)
    return (dBeta, dGamma)
}

/// `channelGradientSums` in Swift, the reference of the C kernel (and the Double form).
@_specialize(where T == Float)
@_specialize(where T == Double)
func referenceChannelGradientSums<T: BLASScalar>(
    _ dy: UnsafeBufferPointer<T>, _ xhat: UnsafeBufferPointer<T>,
    rows: Int, channels: Int
) -> (dBeta: [Double], dGamma: [Double]) {
    var dBeta = [Double](repeating: 0, count: channels)
    var dGamma = [Double](repeating: 0, count: channels)
    dBeta.withUnsafeMutableBufferPointer { b in
        dGamma.withUnsafeMutableBufferPointer { g in
            for r in 0..<rows {
                let base = r &* channels
                for c in 0..<channels {
                    let d = Double(dy[base &+ c])
                    b[c] += d
                    g[c] += d * Double(xhat[base &+ c])
                }
            }
        }
    }
    return (dBeta, dGamma)
}

/// Rows per chunk of BatchNorm's parallel per-channel reductions (about 64 Ki elements, 256 KiB
/// of Float): fixed by the shape alone, never by the thread count, so the chunks' partial
/// results, merged in chunk order, are the same bits with any number of threads.
func reductionChunkRows(channels: Int) -> Int { Swift.max(1, (1 << 16) / Swift.max(channels, 1)) }

/// Runs `chunk(rows, partial)` for every chunk of `reductionChunkRows` rows, in parallel; each
/// writes its `width` Doubles to `partial` (uninitialised). Returns the partials, chunk after
/// chunk.
private func chunkPartials(
    rows: Int, channels: Int, width: Int, _ chunk: @Sendable (Range<Int>, UnsafeMutablePointer<Double>) -> Void
) -> [Double] {
    let chunkRows = reductionChunkRows(channels: channels)
    let chunks = (rows + chunkRows - 1) / chunkRows
    return [Double](unsafeUninitializedCapacity: chunks * width) { partials, initialized in
        let shared = TaskShared(partials.baseAddress!)
        WorkerPool.shared.run(chunks) { k in
            let first = k * chunkRows
            chunk(first..<Swift.min(rows, first + chunkRows), shared.buffers + k * width)
        }
        initialized = chunks * width
    }
}

/// `channelMoments` over chunks of rows in parallel (BatchNorm's statistics over the whole
/// batch): each chunk's mean and sum of squared deviations from it, two passes over the chunk
/// while it is in cache, merged in chunk order as Chan, Golub & LeVeque (1979) do:
/// mean = Σ nᵢ·meanᵢ / M, M·σ² = Σ (M2ᵢ + nᵢ·(meanᵢ − mean)²). One read of x from memory
/// instead of two, on every core; the Double sums differ from `channelMoments`'s only by their
/// rounding.
@_specialize(where T == Float)
@_specialize(where T == Double)
func parallelChannelMoments<T: BLASScalar>(_ x: UnsafeBufferPointer<T>, rows: Int, channels: Int) -> (
    mean: [Double], variance: [Double]
) {
    let chunkRows = reductionChunkRows(channels: channels)
    guard rows > chunkRows else { return channelMoments(x, rows: rows, channels: channels) }
    let shared = TaskShared(x)
    // Per chunk: its channels' means, then their sums of squared deviations.
    let partials = chunkPartials(rows: rows, channels: channels, width: 2 * channels) { range, partial in
        let elements = (range.lowerBound * channels)..<(range.upperBound * channels)
        let (mean, variance) = channelMoments(
            UnsafeBufferPointer(rebasing: shared.buffers[elements]), rows: range.count, channels: channels)
        for c in 0..<channels {
            partial[c] = mean[c]
            partial[channels + c] = variance[c] * Double(range.count)
        }
    }
    var mean = [Double](repeating: 0, count: channels)
    var variance = [Double](repeating: 0, count: channels)
    let chunks = partials.count / (2 * channels)
    let size = { (k: Int) in Double(Swift.min(rows, (k + 1) * chunkRows) - k * chunkRows) }
    for k in 0..<chunks {
        for c in 0..<channels { mean[c] += size(k) * partials[2 * channels * k + c] }
    }
    for c in 0..<channels { mean[c] /= Double(rows) }
    for k in 0..<chunks {
        for c in 0..<channels {
            let d = partials[2 * channels * k + c] - mean[c]
            variance[c] += partials[2 * channels * k + channels + c] + size(k) * d * d
        }
    }
    for c in 0..<channels { variance[c] /= Double(rows) }
    return (mean, variance)
}

/// `channelGradientSums` over chunks of rows in parallel (BatchNorm's backward pass), the
/// chunks' sums added in chunk order.
@_specialize(where T == Float)
@_specialize(where T == Double)
func parallelChannelGradientSums<T: BLASScalar>(
    _ dy: UnsafeBufferPointer<T>, _ xhat: UnsafeBufferPointer<T>, rows: Int, channels: Int
) -> (dBeta: [Double], dGamma: [Double]) {
    let shared = TaskShared((dy, xhat))
    return parallelChannelGradientSums(rows: rows, channels: channels) { range in
        let (dy, xhat) = shared.buffers
        let elements = (range.lowerBound * channels)..<(range.upperBound * channels)
        return channelGradientSums(
            UnsafeBufferPointer(rebasing: dy[elements]), UnsafeBufferPointer(rebasing: xhat[elements]),
            rows: range.count, channels: channels)
    }
}

/// The per-channel sums that `sums(range)` gives for a range of rows, over chunks of
/// `reductionChunkRows` rows in parallel and added in chunk order (all rows at once when they
/// fit in one chunk): `parallelChannelGradientSums`'s order, whatever the sums read.
func parallelChannelGradientSums(
    rows: Int, channels: Int, _ sums: @Sendable (Range<Int>) -> (dBeta: [Double], dGamma: [Double])
) -> (dBeta: [Double], dGamma: [Double]) {
    guard rows > reductionChunkRows(channels: channels) else { return sums(0..<rows) }
    let partials = chunkPartials(rows: rows, channels: channels, width: 2 * channels) { range, partial in
        let (dBeta, dGamma) = sums(range)
        for c in 0..<channels {
            partial[c] = dBeta[c]
            partial[channels + c] = dGamma[c]
        }
    }
    var dBeta = [Double](repeating: 0, count: channels)
    var dGamma = [Double](repeating: 0, count: channels)
    for k in 0..<(partials.count / (2 * channels)) {
        for c in 0..<channels {
            dBeta[c] += partials[2 * channels * k + c]
            dGamma[c] += partials[2 * channels * k + channels + c]
        }
    }
    return (dBeta, dGamma)
}

/// `parallelChannelGradientSums` of the gradient a (leaky) ReLU received, that ReLU's backward
/// pass applied in the same pass: dy ← dy where the ReLU's output (`mask`) is > 0, else +0
/// (slope·dy for a leaky ReLU), written over dy, then summed, chunk by chunk. The bits of the
/// ReLU's `backward(inPlace:)` and then `parallelChannelGradientSums`.
func parallelRectifiedGradientSums(
    _ dy: UnsafeMutablePointer<Float>, _ xhat: UnsafePointer<Float>, mask: RectifierMask, rows: Int, channels: Int
) -> (dBeta: [Double], dGamma: [Double]) {
    // Each chunk rectifies and sums its own rows.
    let shared = TaskShared((UnsafeMutableRawPointer(dy), xhat, mask.output))
    let (rounded, (slope, leaky)) = (mask.rounded, mask.leaky)
    return parallelChannelGradientSums(rows: rows, channels: channels) { range in
        let (g, xhat, kept) = shared.buffers
        let first = range.lowerBound * channels
        var dBeta = [Double](repeating: 0, count: channels)
        var dGamma = [Double](repeating: 0, count: channels)
        let dy = g.assumingMemoryBound(to: Float.self) + first
        if rounded {
            let y = kept.assumingMemoryBound(to: UInt16.self) + first
            dk_norm_rectified_gradient_sums_bf16(
                dy, xhat + first, y, slope, leaky, range.count, channels, &dBeta, &dGamma)
        } else {
            let y = kept.assumingMemoryBound(to: Float.self) + first
            dk_norm_rectified_gradient_sums_f32(
                dy, xhat + first, y, slope, leaky, range.count, channels, &dBeta, &dGamma)
        }
        return (dBeta, dGamma)
    }
}

/// The per-channel sums Σ_r dy[r, c] of Float rows [rows × channels] in Double, over the chunks
/// of `parallelChannelGradientSums` in parallel and added in chunk order: its dβ, alone (a
/// convolution layer's bias gradient). With `rectifiedBy` (what a (leaky) ReLU after the layer
/// kept), that ReLU's backward pass is applied in the same pass and written over dy, as
/// `parallelRectifiedGradientSums` does. With `preparing`, each chunk's rows are first written
/// by `preparing(rows)` (an element-wise pass that makes dy, BatchNorm's input gradient), so the
/// sums read them from cache: the bits of that pass over all rows and then the sums.
func parallelChannelSums(
    _ dy: UnsafeMutablePointer<Float>, rows: Int, channels: Int, rectifiedBy mask: RectifierMask? = nil,
    preparing: (@Sendable (Range<Int>) -> Void)? = nil
) -> [Double] {
    guard rows > 0, channels > 0 else { return [Double](repeating: 0, count: channels) }
    let shared = TaskShared((UnsafeMutableRawPointer(dy), mask?.output))
    let (rounded, (slope, leaky)) = (mask?.rounded ?? false, mask?.leaky ?? (0, 0))
    // Each chunk (makes,) (rectifies and) sums its own rows.
    let sums = { @Sendable (range: Range<Int>, partial: UnsafeMutablePointer<Double>) in
        preparing?(range)
        let (g, kept) = shared.buffers
        let first = range.lowerBound * channels
        let dy = g.assumingMemoryBound(to: Float.self) + first
        if let kept, rounded {
            dk_rectified_channel_sums_bf16(
                dy, kept.assumingMemoryBound(to: UInt16.self) + first, slope, leaky, range.count, channels, partial)
        } else if let kept {
            dk_rectified_channel_sums_f32(
                dy, kept.assumingMemoryBound(to: Float.self) + first, slope, leaky, range.count, channels, partial)
        } else {
            dk_channel_sums_f32(dy, range.count, channels, partial)
        }
    }
    guard rows > reductionChunkRows(channels: channels) else {
        return [Double](unsafeUninitializedCapacity: channels) { total, initialized in
            sums(0..<rows, total.baseAddress!)
            initialized = channels
        }
    }
    let partials = chunkPartials(rows: rows, channels: channels, width: channels, sums)
    var total = [Double](repeating: 0, count: channels)
    for k in 0..<(partials.count / channels) {
        for c in 0..<channels { total[c] += partials[channels * k + c] }
    }
    return total
}

/// BatchNorm's input gradient, row by row over [M, C]:
/// dx = scale_c·γ_c·(dy − meanDy_c − x̂·meanDyXhat_c) (in evaluation mode both means are zero).
/// `dx` may be `dy` itself (each element is read before it is written).
@_specialize(where T == Float)
@_specialize(where T == Double)
func batchNormInputGradientRows<T: BLASScalar>(
    _ dy: UnsafeBufferPointer<T>, _ xhat: UnsafeBufferPointer<T>, rows: Int, channels: Int,
    scale: [T], gamma: [T], meanDy: [T], meanDyXhat: [T], into dx: UnsafeMutableBufferPointer<T>,
    reference: Bool = false
) {
    normInputGradientRows(
        group: false, dy, xhat, rows: rows, channels: channels, scale: scale, gamma: gamma, first: meanDy,
        second: meanDyXhat, into: dx, reference: reference)
}

/// GroupNorm's input gradient, row by row over [M, C] (one sample's rows):
/// dx = scale_c·(γ_c·dy − meanD_c − x̂·meanDH_c), with meanD and meanDH the group means of
/// d x̂ = γ·dy and of d x̂·x̂ (NormalizationKernels.swift's header). `dx` may be `dy` itself
/// (each element is read before it is written).
@_specialize(where T == Float)
@_specialize(where T == Double)
func groupNormInputGradientRows<T: BLASScalar>(
    _ dy: UnsafeBufferPointer<T>, _ xhat: UnsafeBufferPointer<T>, rows: Int, channels: Int,
    scale: [T], gamma: [T], meanD: [T], meanDH: [T], into dx: UnsafeMutableBufferPointer<T>,
    reference: Bool = false
) {
    normInputGradientRows(
        group: true, dy, xhat, rows: rows, channels: channels, scale: scale, gamma: gamma, first: meanD,
        second: meanDH, into: dx, reference: reference)
}

/// The batch (or with `group` the group) normalisation's input gradient with the per-channel
/// means `first` and `second`: Float on the C kernels (dk_norm_input_gradient_inplace_f32 when
/// `dx` is `dy`), else, and with `reference`, the Swift loops, their reference.
@_specialize(where T == Float)
@_specialize(where T == Double)
private func normInputGradientRows<T: BLASScalar>(
    group: Bool, _ dy: UnsafeBufferPointer<T>, _ xhat: UnsafeBufferPointer<T>, rows: Int, channels: Int,
    scale: [T], gamma: [T], first: [T], second: [T], into dx: UnsafeMutableBufferPointer<T>, reference: Bool
) {
    withChannelValues(scale, gamma, first, second) { scale, gamma, first, second in
        if T.self == Float.self, rows > 0, !reference {
            if UnsafeRawPointer(dy.baseAddress) == UnsafeRawPointer(dx.baseAddress) {
                dk_norm_input_gradient_inplace_f32(
                    group ? 1 : 0, mutableFloats(dx), floats(xhat), rows, channels, floats(scale), floats(gamma),
                    floats(first), floats(second))
            } else if group {
                dk_norm_group_input_gradient_f32(
                    floats(dy), floats(xhat), rows, channels, floats(scale), floats(gamma), floats(first),
                    floats(second), mutableFloats(dx))
            } else {
                dk_norm_batch_input_gradient_f32(
                    floats(dy), floats(xhat), rows, channels, floats(scale), floats(gamma), floats(first),
                    floats(second), mutableFloats(dx))
            }
            return
        }
        for r in 0..<rows {
            let base = r &* channels
            if group {
                for c in 0..<channels {
                    dx[base &+ c] = scale[c] * (gamma[c] * dy[base &+ c] - first[c] - xhat[base &+ c] * second[c])
                }
            } else {
                for c in 0..<channels {
                    dx[base &+ c] = scale[c] * gamma[c] * (dy[base &+ c] - first[c] - xhat[base &+ c] * second[c])
                }
            }
        }
    }
}

/// A Float buffer's storage as the C kernels take it (precondition: T is Float, not empty).
@inline(__always)
private func floats<T: BLASScalar>(_ buffer: UnsafeBufferPointer<T>) -> UnsafePointer<Float> {
    buffer.baseAddress!.reinterpreted()
}

/// `floats` of a mutable buffer.
@inline(__always)
private func mutableFloats<T: BLASScalar>(_ buffer: UnsafeMutableBufferPointer<T>) -> UnsafeMutablePointer<Float> {
    buffer.baseAddress!.reinterpreted()
}

/// `body` with unchecked views of four per-channel arrays (the element-wise loops then
/// vectorise: no bounds checks in them).
@inline(__always)
private func withChannelValues<T>(
    _ a: [T], _ b: [T], _ c: [T], _ d: [T],
    _ body: (UnsafeBufferPointer<T>, UnsafeBufferPointer<T>, UnsafeBufferPointer<T>, UnsafeBufferPointer<T>) -> Void
) {
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            c.withUnsafeBufferPointer { c in d.withUnsafeBufferPointer { d in body(a, b, c, d) } }
        }
    }
}

/// Adds per-channel sums into a parameter gradient.
func accumulateChannelSums<T: BLASScalar>(_ sums: [Double], into gradient: inout Tensor<T>) {
    gradient.withUnsafeMutableBufferPointer { g in
        for c in sums.indices { g[c] += T(sums[c]) }
    }
}

/// The values of an optional affine parameter, or `fill` repeated.
func affineValues<T: BLASScalar>(_ parameter: Parameter<T>?, channels: Int, fill: T) -> [T] {
    parameter?.value.scalars ?? [T](repeating: fill, count: channels)
}
