// 2-D and 3-D transposed convolutions ("deconvolutions"): the adjoint of a convolution with
// the same kernel, stride, padding, dilation and groups. Its forward pass is the convolution's
// input-gradient pass (GEMM then col2im) and its backward pass is the convolution's forward
// and weight-gradient passes, so it reuses the same engine.

/// A 2-D or 3-D transposed convolution on channels-last tensors (PyTorch's `ConvTranspose2d/3d`,
/// TensorFlow's `conv2d_transpose`), with stride, padding, output padding, dilation, groups and
/// an optional bias.
///
/// Shapes (2-D | 3-D):
/// - input: [batch, height, width, Cin] | [batch, depth, height, width, Cin]
/// - weight: [kh, kw, Cout / groups, Cin] | [kd, kh, kw, Cout / groups, Cin] (TensorFlow's
///   layout; `WeightLayout.fromPyTorch` converts PyTorch's [Cin, Cout / groups, kh, kw])
/// - bias: [Cout]
/// - output: [batch, OH, OW, Cout] | [batch, OD, OH, OW, Cout] with, per spatial axis,
///   out = (in − 1)·stride − before − after + dilation·(kernel − 1) + 1 + outputPadding;
///   `.valid` has before = after = 0 and `.same` gives out = in · stride.
///
/// The U-Net's up-sampling is kernel [2, 2], stride [2]: out = 2·in.
/// Peak memory as for `Convolution` (its im2col tiles, bounded by the settings).
public struct TransposedConvolution<Scalar: BLASScalar>: Sendable {
    /// The kernel, [k…, Cout / groups, Cin].
    public var weight: Tensor<Scalar> {
        // A new kernel: the packings of the old one no longer apply.
        didSet { packings = BFloat16WeightCache() }
    }
    /// The packings of `weight` the passes make and keep (BFloat16WeightCache.swift): a layer
    /// calls one value many times while its parameters are unchanged (inference, validation).
    private(set) var packings = BFloat16WeightCache()
    /// The bias [Cout], or nil for none.
    public var bias: Tensor<Scalar>?
    /// Upsampling factor per spatial axis (one entry per axis, or one for all); default [1].
    public var stride: [Int]
    /// Cropping of the full output, as the padding of the adjoint convolution; default `.valid`.
    public var padding: Padding
    /// Extra rows added after each spatial axis, each below its stride; default [0].
    public var outputPadding: [Int]
    /// Spacing between kernel taps per axis; default [1].
    public var dilation: [Int]
    /// Channel groups; Cin and Cout must both be divisible by it; default 1.
    public var groups: Int
    /// Workspace bound, tile size and workers; default `.default`.
    public var settings: ConvolutionSettings

