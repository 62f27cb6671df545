// Evaluation-mode fusion of a convolution with the batch normalisation and ReLU after it
// (SequentialLayer.forward in `.evaluation`): one pass over the output instead of three.
//
// Batch normalisation in evaluation mode is an affine map per output channel c,
//
//   BN(y)_c = γ_c · (y_c − μ_c) / √(σ²_c + ε) + β_c = s_c · y_c + (β_c − s_c · μ_c),   s_c = γ_c / √(σ²_c + ε),
//
// and y_c = Σ W[…, c] · x + b_c, so BN(conv(x)) = conv'(x) with
//
//   W′[…, c] = s_c · W[…, c],   b′_c = s_c · (b_c − μ_c) + β_c
//
// (computed in Double, then rounded once): exactly the same function, up to Float rounding. ReLU
// is then applied by the convolution's output pass (the direct kernels' stores, or the lowered
// path's tiles while in cache). Nothing is cached for `backward`: a fused forward is for
// inference only, and `backward` after it throws as before any forward.

extension ConvolutionLayer {
    /// max(0, ·) of the convolution (when `rectified`) after folding `normalization`'s running
    /// statistics and affine parameters into the kernel and bias (when given), of `input`: a
    /// tensor, a channel concatenation (joined where the kernels copy the input anyway,
    /// `Convolution.forward(concatenating:rectified:)`), or a tensor's bfloat16 rounding.
    ///
    /// The folded convolution is kept while neither layer's parameters change.
    ///
    /// - Throws: `DiceKitError.shape` when the parts do not concatenate, the input does not fit
    ///   the kernel, or the normalisation's channel count is not the convolution's output
    ///   channel count.
    /// With `roundsOutput` the output is its bfloat16 rounding (GriddedHandOver.swift).
    func evaluationForward(
        _ input: ForwardInput<Scalar>, folding normalization: BatchNorm<Scalar>?, rectified: Bool,
        roundsOutput: Bool = false
    ) throws -> Tensor<Scalar> {
        try evaluationConvolution(folding: normalization).forward(
            input, rectified: rectified, roundsOutput: roundsOutput)
    }

    /// `evaluationForward`'s output as its bfloat16 rounding, stored by the kernels
    /// (RoundedForward.swift), when this pass runs on the bfloat16 kernels and its readers would
    /// round the output anyway: `consumer` alone, taking it so (`evaluationReadsRounded`), or with
    /// no consumer given, readers the caller has checked (a U-Net block's output,
    /// UNet+HandOver.swift). nil otherwise, with nothing run.
    ///
    /// - Throws: as `evaluationForward`.
    func evaluationRoundedForward(
        _ input: ForwardInput<Scalar>, folding normalization: BatchNorm<Scalar>?, rectified: Bool,
        feeding consumer: ConvolutionLayer<Scalar>? = nil
    ) throws -> BFloat16Activation? {
        guard precision == .bfloat16 else { return nil }
        let convolution = try evaluationConvolution(folding: normalization)
        let shape = try input.shape()
        guard convolution.forwardRoundsOperands(shape) else { return nil }
        if let consumer {
            guard let outputShape = try? convolution.outputShape(for: shape),
                consumer.evaluationReadsRounded(ofShape: outputShape)
            else { return nil }
        }
        return try convolution.roundedForward(input, rectified: rectified, kept: false)
    }

    /// `head`'s logits of `evaluationForward(input, folding:rectified:)`, computed in this
    /// convolution's stores (FusedHead.swift) where its pass runs on the bfloat16 dot-product or
    /// tile kernels and `head`, a Float 1×1 convolution, on the few-channel kernel
    /// (`Convolution.fusesHead`): the same bits as `head.forward` of that output, which is not
    /// written. nil otherwise, with nothing run.
    ///
    /// - Throws: as `evaluationForward`.
    func evaluationForward(
        _ input: ForwardInput<Scalar>, folding normalization: BatchNorm<Scalar>?, rectified: Bool,
        head: ConvolutionLayer<Scalar>
    ) throws -> Tensor<Scalar>? {
        guard precision == .bfloat16, head.precision == .float, Scalar.self == Float.self else { return nil }
        let convolution = try evaluationConvolution(folding: normalization)
        guard convolution.fusesHead(try head.convolutionFromParameters(), inputShape: try input.shape()) else {
            return nil
        }
        // A 1×1 kernel in PyTorch's layout [classes, features, 1…] is the [classes × features]
        // matrix the stores read.
        let (weight, bias) = (
            head.weight.value.reinterpreted(as: Float.self), head.bias.value.reinterpreted(as: Float.self)
        )
        return try weight.withUnsafeBufferPointer { pw in
            try bias.withUnsafeBufferPointer { pb in
                try convolution.forward(
                    input, rectified: rectified,
                    head: FusedHead(weight: pw.baseAddress!, bias: pb.baseAddress, classes: pb.count))
            }
        }
    }

    /// Whether an evaluation forward pass of an input of `shape` runs on the bfloat16 kernels,
    /// which read it only through its rounding (the folded convolution's geometry is the
    /// layer's): it may then be handed that rounding (`.rounded`, or `.joinedWithRounded`).
    func evaluationReadsRounded(ofShape shape: [Int]) -> Bool {
        bfloat16Convolution()?.forwardRoundsOperands(shape) ?? false
    }

    /// The evaluation-mode convolution: `normalization` folded in, kept while neither layer's
    /// parameters change; drops what a training forward pass kept.
    private func evaluationConvolution(folding normalization: BatchNorm<Scalar>?) throws -> Convolution<Scalar> {
        let key = [weight.version, bias.version] + (normalization?.parameters.map(\.version) ?? [])
        var convolution: Convolution<Scalar>
        if let kept = folded, kept.key == key, kept.normalization === normalization {
            convolution = kept.convolution
        } else {
            convolution = try foldedConvolution(normalization)
            folded = (convolution, key, normalization)
        }
        keptInput.keep(nil)
        cachedConvolution = nil
        convolution.settings.precision = precision
        return convolution
    }

    /// The convolution with `normalization` folded in (the layer's own without it).
    private func foldedConvolution(_ normalization: BatchNorm<Scalar>?) throws -> Convolution<Scalar> {
        let kernel = try pyTorchToGEMM(weight.value)
        guard let bn = normalization else {
            return try Convolution(weight: kernel, bias: bias.value, stride: stride, padding: padding)
        }
        let channels = bias.value.count
        guard bn.channels == channels else {
            throw DiceKitError.shape(
                "BatchNorm of \(bn.channels) channels after a convolution of \(channels) output channels; expected \(channels)"
            )
        }
        var scale = [Double](repeating: 0, count: channels)
        var shifted = [Scalar](repeating: 0, count: channels)
        for c in 0..<channels {
            let variance = Double(bn.runningVariance.value.scalars[c])
            scale[c] = Double(bn.weight.value.scalars[c]) / (variance + bn.epsilon).squareRoot()
            let mean = Double(bn.runningMean.value.scalars[c])
            shifted[c] = Scalar(scale[c] * (Double(bias.value.scalars[c]) - mean) + Double(bn.bias.value.scalars[c]))
        }
        // The kernel's last axis is the output channel (DiceKit's layout [k…, Cin, Cout]).
        var scaled = kernel.scalars
        for i in scaled.indices { scaled[i] = Scalar(Double(scaled[i]) * scale[i % channels]) }
        return try Convolution(
            weight: Tensor(shape: kernel.shape, scalars: scaled), bias: Tensor(shape: [channels], scalars: shifted),
            stride: stride, padding: padding)
    }
}
