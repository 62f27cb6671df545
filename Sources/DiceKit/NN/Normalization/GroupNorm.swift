// Group normalisation (Wu & He 2018) on channels-last tensors, with PyTorch's `GroupNorm`
// semantics: each sample's own statistics in training and evaluation alike. InstanceNorm.swift
// builds on it.
//
// Per sample, the per-channel moments over S positions (m_c, v_c) give the group moments
// exactly (equal counts per channel): μ_g = mean_c∈g m_c, σ²_g = mean_c∈g (v_c + (m_c − μ_g)²).
//
// Work split: a sample at a time, each pass over its rows on the worker pool. The moments and
// the gradient sums run over fixed chunks of rows merged in chunk order, as BatchNorm's
// (`parallelChannelMoments`, `parallelChannelGradientSums`); the element-wise passes over
// ranges of rows. The chunks depend on the shape alone, so the bits do not depend on the thread
// count. (Before 2026-12-05 every pass ran on the calling thread; Benchmarks/AMD-Zen4.md,
// "Normalisation on the worker pool and in C".)

/// Group normalisation for [batch, spatial…, channels] input: the C channels are split into G
/// contiguous groups, and each (sample, group) is normalised over its spatial positions and
/// channels: x̂ = (x − μ)/√(σ² + ε) (biased variance), y = γ_c·x̂ + β_c.
///
/// Parameters (with `affine`, PyTorch's default for GroupNorm): `weight` (γ, ones) and `bias`
/// (β, zeros), shape [C]. No buffers; `mode` makes no difference.
public final class GroupNorm<Scalar: BLASScalar>: Layer, CacheReleasing, RectifierFusing {
    /// Group count G; C must be a multiple of it.
    public let groups: Int
    /// Channel count C.
    public let channels: Int
    /// Added to the variance (default 1e-5).
    public let epsilon: Double
    /// γ, shape [C], or nil without affine parameters.
    public let weight: Parameter<Scalar>?
    /// β, shape [C], or nil without affine parameters.
    public let bias: Parameter<Scalar>?

    private let layerName: String
    private var cache: (xhat: Tensor<Scalar>, scale: [[Scalar]])?

    /// Forgets the kept x̂ (see `CacheReleasing`).
    func releaseCache() { cache = nil }

    /// A GroupNorm with `groups` groups over `channels` channels.
    ///
    /// - Parameter affine: default true (learnable γ and β).
    /// - Throws: `DiceKitError.invalidOption` unless channels ≥ 1, groups ≥ 1 divides channels
    ///   and epsilon > 0.
    public convenience init(groups: Int, channels: Int, epsilon: Double = 1e-5, affine: Bool = true) throws {
        try self.init(groups: groups, channels: channels, epsilon: epsilon, affine: affine, layerName: "GroupNorm")
    }

    init(groups: Int, channels: Int, epsilon: Double, affine: Bool, layerName: String) throws {
        try requireOption(channels >= 1, "\(layerName) channels", channels, expected: "≥ 1")
        try requireOption(
            groups >= 1 && channels % groups == 0, "\(layerName) groups", groups,
            expected: "a divisor of the \(channels) channels")
        try requireOption(epsilon > 0, "\(layerName) epsilon", epsilon, expected: "> 0")
        self.groups = groups
        self.channels = channels
        self.epsilon = epsilon
        self.layerName = layerName
        weight = affine ? Parameter(name: "weight", value: Tensor(shape: [channels], repeating: 1)) : nil
        bias = affine ? Parameter(name: "bias", value: Tensor(shape: [channels])) : nil
    }

    /// `weight` and `bias` with affine parameters; none otherwise.
    public var parameters: [Parameter<Scalar>] { [weight, bias].compactMap { $0 } }