    /// A transposed convolution with the given kernel and options.
    ///
    /// - Throws: `DiceKitError.shape` when the weight is not rank 4 or 5, the bias is not [Cout],
    ///   or Cin is not divisible by `groups`; `DiceKitError.option` for a non-positive stride,
    ///   dilation or groups, an output padding outside 0..<stride, or lists of the wrong length.
    public init(
        weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil, stride: [Int] = [1], padding: Padding = .valid,
        outputPadding: [Int] = [0], dilation: [Int] = [1], groups: Int = 1,
        settings: ConvolutionSettings = .default
    ) throws {
        let cout = weight.rank >= 2 ? weight.shape[weight.rank - 2] * Swift.max(groups, 1) : 0
        try Convolution<Scalar>.validate(
            weightShape: weight.shape, bias: bias, biasChannels: cout, groups: groups,
            outputAxisCount: weight.shape.last ?? 0, operation: "transposed convolution")
        let rank = weight.rank - 2
        self.weight = weight
        self.bias = bias
        self.stride = try broadcastSpatial(stride, rank: rank, name: "transposed convolution stride")
        self.padding = padding
        self.outputPadding = try broadcastSpatial(
            outputPadding, rank: rank, name: "transposed convolution output padding")
        self.dilation = try broadcastSpatial(dilation, rank: rank, name: "transposed convolution dilation")
        self.groups = groups
        self.settings = settings
        guard self.stride.allSatisfy({ $0 >= 1 }), self.dilation.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.option("transposed convolution: stride \(stride) and dilation \(dilation) must be ≥ 1")
        }
        guard zip(self.outputPadding, self.stride).allSatisfy({ $0 >= 0 && $0 < $1 }) else {
            throw DiceKitError.option(
                "transposed convolution: output padding \(outputPadding) must lie in 0..<stride \(self.stride)")
        }
    }

    /// A transposed convolution with Glorot-uniform weights and a zero bias.
    ///
    /// - Parameters:
    ///   - kernelSize: 2 or 3 extents, e.g. [2, 2].
    ///   - inputChannels, outputChannels: Cin and Cout, both divisible by `groups`.
    ///   - useBias: whether to add a bias (default true).
    ///   - generator: the seeded source of the weights.
    /// - Throws: as `init(weight:bias:stride:padding:outputPadding:dilation:groups:settings:)`.
    public init(
        kernelSize: [Int], inputChannels: Int, outputChannels: Int, stride: [Int] = [1],
        padding: Padding = .valid, outputPadding: [Int] = [0], dilation: [Int] = [1], groups: Int = 1,
        useBias: Bool = true, settings: ConvolutionSettings = .default, generator: inout SeededGenerator
    ) throws {
        guard groups >= 1, inputChannels % groups == 0, outputChannels % groups == 0 else {
            throw DiceKitError.shape(
                "transposed convolution: \(inputChannels) input and \(outputChannels) output channels are not both divisible by groups = \(groups)"
            )
        }
        let weight: Tensor<Scalar> = try Initializer.glorot(
            shape: kernelSize + [outputChannels / groups, inputChannels],
            generator: &generator)
        try self.init(
            weight: weight, bias: useBias ? Tensor(shape: [outputChannels]) : nil, stride: stride,
            padding: padding, outputPadding: outputPadding, dilation: dilation, groups: groups, settings: settings)
    }

    /// 2 for images, 3 for volumes.
    public var spatialRank: Int { weight.rank - 2 }
    /// The kernel's spatial extents.
    public var kernelSize: [Int] { Array(weight.shape.prefix(spatialRank)) }
    /// Cin: the input channels the layer expects.
    public var inputChannels: Int { weight.shape[weight.rank - 1] }
    /// Cout: the channels it produces.
    public var outputChannels: Int { weight.shape[weight.rank - 2] * groups }

    /// The output shape for an input shape: [batch, out…, Cout], out as in the type's summary.
    ///
    /// - Throws: `DiceKitError.shape` for a wrong rank or channel count, or an empty output.
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try geometry(inputShape).inputShape }

    /// The transposed convolution of `input` [batch, spatial…, Cin], plus the bias.
    ///
    /// - Throws: as `outputShape(for:)`.
    public func forward(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        try forward(input, grid: BFloat16Grid())
    }

    /// `forward(_:)` with the input and output on the bfloat16 grid as `grid` says (Float only).
    func forward(_ input: Tensor<Scalar>, grid: BFloat16Grid) throws -> Tensor<Scalar> {
        let g = try geometry(input.shape)
        func run<T: BLASScalar>(_: T.Type) -> Tensor<Scalar> {
            ConvolutionKernels.transposedForward(
                g, input: input.reinterpreted(as: T.self), weight: weight.reinterpreted(),
                bias: bias?.reinterpreted(), settings: settings, bfloat16Weights: packings, grid: grid
            ).reinterpreted()
        }
        return specialised(Scalar.self, float: { run(Float.self) }, double: { run(Double.self) })
    }

    /// Whether the forward pass of an input of `inputShape` may take it as bfloat16 bits and
    /// store its output as them (`bitsForward`): Float, precision `.bfloat16`, the scattered pass
    /// on the dot-product or tile kernels (`ConvGeometry.transposedForwardTakesBits`).
    func forwardTakesBits(_ inputShape: [Int]) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape) else { return false }
        return g.transposedForwardTakesBits(settings: settings)
    }

    /// `forward(_:)` of `input`, given as Float values or as bfloat16 bits, its output stored as
    /// bfloat16 bits with `storesBits` (precondition: `forwardTakesBits`): the same bits as the
    /// pass on the Float tensors, rounded where stored as bits.
    ///
    /// - Throws: as `outputShape(for:)`.
    func bitsForward(_ input: HandedTensor<Scalar>, storesBits: Bool) throws -> HandedTensor<Scalar> {
        let g = try geometry(input.shape)
        precondition(forwardTakesBits(input.shape), "up-sampling: bits for a pass that does not take them")
        func run(_ output: UnsafeMutableRawPointer) {
            weight.reinterpreted(as: Float.self).withUnsafeBufferPointer { pw in
                withOptionalPointer(bias?.reinterpreted(as: Float.self)) { pb in
                    switch input {
                    case .float(let tensor):
                        tensor.reinterpreted(as: Float.self).withUnsafeBufferPointer { px in
                            g.bitsForward(
                                weight: pw.baseAddress!, cache: packings, dy: px.baseAddress!, dyBits: nil, fill: pb,
                                output: output, storesBits: storesBits, settings: settings)
                        }
                    case .rounded(let rounded):
                        g.bitsForward(
                            weight: pw.baseAddress!, cache: packings, dy: nil,
                            dyBits: UnsafePointer(rounded.storage.pointer), fill: pb, output: output,
                            storesBits: storesBits, settings: settings)
                    }
                }
            }
        }
        if storesBits {
            let output = BFloat16Activation(uninitializedShape: g.inputShape, kept: false)
            run(UnsafeMutableRawPointer(output.storage.pointer))
            return .rounded(output)
        }
        let y = [Float](unsafeUninitializedCapacity: g.inputShape.reduce(1, *)) { py, initialized in
            run(UnsafeMutableRawPointer(py.baseAddress!))
            initialized = py.count
        }
        return .float(Tensor<Float>(uncheckedShape: g.inputShape, storage: y).reinterpreted())
    }

    /// Whether the forward pass of an input of `inputShape` reads it only through its bfloat16
    /// rounding (Float, precision `.bfloat16`, on the exact-tiling paths), so that it may be
    /// handed an input on the bfloat16 grid (GriddedHandOver.swift).
    func forwardRoundsInput(_ inputShape: [Int]) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape) else { return false }
        return g.transposedForwardRoundsInput(settings: settings)
    }

    /// The gradients of a scalar loss with respect to the input, weight and bias.
    ///
    /// - Parameters:
    ///   - input: the forward pass's input, [batch, spatial…, Cin].
    ///   - outputGradient: ∂loss/∂output, the output's shape.
    ///   - computeInputGradient: false skips ∂loss/∂input; default true.
    /// - Returns: ∂loss/∂input (input's shape, or nil), ∂loss/∂weight (weight's shape),
    ///   ∂loss/∂bias ([Cout], nil without bias).
    /// - Throws: as `outputShape(for:)`, and `DiceKitError.shape` when `outputGradient` does not
    ///   have the output's shape.
    public func backward(
        input: Tensor<Scalar>, outputGradient: Tensor<Scalar>,
        computeInputGradient: Bool = true
    ) throws -> ConvolutionGradients<Scalar> {
        try backward(
            input: input, outputGradient: outputGradient, computeInputGradient: computeInputGradient, sumsBias: true)
    }

    /// `backward(input:outputGradient:computeInputGradient:)`; without `sumsBias` the bias
    /// gradient is left out (nil): a layer that sums it itself (`TransposedConvolutionLayer`).
    func backward(
        input: Tensor<Scalar>, outputGradient: Tensor<Scalar>, computeInputGradient: Bool, sumsBias: Bool
    ) throws -> ConvolutionGradients<Scalar> {
        let g = try backwardGeometry(input.shape, outputGradient: outputGradient)
        let hasBias = bias != nil && sumsBias
        func run<T: BLASScalar>(_: T.Type) -> ConvolutionGradients<Scalar> {
            let r = ConvolutionKernels.transposedBackward(
                g, input: input.reinterpreted(as: T.self), weight: weight.reinterpreted(),
                outputGradient: outputGradient.reinterpreted(),
                inputGradient: computeInputGradient, bias: hasBias, settings: settings, bfloat16Weights: packings
            )
            return ConvolutionGradients(
                input: r.input?.reinterpreted(), weight: r.weight.reinterpreted(), bias: r.bias?.reinterpreted())
        }
        return specialised(Scalar.self, float: { run(Float.self) }, double: { run(Double.self) })
    }

    /// Whether `backward(rounded:…)` may take an input of this shape as its bfloat16 rounding,
    /// read as it is: Float, with the adjoint's backward pass on the exact tiling's dot-product or
    /// tile kernels, which pack the bits (`ConvGeometry.transposedBackwardReadsRoundedInput`).
    func backwardReadsRoundedInput(_ inputShape: [Int]) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape) else { return false }
        return g.transposedBackwardReadsRoundedInput(settings: settings)
    }

    /// `backward(input:outputGradient:computeInputGradient:sumsBias: false)` of the Float input
    /// whose bfloat16 rounding `rounded` is, read as it is (precondition:
    /// `backwardReadsRoundedInput`): the same bits, with no Float copy of the input.
    ///
    /// - Throws: as `backward(input:outputGradient:computeInputGradient:)`.
    func backward(
        rounded: BFloat16Activation, outputGradient: Tensor<Scalar>, computeInputGradient: Bool
    ) throws -> ConvolutionGradients<Scalar> {
        let g = try backwardGeometry(rounded.shape, outputGradient: outputGradient)
        precondition(backwardReadsRoundedInput(rounded.shape), "up-sampling: bits for a backward pass that widens them")
        let r = ConvolutionKernels.transposedBackward(
            g, rounded: rounded, weight: weight.reinterpreted(as: Float.self),
            outputGradient: outputGradient.reinterpreted(as: Float.self), inputGradient: computeInputGradient,
            settings: settings, bfloat16Weights: packings)
        return ConvolutionGradients(input: r.input?.reinterpreted(), weight: r.weight.reinterpreted(), bias: nil)
    }

    /// The geometry of a backward pass for an input of `inputShape`, after checking that
    /// `outputGradient` has the output's shape.
    private func backwardGeometry(_ inputShape: [Int], outputGradient: Tensor<Scalar>) throws -> ConvGeometry {
        let g = try geometry(inputShape)
        guard outputGradient.shape == g.inputShape else {
            throw DiceKitError.shape(
                "transposed convolution backward: output gradient has shape \(outputGradient.shape); the output of input \(inputShape) has shape \(g.inputShape)"
            )
        }
        return g
    }

    /// Whether `backward(input:…)` for an input of this shape (with its input gradient) reads
    /// the input only through its bfloat16 rounding: the adjoint's backward pass, whose dy is
    /// this layer's input, runs on a bfloat16 path (KeptActivations.swift).
    func backwardRoundsInput(_ inputShape: [Int]) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape) else { return false }
        return g.backwardRoundsOperands(y: true, dx: false, settings: settings)
    }

    /// The geometry of the adjoint convolution: x space is this layer's output, y space its input.
    func geometry(_ inputShape: [Int]) throws -> ConvGeometry {
        let rank = spatialRank
        let operation = "transposed convolution"
        guard inputShape.count == rank + 2 else {
            throw DiceKitError.shape(
                "\(operation): input shape \(inputShape) has rank \(inputShape.count); expected rank \(rank + 2) for weight shape \(weight.shape)"
            )
        }
        guard inputShape.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape("\(operation): input shape \(inputShape) has an empty axis")
        }
        guard inputShape[rank + 1] == inputChannels else {
            throw DiceKitError.shape(
                "\(operation): input shape \(inputShape) has \(inputShape[rank + 1]) channels; weight shape \(weight.shape) expects \(inputChannels)"
            )
        }
        let spatial = Array(inputShape[1...rank])
        var out = [Int](repeating: 0, count: rank)
        let cropping: Padding
        switch padding {
        case .same:
            out = zip(spatial, stride).map { $0 * $1 }
            cropping = .same
        case .valid, .explicit:
            // Resolve the explicit amounts (their values do not depend on the input extent).
            let (before, after) = try padding.resolve(
                input: spatial, kernel: kernelSize, stride: stride, dilation: dilation)
            for i in 0..<rank {
                out[i] =
                    (spatial[i] - 1) * stride[i] - before[i] - after[i] + dilation[i] * (kernelSize[i] - 1) + 1
                    + outputPadding[i]
            }
            cropping = .explicit(before: before, after: after)
            guard out.allSatisfy({ $0 >= 1 }) else {
                throw DiceKitError.shape(
                    "\(operation): input shape \(inputShape) with kernel \(kernelSize), stride \(stride), padding \(before)/\(after) gives an empty output \(out)"
                )
            }
        }
        let g = try ConvGeometry(
            operation: operation, inputShape: [inputShape[0]] + out + [outputChannels],
            kernel: kernelSize, inPerGroup: weight.shape[rank], outChannels: inputChannels,
            stride: stride, padding: cropping, dilation: dilation, groups: groups)
        guard Array(g.output.suffix(rank)) == spatial else {
            throw DiceKitError.shape(
                "\(operation): input shape \(inputShape) does not map back onto output \(out) with kernel \(kernelSize), stride \(stride)"
            )
        }
        return g
    }
}
