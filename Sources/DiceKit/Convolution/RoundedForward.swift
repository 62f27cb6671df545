// bfloat16 forward passes that hand their output to the next bfloat16 convolution as its
// rounding (SequentialLayer's evaluation mode: the first convolution of a U-Net block feeding the
// second). The next convolution reads its input only through its bfloat16 rounding (its padded
// copy rounds it), so the first one's kernels store that rounding directly (dk_conv_geometry's
// round_output, after the bias and the ReLU) and the next one copies the bits
// (`LoweredPass.xRounded`): the same values as with a Float tensor between them, which is never
// written, read or rounded (half the bytes written, and one pass over the activation fewer).

internal import CDiceKitKernels

/// The input of a forward pass: a tensor, or the channel concatenation of several (`parts`), or
/// a Float tensor given as its bfloat16 rounding.
enum ForwardInput<Scalar: BLASScalar> {
    case parts([Tensor<Scalar>])
    case rounded(BFloat16Activation)
    /// Parts whose values are bfloat16 values (an output stored rounded for a rounded-operand
    /// convolution, GriddedHandOver.swift): the same tensors as `.parts`, which that
    /// convolution reads without rounding them again.
    case gridded([Tensor<Scalar>])
    /// The channel concatenation of a tensor (Float, or its rounding) and a tensor given as its
    /// bfloat16 rounding, in that order (a U-Net decoder's up-sampled tensor and its skip,
    /// handed over rounded in evaluation mode, UNet+HandOver.swift): the bfloat16 kernels'
    /// padded copies round a Float part and copy the bits of a rounded one (`ChannelPart`), so
    /// the skip is never widened.
    case joinedWithRounded(HandedTensor<Scalar>, BFloat16Activation)

    /// The input's shape (the concatenation's, for parts).
    ///
    /// - Throws: `DiceKitError.shape` when the parts do not concatenate.
    func shape() throws -> [Int] {
        switch self {
        case .parts(let parts), .gridded(let parts): try Tensor<Scalar>.concatenatedChannelShape(parts.map(\.shape))
        case .rounded(let rounded): rounded.shape
        case .joinedWithRounded(let first, let second):
            try Tensor<Scalar>.concatenatedChannelShape([first.shape, second.shape])
        }
    }

    /// Whether the input is one Float tensor; a rounding or several parts are what a convolution
    /// may take as they are (`ConvolutionLayer.forward(_:rectified:)`).
    var isOneFloatTensor: Bool {
        switch self {
        case .parts(let parts), .gridded(let parts): parts.count == 1
        case .rounded, .joinedWithRounded: false
        }
    }

    /// Whether the input is one tensor's rounding (`.rounded`).
    var isRounded: Bool {
        if case .rounded = self { return true }
        return false
    }

    /// The input as one tensor: the parts concatenated, or the rounding widened (exact).
    func tensor() throws -> Tensor<Scalar> {
        switch self {
        case .parts(let parts), .gridded(let parts):
            parts.count == 1 ? parts[0] : try Tensor.concatenatingChannels(parts)
        case .rounded(let rounded): rounded.widened()
        case .joinedWithRounded(let first, let second):
            try Tensor.concatenatingChannels([first.tensor(), second.widened()])
        }
    }
}

/// A tensor handed between evaluation passes as Float values or as the bits of its bfloat16
/// rounding (a U-Net's up-sampled tensor, UNet+HandOver.swift).
enum HandedTensor<Scalar: BLASScalar> {
    case float(Tensor<Scalar>)
    case rounded(BFloat16Activation)

    /// The tensor's shape.
    var shape: [Int] {
        switch self {
        case .float(let tensor): tensor.shape
        case .rounded(let rounded): rounded.shape
        }
    }

    /// The Float tensor (a rounding widened: exact).
    func tensor() -> Tensor<Scalar> {
        switch self {
        case .float(let tensor): tensor
        case .rounded(let rounded): rounded.widened()
        }
    }
}

extension BFloat16Activation {
    /// Uninitialised bits for a tensor of `shape`, for a pass to write; in the mapping pool of
    /// kept activations when `kept` (BFloat16Storage.swift), else in malloc's heap.
    init(uninitializedShape shape: [Int], kept: Bool) {
        self.shape = shape
        storage = BFloat16Storage(count: shape.reduce(1, *), mappable: kept)
    }
}

extension Convolution {
    /// `forward(_:rectified:)` of `input` in any of its forms (a rounded input read as it is
    /// where the forward pass rounds its input, else widened first: the same values). With
    /// `roundsOutput` the output is its bfloat16 rounding (`LoweredPass.roundsOutput`).
    ///
    /// - Throws: as `forward(concatenating:rectified:)`.
    func forward(_ input: ForwardInput<Scalar>, rectified: Bool, roundsOutput: Bool = false) throws -> Tensor<Scalar> {
        switch input {
        case .parts(let parts):
            return try forward(concatenating: parts, rectified: rectified, grid: BFloat16Grid(output: roundsOutput))
        case .gridded(let parts):
            return try forward(
                concatenating: parts, rectified: rectified, grid: BFloat16Grid(input: true, output: roundsOutput))
        case .rounded(let rounded):
            guard forwardTakesRoundedInput(rounded.shape) else {
                return try forward(
                    rounded.widened(), rectified: rectified, grid: BFloat16Grid(input: true, output: roundsOutput))
            }
            return try forward(rounded: rounded, rectified: rectified, roundsOutput: roundsOutput)
        case .joinedWithRounded(let first, let second):
            let g = try geometry(input.shape())
            // A Float output of parts joined in the padded copies, as `forward(concatenating:)`.
            guard Scalar.self == Float.self, g.forwardReadsRoundedOperand(settings: settings),
                g.joinsConcatenatedInput(settings: settings)
            else {
                return try forward(input.tensor(), rectified: rectified, grid: BFloat16Grid(output: roundsOutput))
            }
            return floatOutput(g, rectified: rectified, roundsOutput: roundsOutput) { runJoined($0, first, second, g) }
        }
    }