    /// Normalises each (sample, group) of `input` ([N, spatial…, C]); `mode` is ignored.
    ///
    /// - Throws: `DiceKitError.shape` when the last axis is not C or the rank is below 3.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        try forward(input, mode: mode, activation: nil)
    }

    /// `forward`, with `activation` (a ReLU, or a leaky ReLU with a slope ≥ 0) applied to the
    /// output in the same pass (a normalisation + activation in training, SequentialLayer.forward):
    /// the bits of the activation's own pass, so its backward pass may read this output as its own.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func forward(_ input: Tensor<Scalar>, mode: LayerMode, activation: ActivationKind?) throws -> Tensor<Scalar> {
        try normalizedOutput(shape: input.shape, activation: activation) { try normalize(input, rows: $0) }
    }

    /// The forward pass followed by a ReLU, its output stored as its bfloat16 rounding
    /// (`roundedNormalizedOutput`: the bits of rounding `forward(_:mode:activation:)`'s output,
    /// no Float output written). Nil for a Double layer.
    func forwardRounded(_ input: Tensor<Scalar>) throws -> BFloat16Activation? {
        try roundedNormalizedOutput(shape: input.shape) { try normalize(input, rows: $0) }
    }

    /// Normalises `input` sample by sample: the statistics of each (sample, group), then `rows`
    /// over ranges of each sample's positions in parallel; keeps x̂ and the scales for `backward`.
    ///
    /// - Throws: `DiceKitError.shape` when the last axis is not C or the rank is below 3.
    private func normalize(_ input: Tensor<Scalar>, rows: @escaping NormalizedRowsPass<Scalar>) throws {
        let (n, s, c) = try normalizationExtents(input.shape, channels: channels, layer: layerName)
        let width = c / groups
        let gamma = affineValues(weight, channels: c, fill: 1)
        let beta = affineValues(bias, channels: c, fill: 0)
        // Every element is written below (sample by sample): no zeroing.
        var xhat = Tensor<Scalar>.uninitialised(input.shape)
        var scales = [[Scalar]]()
        input.withUnsafeBufferPointer { x in
            xhat.withUnsafeMutableBufferPointer { h in
                for sample in 0..<n {
                    let range = (sample * s * c)..<((sample + 1) * s * c)
                    let block = UnsafeBufferPointer(rebasing: x[range])
                    let (mean, variance) = parallelChannelMoments(block, rows: s, channels: c)
                    var shift = [Scalar](repeating: 0, count: c)
                    var scale = [Scalar](repeating: 0, count: c)
                    for g in 0..<groups {
                        let members = (g * width)..<((g + 1) * width)
                        let mu = members.reduce(0.0) { $0 + mean[$1] } / Double(width)
                        let sigma2 =
                            members.reduce(0.0) { $0 + variance[$1] + (mean[$1] - mu) * (mean[$1] - mu) }
                            / Double(width)
                        for k in members {
                            shift[k] = Scalar(mu)
                            scale[k] = Scalar(1 / (sigma2 + epsilon).squareRoot())
                        }
                    }
                    // Element-wise: rows in parallel give the same bits as one pass.
                    let shared = TaskShared((x, h, shift, scale, gamma, beta))
                    let first = range.lowerBound
                    WorkerPool.shared.forEachRange(s, grain: Swift.max(1, (1 << 16) / c)) { positions in
                        let (x, h, shift, scale, gamma, beta) = shared.buffers
                        rows(
                            x, h, (first + positions.lowerBound * c)..<(first + positions.upperBound * c), shift,
                            scale, gamma, beta)
                    }
                    scales.append(scale)
                }
            }
        }
        cache = (xhat, scales)
    }

    /// d(loss)/d(input); adds d(loss)/dγ and d(loss)/dβ into the parameter gradients (if affine).
    ///
    /// - Throws: `DiceKitError.shape` when `outputGradient`'s shape differs from the last output's.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        let cache = try backwardCache(outputGradient.shape)
        // Every element is written below: no zeroing.
        var inputGradient = Tensor<Scalar>.uninitialised(outputGradient.shape)
        outputGradient.withUnsafeBufferPointer { dy in
            inputGradient.withUnsafeMutableBufferPointer { dx in
                inputGradientRows(dy, rectifiedBy: nil, into: dx, cache)
            }
        }
        return inputGradient
    }

    /// `backward` with the (leaky) ReLU after this layer applied as `BatchNorm.backward(inPlace:
    /// rectifiedBy:)` applies it (InstanceNorm's too). Float only.
    ///
    /// - Throws: `DiceKitError.shape` when `gradient`'s or `kept`'s shape differs from the last
    ///   output's.
    func backward(inPlace gradient: inout Tensor<Scalar>, rectifiedBy kept: KeptRectifierOutput<Scalar>) throws {
        precondition(Scalar.self == Float.self, "\(layerName): the fused ReLU backward pass runs in Float")
        let cache = try backwardCache(gradient.shape)
        try kept.check(gradientShape: gradient.shape, layer: layerName)
        guard gradient.count > 0 else { return } // nothing to rectify, no sums
        gradient.withUnsafeMutableBufferPointer { g in
            kept.withMask { mask in inputGradientRows(UnsafeBufferPointer(g), rectifiedBy: mask, into: g, cache) }
        }
    }

    /// The last forward pass's cache, when `shape` is its output's.
    private func backwardCache(_ shape: [Int]) throws -> (xhat: Tensor<Scalar>, scale: [[Scalar]]) {
        guard let cache, cache.xhat.shape == shape else {
            throw DiceKitError.shape(
                "\(layerName).backward: gradient shape \(shape); expected the last output's \(self.cache?.xhat.shape ?? [])"
            )
        }
        return cache
    }

    /// The input gradient of `dy` into `dx` (which may be `dy`), sample by sample, and the
    /// parameter gradients: with `mask` (Float only), the ReLU's backward pass is applied to dy,
    /// and written over it, in the pass that sums it.
    private func inputGradientRows(
        _ dy: UnsafeBufferPointer<Scalar>, rectifiedBy mask: RectifierMask?,
        into dx: UnsafeMutableBufferPointer<Scalar>,
        _ cache: (xhat: Tensor<Scalar>, scale: [[Scalar]])
    ) {
        let (n, c) = (cache.xhat.shape[0], channels)
        let s = dy.count / max(n * c, 1)
        let width = c / groups
        let count = Double(s * width)
        let gamma = affineValues(weight, channels: c, fill: 1)
        var totalBeta = [Double](repeating: 0, count: c)
        var totalGamma = [Double](repeating: 0, count: c)
        cache.xhat.withUnsafeBufferPointer { h in
            for sample in 0..<n {
                let range = (sample * s * c)..<((sample + 1) * s * c)
                let (dBeta, dGamma) =
                    if let mask {
                        parallelRectifiedGradientSums(
                            UnsafeMutableRawPointer(mutating: dy.baseAddress! + range.lowerBound)
                                .assumingMemoryBound(to: Float.self),
                            UnsafeRawPointer(h.baseAddress! + range.lowerBound).assumingMemoryBound(to: Float.self),
                            mask: mask.advanced(by: range.lowerBound), rows: s, channels: c)
                    } else {
                        parallelChannelGradientSums(
                            UnsafeBufferPointer(rebasing: dy[range]), UnsafeBufferPointer(rebasing: h[range]), rows: s,
                            channels: c)
                    }
                // Per group: mean(d x̂) and mean(d x̂·x̂) with d x̂ = γ_c·dy.
                var meanD = [Scalar](repeating: 0, count: c)
                var meanDH = [Scalar](repeating: 0, count: c)
                for g in 0..<groups {
                    let members = (g * width)..<((g + 1) * width)
                    let a = members.reduce(0.0) { $0 + Double(gamma[$1]) * dBeta[$1] } / count
                    let b = members.reduce(0.0) { $0 + Double(gamma[$1]) * dGamma[$1] } / count
                    for k in members { (meanD[k], meanDH[k]) = (Scalar(a), Scalar(b)) }
                }
                for k in 0..<c {
                    totalBeta[k] += dBeta[k]
                    totalGamma[k] += dGamma[k]
                }
                // Element-wise: rows in parallel give the same bits as one pass.
                let shared = TaskShared((dy, h, dx, cache.scale[sample], gamma, meanD, meanDH))
                let first = range.lowerBound
                WorkerPool.shared.forEachRange(s, grain: Swift.max(1, (1 << 16) / c)) { rows in
                    let (dy, h, dx, scale, gamma, meanD, meanDH) = shared.buffers
                    let elements = (first + rows.lowerBound * c)..<(first + rows.upperBound * c)
                    groupNormInputGradientRows(
                        UnsafeBufferPointer(rebasing: dy[elements]), UnsafeBufferPointer(rebasing: h[elements]),
                        rows: rows.count, channels: c, scale: scale, gamma: gamma, meanD: meanD,
                        meanDH: meanDH, into: UnsafeMutableBufferPointer(rebasing: dx[elements]))
                }
            }
        }
        if let weight, let bias {
            accumulateChannelSums(totalBeta, into: &bias.gradient)
            accumulateChannelSums(totalGamma, into: &weight.gradient)
        }
    }
}
