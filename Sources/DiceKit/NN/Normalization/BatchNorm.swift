// Batch normalisation (Ioffe & Szegedy 2015) on channels-last tensors, with PyTorch's
// `BatchNorm2d`/`BatchNorm3d` semantics: biased batch variance for normalising, unbiased
// variance for the running estimate, running ← (1 − momentum)·running + momentum·batch.

/// Batch normalisation over every axis but the channels, for [batch, spatial…, channels] input
/// (2-D: [N, H, W, C]; 3-D: [N, D, H, W, C]).
///
/// Training mode: x̂ = (x − μ_B)/√(σ²_B + ε) with the batch mean and biased variance per channel;
/// y = γ·x̂ + β; then `running_mean ← (1 − m)·running_mean + m·μ_B` and
/// `running_var ← (1 − m)·running_var + m·σ²_B·K/(K − 1)` (K elements per channel), and
/// `num_batches_tracked += 1`. Evaluation mode normalises with the running statistics.
///
/// Parameters, in PyTorch's state_dict order: `weight` (γ, ones), `bias` (β, zeros),
/// `running_mean` (zeros), `running_var` (ones), `num_batches_tracked` (0, saved as I64).
public final class BatchNorm<Scalar: BLASScalar>: Layer, CacheReleasing, RectifierFusing {
    /// Channel count C.
    public let channels: Int
    /// Weight of the newest batch in the running statistics (default 0.1, PyTorch's); set
    /// per batch while statistics are recomputed (`Trainer`'s weight average).
    public internal(set) var momentum: Double
    /// Added to the variance (default 1e-5, PyTorch's).
    public let epsilon: Double
    /// γ, shape [C].
    public let weight: Parameter<Scalar>
    /// β, shape [C].
    public let bias: Parameter<Scalar>
    /// Running mean, shape [C].
    public let runningMean: Parameter<Scalar>
    /// Running (unbiased) variance, shape [C].
    public let runningVariance: Parameter<Scalar>
    /// Number of training batches seen, shape [] (an integer buffer).
    public let batchesTracked: Parameter<Scalar>

    /// Shares the batch statistics with the other ranks in training mode (synchronised batch
    /// norm, see `BatchNormSynchronizer`); nil (default): this process's batch alone.
    public var synchronizer: BatchNormSynchronizer?

    /// The last forward pass's, for `backward` (nil before one, and after `releaseCache`).
    private var cache: BackwardCache?

    /// What `backward` reads of the last forward pass: x̂, the per-channel 1/√(σ² + ε), the mode,
    /// the batch's rows per channel (all ranks' when synchronised) and whether it was.
    private typealias BackwardCache = (
        xhat: Tensor<Scalar>, scale: [Scalar], mode: LayerMode, rows: Int, synchronized: Bool
    )

    /// Forgets the kept x̂ (see `CacheReleasing`).
    func releaseCache() { cache = nil }

    /// A BatchNorm for `channels` channels.
    ///
    /// - Throws: `DiceKitError.invalidOption` unless channels ≥ 1, 0 ≤ momentum ≤ 1 and
    ///   epsilon > 0.
    public init(channels: Int, momentum: Double = 0.1, epsilon: Double = 1e-5) throws {
        try requireOption(channels >= 1, "BatchNorm channels", channels, expected: "≥ 1")
        try requireOption((0...1).contains(momentum), "BatchNorm momentum", momentum, expected: "0...1")
        try requireOption(epsilon > 0, "BatchNorm epsilon", epsilon, expected: "> 0")
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        weight = Parameter(name: "weight", value: Tensor(shape: [channels], repeating: 1))
        bias = Parameter(name: "bias", value: Tensor(shape: [channels]))
        runningMean = Parameter(name: "running_mean", value: Tensor(shape: [channels]), kind: .buffer)
        runningVariance = Parameter(name: "running_var", value: Tensor(shape: [channels], repeating: 1), kind: .buffer)
        batchesTracked = Parameter(name: "num_batches_tracked", value: Tensor(shape: []), kind: .integerBuffer)
    }

    /// Sets the running statistics to their initial values (mean 0, variance 1, no batches), as
    /// PyTorch's `reset_running_stats`.
    func resetRunningStatistics() {
        runningMean.value = Tensor(shape: [channels])
        runningVariance.value = Tensor(shape: [channels], repeating: 1)
        batchesTracked.value = Tensor(shape: [])
    }