    /// Runs `pass` (x unset) on the channel concatenation of `first` and the bits of `second`,
    /// joined in the bfloat16 kernels' padded copies (precondition: it runs on them).
    private func runJoined(
        _ pass: LoweredPass<Float>, _ first: HandedTensor<Scalar>, _ second: BFloat16Activation, _ g: ConvGeometry
    ) {
        let skip = ChannelPart(bits: UnsafePointer(second.storage.pointer), channels: second.shape.last!)
        var pass = pass
        switch first {
        case .float(let tensor):
            tensor.reinterpreted(as: Float.self).withUnsafeBufferPointer { px in
                pass.x = px.baseAddress!
                pass.xParts = [ChannelPart(source: px.baseAddress!, channels: tensor.shape.last!), skip]
                g.run(pass, settings: settings)
            }
        case .rounded(let rounded):
            // x marks a pass with an input; the kernels read the parts.
            let bits = UnsafePointer(rounded.storage.pointer)
            pass.x = UnsafeRawPointer(bits).assumingMemoryBound(to: Float.self)
            pass.xParts = [ChannelPart(bits: bits, channels: rounded.shape.last!), skip]
            g.run(pass, settings: settings)
        }
    }

    /// Whether the forward pass of an input of `inputShape` runs on the bfloat16 dot-product or
    /// tile kernels (Float, precision `.bfloat16`, a shape they take): it then reads its input only
    /// through its rounding, and `roundedForward` may write its output as its rounding.
    func forwardRoundsOperands(_ inputShape: [Int]) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape) else { return false }
        return g.forwardReadsRoundedOperand(settings: settings)
    }

    /// Whether the forward pass of an input of `inputShape` may read the input's bfloat16 rounding
    /// as it is (`forward(rounded:rectified:)`): it runs on the bfloat16 kernels
    /// (`forwardRoundsOperands`), or with rounded operands on the Float direct kernels, whose
    /// padded copy widens the bits (`ConvGeometry.forwardTakesRoundedOperand`).
    func forwardTakesRoundedInput(_ inputShape: [Int]) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape) else { return false }
        return g.forwardTakesRoundedOperand(settings: settings)
    }

    /// The bfloat16 rounding of `forward(input, rectified:)`, stored by the kernels as they
    /// compute it (precondition: `forwardRoundsOperands` of the input's shape); no Float output
    /// is written. The same bits as `BFloat16Activation(rounding:)` of the Float output. `kept`:
    /// whether a training step keeps it for its backward pass (its memory then comes from the
    /// kept activations' mappings), rather than only the next layer reading it.
    ///
    /// - Throws: as `forward(_:rectified:)`.
    func roundedForward(_ input: ForwardInput<Scalar>, rectified: Bool, kept: Bool) throws -> BFloat16Activation {
        let g = try geometry(input.shape())
        precondition(
            Scalar.self == Float.self && g.forwardReadsRoundedOperand(settings: settings),
            "convolution: a rounded output needs the bfloat16 forward kernels")
        let output = BFloat16Activation(uninitializedShape: g.outputShape, kept: kept)
        kernelOperand(g, y: true, dx: false, weightGradient: false).reinterpreted(as: Float.self)
            .withUnsafeBufferPointer { pw in
                withOptionalPointer(bias?.reinterpreted(as: Float.self)) { pb in
                    var pass = LoweredPass<Float>(
                        weight: pw.baseAddress!, bias: pb, rectifies: rectified, bfloat16Weights: bfloat16Weights)
                    pass.yRounded = output.storage.pointer
                    run(pass, on: input, g)
                }
            }
        return output
    }

    /// Runs `pass` (x unset) on `input` in any of its forms, as the bfloat16 forward kernels
    /// read them: a rounding as it is, parts joined in the padded copies (precondition: the pass
    /// runs on those kernels, `forwardReadsRoundedOperand`).
    func run(_ pass: LoweredPass<Float>, on input: ForwardInput<Scalar>, _ g: ConvGeometry) {
        var pass = pass
        switch input {
        case .rounded(let rounded):
            pass.xRounded = UnsafePointer(rounded.storage.pointer)
            g.run(pass, settings: settings)
        case .joinedWithRounded(let first, let second):
            runJoined(pass, first, second, g)
        case .parts(let parts), .gridded(let parts):
            withPointers(parts.map { $0.reinterpreted(as: Float.self) }[...]) { sources in
                pass.x = sources[0]
                if parts.count > 1 {
                    pass.xParts = zip(sources, parts).map { ChannelPart(source: $0, channels: $1.shape.last!) }
                }
                g.run(pass, settings: settings)
            }
        }
    }
}