    /// `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`.
    public var parameters: [Parameter<Scalar>] { [weight, bias, runningMean, runningVariance, batchesTracked] }

    /// Normalises `input` ([N, spatial…, C]); see the type's documentation for the two modes.
    ///
    /// - Throws: `DiceKitError.shape` when the last axis is not C or the rank is below 3;
    ///   `DiceKitError.value` in training mode when a channel has a single element (no variance).
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        try forward(input, mode: mode, activation: nil)
    }

    /// `forward`, with `activation` applied to the output in the same pass (a batch
    /// normalisation + ReLU or leaky ReLU in training, SequentialLayer.forward): for a ReLU y ≤ 0
    /// (−0 included) becomes +0 and a NaN stays NaN, for a leaky ReLU y ≤ 0 becomes slope·y, as
    /// the activation's own pass, so its backward pass may read this output as its own.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func forward(_ input: Tensor<Scalar>, mode: LayerMode, activation: ActivationKind?) throws -> Tensor<Scalar> {
        try normalizedOutput(shape: input.shape, activation: activation) { try normalize(input, mode: mode, rows: $0) }
    }

    /// The training forward pass followed by a ReLU, its output stored as its bfloat16 rounding
    /// (`roundedNormalizedOutput`: the bits of rounding `forward(_:mode:activation:)`'s output),
    /// for a bfloat16 convolution that reads its input only through that rounding
    /// (SequentialLayer's training pass, handing activations over rounded): no Float output is
    /// written. Nil for a Double layer.
    func forwardRounded(_ input: Tensor<Scalar>) throws -> BFloat16Activation? {
        try roundedNormalizedOutput(shape: input.shape) { try normalize(input, mode: .training, rows: $0) }
    }

    /// Normalises `input` with the statistics of a pass in `mode` (`statistics`): `rows` over
    /// ranges of its rows in parallel; keeps x̂ and the statistics for `backward`.
    ///
    /// - Throws: as `statistics`.
    private func normalize(_ input: Tensor<Scalar>, mode: LayerMode, rows: @escaping NormalizedRowsPass<Scalar>)
        throws
    {
        let (shift, scale, count, synchronized) = try statistics(input, mode: mode)
        let (localRows, c) = (input.count / channels, channels)
        // Every element is written below (rows × channels): no zeroing.
        var xhat = Tensor<Scalar>.uninitialised(input.shape)
        let (gamma, beta) = (weight.value.scalars, bias.value.scalars)
        input.withUnsafeBufferPointer { x in
            xhat.withUnsafeMutableBufferPointer { h in
                // Element-wise: rows in parallel give the same bits as one pass.
                let shared = TaskShared((x, h, shift, scale, gamma, beta))
                WorkerPool.shared.forEachRange(localRows, grain: Swift.max(1, (1 << 16) / c)) { range in
                    let (x, h, shift, scale, gamma, beta) = shared.buffers
                    rows(x, h, (range.lowerBound * c)..<(range.upperBound * c), shift, scale, gamma, beta)
                }
            }
        }
        cache = (xhat, scale, mode, count, synchronized)
    }

    /// The shift (mean) and scale (1/√(var + ε)) per channel of a pass in `mode`: the batch's
    /// (over every rank with a synchronizer), which also updates the running statistics, in
    /// training; the running ones otherwise. Also the rows the statistics count and whether they
    /// were synchronised.
    ///
    /// - Throws: `DiceKitError.shape` for a bad input; `DiceKitError.value` for one value per
    ///   channel in training.
    private func statistics(_ input: Tensor<Scalar>, mode: LayerMode) throws -> (
        shift: [Scalar], scale: [Scalar], rows: Int, synchronized: Bool
    ) {
        let (n, s, c) = try normalizationExtents(input.shape, channels: channels, layer: "BatchNorm")
        let localRows = n * s
        var rows = localRows
        let synchronized = mode == .training && synchronizer != nil
        var shift = [Scalar](repeating: 0, count: c)
        var scale = [Scalar](repeating: 0, count: c)
        if mode == .training {
            var (mean, variance) = input.withUnsafeBufferPointer {
                parallelChannelMoments($0, rows: localRows, channels: c)
            }
            if let synchronizer {
                (rows, mean, variance) = try synchronizer.merge(rows: rows, mean: mean, variance: variance)
            }
            guard rows > 1 else {
                throw DiceKitError.value(
                    "BatchNorm: \(rows) value(s) per channel in training mode; expected more than 1 (shape \(input.shape))"
                )
            }
            var newMean = runningMean.value.scalars
            var newVariance = runningVariance.value.scalars
            for k in 0..<c {
                shift[k] = Scalar(mean[k])
                scale[k] = Scalar(1 / (variance[k] + epsilon).squareRoot())
                newMean[k] = Scalar((1 - momentum) * Double(newMean[k]) + momentum * mean[k])
                let unbiased = variance[k] * Double(rows) / Double(rows - 1)
                newVariance[k] = Scalar((1 - momentum) * Double(newVariance[k]) + momentum * unbiased)
            }
            runningMean.value.scalars = newMean
            runningVariance.value.scalars = newVariance
            batchesTracked.value.scalars = [batchesTracked.value.scalars[0] + 1]
        } else {
            for k in 0..<c {
                shift[k] = runningMean.value.scalars[k]
                scale[k] = Scalar(1 / (Double(runningVariance.value.scalars[k]) + epsilon).squareRoot())
            }
        }
        return (shift, scale, rows, synchronized)
    }

    /// d(loss)/d(input); adds d(loss)/dγ and d(loss)/dβ into the parameter gradients.
    ///
    /// In training mode the batch statistics depend on the input, which the gradient accounts
    /// for; in evaluation mode the running statistics are constants (dx = γ·dy/√(var + ε)).
    ///
    /// - Throws: `DiceKitError.shape` when `outputGradient`'s shape differs from the last output's.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        let cache = try backwardCache(outputGradient.shape)
        let c = channels
        let sums = outputGradient.withUnsafeBufferPointer { dy in
            cache.xhat.withUnsafeBufferPointer { h in
                parallelChannelGradientSums(dy, h, rows: outputGradient.count / c, channels: c)
            }
        }
        guard let means = try inputGradientMeans(sums, cache) else { return Tensor(shape: outputGradient.shape) }
        // Every element is written below: no zeroing.
        var inputGradient = Tensor<Scalar>.uninitialised(outputGradient.shape)
        // No sums asked for: the rows' return value (their sums when `summing`) is nil.
        _ = outputGradient.withUnsafeBufferPointer { dy in
            inputGradient.withUnsafeMutableBufferPointer { dx in inputGradientRows(dy, into: dx, cache, means) }
        }
        return inputGradient
    }

    /// `backward` of the gradient a (leaky) ReLU after this layer received, that ReLU's backward
    /// pass applied in the same pass as the sums (`kept` is what the ReLU kept: its output, in
    /// Float or rounded, and its slope), the input gradient written over `gradient`: the bits of
    /// the ReLU's `backward(inPlace:)` and then `backward`, with one pass over the gradient fewer
    /// and no new tensor (SequentialLayer's backward pass). Float only.
    ///
    /// - Throws: `DiceKitError.shape` when `gradient`'s or `kept`'s shape differs from the last
    ///   output's.
    func backward(inPlace gradient: inout Tensor<Scalar>, rectifiedBy kept: KeptRectifierOutput<Scalar>) throws {
        _ = try backward(inPlace: &gradient, rectifiedBy: kept, summingInputGradient: false)
    }

    /// `backward(inPlace:rectifiedBy:)`, and with `summingInputGradient` the per-channel sums of
    /// the input gradient it writes, in Double (`parallelChannelSums`: the bias gradient of a
    /// convolution before this layer), made chunk by chunk as the input gradient is written, so
    /// they read it from cache rather than in a pass of their own (SequentialLayer's backward
    /// pass); the same bits as `parallelChannelSums` of the input gradient. Float only.
    ///
    /// - Throws: as `backward(inPlace:rectifiedBy:)`.
    func backward(
        inPlace gradient: inout Tensor<Scalar>, rectifiedBy kept: KeptRectifierOutput<Scalar>,
        summingInputGradient: Bool
    ) throws -> [Double]? {
        precondition(Scalar.self == Float.self, "BatchNorm: the fused ReLU backward pass runs in Float")
        let cache = try backwardCache(gradient.shape)
        try kept.check(gradientShape: gradient.shape, layer: "BatchNorm")
        let c = channels
        let zeroSums = summingInputGradient ? [Double](repeating: 0, count: c) : nil
        guard gradient.count > 0 else {
            gradient = try backward(gradient) ?? gradient // nothing to rectify
            return zeroSums
        }
        let sums = gradient.withUnsafeMutableBufferPointer { g in
            cache.xhat.withUnsafeBufferPointer { h in
                kept.withMask { mask in
                    parallelRectifiedGradientSums(
                        UnsafeMutableRawPointer(g.baseAddress!).assumingMemoryBound(to: Float.self),
                        UnsafeRawPointer(h.baseAddress!).assumingMemoryBound(to: Float.self), mask: mask,
                        rows: g.count / c, channels: c)
                }
            }
        }
        guard let means = try inputGradientMeans(sums, cache) else {
            gradient = Tensor(shape: gradient.shape)
            return zeroSums
        }
        return gradient.withUnsafeMutableBufferPointer { g in
            inputGradientRows(UnsafeBufferPointer(g), into: g, cache, means, summing: summingInputGradient)
        }
    }

    /// The last training or evaluation pass's cache, when `shape` is its output's.
    private func backwardCache(_ shape: [Int]) throws -> BackwardCache {
        guard let cache, cache.xhat.shape == shape else {
            throw DiceKitError.shape(
                "BatchNorm.backward: gradient shape \(shape); expected the last output's \(self.cache?.xhat.shape ?? [])"
            )
        }
        return cache
    }

    /// Adds this rank's dβ = Σdy and dγ = Σdy·x̂ (`sums`) into the parameter gradients, and gives
    /// the input gradient's per-channel means Σdy/K and Σdy·x̂/K over the whole batch (zero in
    /// evaluation mode); nil on a synchronised rank that contributes no input gradient.
    private func inputGradientMeans(
        _ sums: (dBeta: [Double], dGamma: [Double]), _ cache: BackwardCache
    ) throws -> (dy: [Scalar], dyXhat: [Scalar])? {
        var (dBeta, dGamma) = sums
        // This rank's share of dγ and dβ (the trainer sums the parameter gradients over the
        // ranks); the input gradient needs the whole batch's sums.
        accumulateChannelSums(dBeta, into: &bias.gradient)
        accumulateChannelSums(dGamma, into: &weight.gradient)
        if cache.synchronized, let synchronizer {
            (dBeta, dGamma) = try synchronizer.sum(dBeta, dGamma)
            if !synchronizer.contributes { return nil }
        }
        let training = cache.mode == .training
        let rows = Double(cache.rows)
        return (dBeta.map { Scalar(training ? $0 / rows : 0) }, dGamma.map { Scalar(training ? $0 / rows : 0) })
    }

    /// dx = scale·γ·(dy − [Σdy + x̂·Σdy·x̂]/K) in training mode, scale·γ·dy in evaluation mode,
    /// over ranges of rows in parallel (element-wise: the same bits as one pass); `dx` may be `dy`.
    /// With `summing` (Float), the ranges are `parallelChannelSums`' chunks, each summed per
    /// channel just after it is written, and the sums are returned (else nil).
    @discardableResult
    private func inputGradientRows(
        _ dy: UnsafeBufferPointer<Scalar>, into dx: UnsafeMutableBufferPointer<Scalar>, _ cache: BackwardCache,
        _ means: (dy: [Scalar], dyXhat: [Scalar]), summing: Bool = false
    ) -> [Double]? {
        let c = channels
        return cache.xhat.withUnsafeBufferPointer { h in
            let shared = TaskShared((dy, h, dx, cache.scale, weight.value.scalars, means.dy, means.dyXhat))
            let rows = { @Sendable (range: Range<Int>) in
                let (dy, h, dx, scale, gamma, meanBeta, meanGamma) = shared.buffers
                let elements = (range.lowerBound * c)..<(range.upperBound * c)
                batchNormInputGradientRows(
                    UnsafeBufferPointer(rebasing: dy[elements]), UnsafeBufferPointer(rebasing: h[elements]),
                    rows: range.count, channels: c, scale: scale, gamma: gamma, meanDy: meanBeta,
                    meanDyXhat: meanGamma, into: UnsafeMutableBufferPointer(rebasing: dx[elements]))
            }
            guard summing else {
                WorkerPool.shared.forEachRange(dy.count / c, grain: Swift.max(1, (1 << 16) / c), rows)
                return nil
            }
            precondition(Scalar.self == Float.self, "BatchNorm: the input gradient's sums are made in Float")
            let written = UnsafeMutableRawPointer(dx.baseAddress!).assumingMemoryBound(to: Float.self)
            return parallelChannelSums(written, rows: dy.count / c, channels: c, preparing: rows)
        }
    }
}
