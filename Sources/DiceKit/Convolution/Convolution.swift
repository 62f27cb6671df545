// 2-D and 3-D convolution layers on channels-last tensors, lowered to GEMM by im2col.
// The forward pass and its two gradients are the three passes of `ConvEngine.swift`;
// Docs/Convolution.md derives their shapes.

/// A 2-D or 3-D convolution (cross-correlation, as in PyTorch and TensorFlow) on channels-last
/// tensors, with stride, padding, dilation, groups and an optional bias.
///
/// Shapes (2-D | 3-D):
/// - input: [batch, height, width, Cin] | [batch, depth, height, width, Cin]
/// - weight: [kh, kw, Cin / groups, Cout] | [kd, kh, kw, Cin / groups, Cout] (DiceKit's layout,
///   TensorFlow's; `WeightLayout.fromPyTorch` converts PyTorch's [Cout, Cin / groups, kh, kw])
/// - bias: [Cout]
/// - output: [batch, OH, OW, Cout] | [batch, OD, OH, OW, Cout] with, per spatial axis,
///   out = ⌊(in + before + after − dilation·(kernel − 1) − 1) / stride⌋ + 1.
///
/// The spatial rank (2 or 3) is the weight's rank minus 2. Output channel o belongs to group
/// ⌊o / (Cout / groups)⌋ and sees only that group's Cin / groups input channels.
///
/// Peak memory of one call beyond its operands: see `ConvolutionSettings` (at most
/// `workspaceLimit` bytes of im2col tiles, 64 MiB by default). A 1×1, stride-1, unpadded
/// convolution multiplies the input directly, with no workspace.
public struct Convolution<Scalar: BLASScalar>: Sendable {
    /// The kernel, [k…, Cin / groups, Cout].
    public var weight: Tensor<Scalar> {
        get { kernel.dicekitLayout }
        // A new kernel: the bfloat16 packings of the old one no longer apply.
        set { kernel = KernelStorage(newValue) }
    }
    /// The kernel as given (in DiceKit's layout, or PyTorch's converted on first use) and its
    /// bfloat16 packings (KernelStorage.swift).
    private(set) var kernel: KernelStorage<Scalar>
    /// The bfloat16 packings of `weight`, made by the first `.bfloat16` call that needs them
    /// (BFloat16WeightCache.swift).
    var bfloat16Weights: BFloat16WeightCache { kernel.bfloat16 }
    /// The bias [Cout], or nil for none.
    public var bias: Tensor<Scalar>?
    /// Step between windows per spatial axis (one entry per axis, or one for all); default [1].
    public var stride: [Int]
    /// Zero padding of the input; default `.valid`.
    public var padding: Padding
    /// Spacing between kernel taps per spatial axis (one entry per axis, or one for all); default [1].
    public var dilation: [Int]
    /// Channel groups; Cin and Cout must both be divisible by it; default 1.
    public var groups: Int
    /// Workspace bound, tile size and workers; default `.default`.
    public var settings: ConvolutionSettings

    /// A convolution with the given kernel and options.
    ///
    /// - Throws: `DiceKitError.shape` when the weight is not rank 4 or 5, the bias is not [Cout],
    ///   or Cout is not divisible by `groups`; `DiceKitError.option` for a non-positive stride,
    ///   dilation or groups, or an option list of the wrong length.
    public init(
        weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil, stride: [Int] = [1], padding: Padding = .valid,
        dilation: [Int] = [1], groups: Int = 1, settings: ConvolutionSettings = .default
    ) throws {
        try self.init(
            kernel: KernelStorage(weight), bias: bias, stride: stride, padding: padding, dilation: dilation,
            groups: groups, settings: settings)
    }

    /// A convolution whose kernel is `weight` in PyTorch's layout [Cout, Cin / groups, k…], kept
    /// as it is: a pass on the bfloat16 kernels reads its packings made from it, and `weight` is
    /// converted on first use (KernelStorage.swift).
    ///
    /// - Throws: as `init(weight:…)`, and `DiceKitError.shape` for a kernel of rank other than 4 or 5.
    init(
        pyTorchWeight weight: Tensor<Scalar>, bias: Tensor<Scalar>?, stride: [Int], padding: Padding,
        settings: ConvolutionSettings = .default
    ) throws {
        guard weight.rank == 4 || weight.rank == 5 else {
            throw DiceKitError.shape(
                "convolution: PyTorch weight shape \(weight.shape); expected [out, in, kh, kw] or [out, in, kd, kh, kw]"
            )
        }
        try self.init(
            kernel: KernelStorage(pyTorch: weight), bias: bias, stride: stride, padding: padding, dilation: [1],
            groups: 1, settings: settings)
    }

    /// The designated initialiser: the options checked against the kernel's shape.
    private init(
        kernel: KernelStorage<Scalar>, bias: Tensor<Scalar>?, stride: [Int], padding: Padding, dilation: [Int],
        groups: Int, settings: ConvolutionSettings
    ) throws {
        let shape = kernel.shape
        try Self.validate(
            weightShape: shape, bias: bias, biasChannels: shape.last ?? 0, groups: groups,
            outputAxisCount: shape.last ?? 0, operation: "convolution")
        self.kernel = kernel
        self.bias = bias
        self.stride = try broadcastSpatial(stride, rank: shape.count - 2, name: "convolution stride")
        self.padding = padding
        self.dilation = try broadcastSpatial(dilation, rank: shape.count - 2, name: "convolution dilation")
        self.groups = groups
        self.settings = settings
        guard self.stride.allSatisfy({ $0 >= 1 }), self.dilation.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.option("convolution: stride \(stride) and dilation \(dilation) must be ≥ 1")
        }
    }

    /// A convolution with He-uniform weights (fan-in mode, gain √2, as suits ReLU) and a zero bias.
    ///
    /// - Parameters:
    ///   - kernelSize: 2 or 3 extents, e.g. [3, 3] or [3, 3, 3].
    ///   - inputChannels, outputChannels: Cin and Cout, both divisible by `groups`.
    ///   - useBias: whether to add a bias (default true).
    ///   - generator: the seeded source of the weights.
    /// - Throws: as `init(weight:bias:stride:padding:dilation:groups:settings:)`.
    public init(
        kernelSize: [Int], inputChannels: Int, outputChannels: Int, stride: [Int] = [1],
        padding: Padding = .valid, dilation: [Int] = [1], groups: Int = 1, useBias: Bool = true,
        settings: ConvolutionSettings = .default, generator: inout SeededGenerator
    ) throws {
        guard groups >= 1, inputChannels % groups == 0, outputChannels % groups == 0 else {
            throw DiceKitError.shape(
                "convolution: \(inputChannels) input and \(outputChannels) output channels are not both divisible by groups = \(groups)"
            )
        }
        let shape = kernelSize + [inputChannels / groups, outputChannels]
        let weight: Tensor<Scalar> = try Initializer.he(shape: shape, distribution: .uniform, generator: &generator)
        try self.init(
            weight: weight, bias: useBias ? Tensor(shape: [outputChannels]) : nil, stride: stride,
            padding: padding, dilation: dilation, groups: groups, settings: settings)
    }

    /// 2 for images, 3 for volumes.
    public var spatialRank: Int { kernel.shape.count - 2 }
    /// The kernel's spatial extents.
    public var kernelSize: [Int] { Array(kernel.shape.prefix(spatialRank)) }
    /// Cin: the input channels the layer expects.
    public var inputChannels: Int { kernel.shape[spatialRank] * groups }
    /// Cout: the channels it produces.
    public var outputChannels: Int { kernel.shape[spatialRank + 1] }

    /// The output shape for an input shape: [batch, out…, Cout], out as in the type's summary.
    ///
    /// - Throws: `DiceKitError.shape` for a wrong rank or channel count, or a kernel larger than
    ///   the padded input; `DiceKitError.option` for bad padding.
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try geometry(inputShape).outputShape }

    /// The convolution of `input` [batch, spatial…, Cin], plus the bias: [batch, out…, Cout].
    ///
    /// - Throws: as `outputShape(for:)`.
    public func forward(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        try forward(input, rectified: false)
    }

    /// The convolution plus the bias, then max(0, ·) in the same output pass when `rectified`
    /// (a convolution + ReLU in evaluation mode; NaN stays NaN, as `ReLU`).
    /// `grid`: the input and output on the bfloat16 grid (BFloat16Grid; Float only).
    func forward(_ input: Tensor<Scalar>, rectified: Bool, grid: BFloat16Grid = BFloat16Grid()) throws -> Tensor<Scalar>
    {
        let g = try geometry(input.shape)
        let kernel = kernelOperand(g, y: true, dx: false, weightGradient: false)
        func run<T: BLASScalar>(_: T.Type) -> Tensor<Scalar> {
            ConvolutionKernels.forward(
                g, concatenating: [input.reinterpreted(as: T.self)], weight: kernel.reinterpreted(),
                bias: bias?.reinterpreted(), settings: settings, rectified: rectified,
                bfloat16Weights: bfloat16Weights, grid: grid
            ).reinterpreted()
        }
        return specialised(Scalar.self, float: { run(Float.self) }, double: { run(Double.self) })
    }

    /// `forward(_:rectified:)` of the Float tensor whose bfloat16 rounding `rounded` is, read as it
    /// is by a forward pass that `readsRoundedInput` (the same values: the pass rounds its input).
    /// With `roundsOutput`, the output is its bfloat16 rounding (`LoweredPass.roundsOutput`).
    func forward(rounded: BFloat16Activation, rectified: Bool, roundsOutput: Bool = false) throws -> Tensor<Scalar> {
        let g = try geometry(rounded.shape)
        return floatOutput(g, rectified: rectified, roundsOutput: roundsOutput) { pass in
            var pass = pass
            pass.xRounded = UnsafePointer(rounded.storage.pointer)
            g.run(pass, settings: settings)
        }
    }

    /// The Float output of the forward pass that `run` runs: it is handed the pass with the
    /// kernel, the bias, the output and the options set and x unset, and sets x and runs it.
    /// With `head`, the output is that head's logits of the pass's output (`LoweredPass.head`).
    func floatOutput(
        _ g: ConvGeometry, rectified: Bool, roundsOutput: Bool, head: FusedHead? = nil,
        _ run: (LoweredPass<Float>) -> Void
    ) -> Tensor<Scalar> {
        precondition(Scalar.self == Float.self, "convolution: only a Float convolution reads a bfloat16 input")
        let kernel = kernelOperand(g, y: true, dx: false, weightGradient: false)
        let channels = head?.classes ?? g.outChannels
        let y = [Float](unsafeUninitializedCapacity: g.outputRows * channels) { py, initialized in
            kernel.reinterpreted(as: Float.self).withUnsafeBufferPointer { pw in
                withOptionalPointer(bias?.reinterpreted(as: Float.self)) { pb in
                    var pass = LoweredPass(
                        weight: pw.baseAddress!, y: py.baseAddress!, bias: pb, rectifies: rectified,
                        bfloat16Weights: bfloat16Weights)
                    pass.roundsOutput = roundsOutput
                    pass.head = head
                    run(pass)
                }
            }
            initialized = py.count
        }
        return Tensor<Float>(uncheckedShape: g.outputShape.dropLast() + [channels], storage: y).reinterpreted()
    }

    /// Whether a training forward pass on an input of this shape may read its bfloat16 rounding
    /// (`forward(rounded:rectified:)`: on the bfloat16 kernels, or with rounded operands on the
    /// Float ones, which widen it), and its backward pass read the same rounding
    /// (`backwardRoundsInput`): a layer may then keep only the rounding.
    func readsRoundedInput(_ inputShape: [Int], computeInputGradient: Bool) -> Bool {
        backwardRoundsInput(inputShape, computeInputGradient: computeInputGradient)
            && forwardTakesRoundedInput(inputShape)
    }

    /// `forward(_:rectified:)` of `Tensor.concatenatingChannels(parts)`, without writing the
    /// concatenation where the direct kernels run: they read two parts in place (the border's
    /// padded strips and a padded copy where the pass is not read in place join them; a U-Net
    /// decoder's input in evaluation mode). The same values either way.
    ///
    /// - Throws: as `Tensor.concatenatingChannels` and `outputShape(for:)`.
    func forward(
        concatenating parts: [Tensor<Scalar>], rectified: Bool, grid: BFloat16Grid = BFloat16Grid()
    ) throws -> Tensor<Scalar> {
        if parts.count == 1 { return try forward(parts[0], rectified: rectified, grid: grid) }
        let g = try geometry(Tensor<Scalar>.concatenatedChannelShape(parts.map(\.shape)))
        guard Scalar.precision == .single, g.joinsConcatenatedInput(settings: settings) else {
            return try forward(Tensor.concatenatingChannels(parts), rectified: rectified, grid: grid)
        }
        return ConvolutionKernels.forward(
            g, concatenating: parts, weight: kernelOperand(g, y: true, dx: false, weightGradient: false), bias: bias,
            settings: settings, rectified: rectified,
            bfloat16Weights: bfloat16Weights, grid: grid)
    }

    /// The gradients of a scalar loss with respect to the input, weight and bias, given the
    /// input of the forward pass and the gradient of the loss with respect to its output.
    ///
    /// - Parameters:
    ///   - input: the forward pass's input, [batch, spatial…, Cin].
    ///   - outputGradient: ∂loss/∂output, the output's shape [batch, out…, Cout].
    ///   - computeInputGradient: false skips ∂loss/∂input (e.g. for the first layer); default true.
    /// - Returns: ∂loss/∂input (input's shape, or nil), ∂loss/∂weight (weight's shape),
    ///   ∂loss/∂bias ([Cout], nil without bias).
    /// - Throws: as `outputShape(for:)`, and `DiceKitError.shape` when `outputGradient` does not
    ///   have the output's shape.
    public func backward(
        input: Tensor<Scalar>, outputGradient: Tensor<Scalar>,
        computeInputGradient: Bool = true
    ) throws -> ConvolutionGradients<Scalar> {
        try backward(kept: .tensor(input), outputGradient: outputGradient, computeInputGradient: computeInputGradient)
    }

    /// `backward(input:…)` from the input as a layer kept it: a rounding only when
    /// `backwardRoundsInput` holds for its shape (the weight gradient then reads it as it is).
    /// With `splittingInput`, the input gradient comes as its two halves of the channels
    /// (`ConvolutionGradients.inputParts`, `input` nil): written so by the kernels' stores where
    /// they can (`ConvGeometry.splitsInputGradient`: the direct and bfloat16 forward kernels),
    /// else split after; the same values either way. Without `sumsBias` the bias gradient is
    /// left out (nil): a layer that sums it itself (`ConvolutionLayer`).
    func backward(
        kept input: BackwardInput<Scalar>, outputGradient: Tensor<Scalar>, computeInputGradient: Bool,
        splittingInput: Bool = false, sumsBias: Bool = true
    ) throws -> ConvolutionGradients<Scalar> {
        let g = try geometry(input.shape())
        guard outputGradient.shape == g.outputShape else {
            throw DiceKitError.shape(
                "convolution backward: output gradient has shape \(outputGradient.shape); the output of input \(g.inputShape) has shape \(g.outputShape)"
            )
        }
        var input = input
        if case .parts(let parts) = input, parts.count == 1 || !trainsOnParts(g, computeInputGradient) {
            // Parts kept by a layer whose backward pass cannot join them (the settings changed).
            input = .tensor(try Tensor.concatenatingChannels(parts))
        }
        let hasBias = bias != nil && sumsBias
        let kernel = kernelOperand(g, y: false, dx: computeInputGradient, weightGradient: true)
        let splitsInKernels =
            splittingInput && computeInputGradient && Scalar.self == Float.self
            && g.splitsInputGradient(settings: settings)
        func run<T: BLASScalar>(_: T.Type) -> ConvolutionGradients<Scalar> {
            let r = ConvolutionKernels.backward(
                g, x: input.reinterpreted(as: T.self), weight: kernel.reinterpreted(),
                outputGradient: outputGradient.reinterpreted(), inputGradient: computeInputGradient,
                bias: hasBias, settings: settings, bfloat16Weights: bfloat16Weights, splitsInput: splitsInKernels
            )
            var gradients = ConvolutionGradients<Scalar>(
                input: r.input?.reinterpreted(), weight: r.weight.reinterpreted(), bias: r.bias?.reinterpreted())
            if splitsInKernels, let first = gradients.input, let second = r.inputSecond {
                gradients.input = nil
                gradients.inputParts = [first, second.reinterpreted()]
            }
            return gradients
        }
        var gradients = specialised(Scalar.self, float: { run(Float.self) }, double: { run(Double.self) })
        if splittingInput, !splitsInKernels, let joined = gradients.input {
            gradients.inputParts = try joined.splittingChannelsInHalves()
            gradients.input = nil
        }
        return gradients
    }

    /// Whether a training forward pass and its backward pass (with or without the input
    /// gradient) may take an input of `shape` as the channel concatenation of separate tensors,
    /// read and kept as they are (`forward(concatenating:rectified:)`, `BackwardInput.parts`): both
    /// run on the direct kernels, whose padded copies join the parts (Float operands or rounded
    /// ones), so the concatenation is never written.
    func trainsOnConcatenatedInput(_ shape: [Int], computeInputGradient: Bool) -> Bool {
        guard let g = try? geometry(shape) else { return false }
        return trainsOnParts(g, computeInputGradient)
    }

    private func trainsOnParts(_ g: ConvGeometry, _ computeInputGradient: Bool) -> Bool {
        Scalar.precision == .single && g.joinsConcatenatedInput(settings: settings)
            && g.backwardJoinsConcatenatedInput(dx: computeInputGradient, settings: settings)
    }

    /// Whether `backward(input:…)` for an input of this shape reads the input only through its
    /// bfloat16 rounding (its weight gradient runs on a bfloat16 path), so that a layer may keep
    /// the rounding for it (KeptActivations.swift).
    func backwardRoundsInput(_ inputShape: [Int], computeInputGradient: Bool) -> Bool {
        guard Scalar.self == Float.self, let g = try? geometry(inputShape) else { return false }
        return g.backwardRoundsOperands(y: false, dx: computeInputGradient, settings: settings)
    }

    /// The kernel a pass of geometry `g` (with an output `y`, an input gradient `dx`, a weight
    /// gradient) hands the engine: in DiceKit's layout, converted on first use; or, when the
    /// kernel is kept in PyTorch's layout, not yet converted, and the pass reads only packings
    /// made from it (the bfloat16 kernels', the Float direct kernels';
    /// `ConvGeometry.readsOnlyPackedKernel`), that kernel under DiceKit's shape, which the engine
    /// does not read (`ConvGeometry.run` checks).
    func kernelOperand(_ g: ConvGeometry, y: Bool, dx: Bool, weightGradient: Bool) -> Tensor<Scalar> {
        if Scalar.self == Float.self, let source = kernel.pyTorchLayout, !kernel.holdsDicekitLayout,
            g.readsOnlyPackedKernel(y: y, dx: dx, weightGradient: weightGradient, settings: settings)
        {
            return Tensor(uncheckedShape: kernel.shape, storage: source.storage)
        }
        return weight
    }

    /// The validated geometry for an input shape.
    func geometry(_ inputShape: [Int]) throws -> ConvGeometry {
        try ConvGeometry(
            operation: "convolution", inputShape: inputShape, kernel: kernelSize,
            inPerGroup: kernel.shape[spatialRank], outChannels: outputChannels,
            stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// Checks the kernel's rank, the bias's shape and the divisibility of the grouped axis.
    static func validate(
        weightShape shape: [Int], bias: Tensor<Scalar>?, biasChannels: Int, groups: Int,
        outputAxisCount: Int, operation: String
    ) throws {
        guard shape.count == 4 || shape.count == 5 else {
            throw DiceKitError.shape(
                "\(operation): weight shape \(shape) has rank \(shape.count); expected [kh, kw, in, out] or [kd, kh, kw, in, out]"
            )
        }
        guard shape.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape("\(operation): weight shape \(shape) has an empty axis")
        }
        guard groups >= 1 else { throw DiceKitError.option("\(operation): groups must be ≥ 1, got \(groups)") }
        guard outputAxisCount % groups == 0 else {
            throw DiceKitError.shape(
                "\(operation): weight shape \(shape): \(outputAxisCount) channels are not divisible by groups = \(groups)"
            )
        }
        if let bias = bias, bias.shape != [biasChannels] {
            throw DiceKitError.shape(
                "\(operation): bias shape \(bias.shape); expected [\(biasChannels)] for weight shape \(shape)")
        }
    }
}

/// The gradients of a loss with respect to a convolution's input and parameters.
public struct ConvolutionGradients<Scalar: BLASScalar>: Sendable {
    /// ∂loss/∂input, the input's shape; nil when not requested.
    public var input: Tensor<Scalar>?
    /// ∂loss/∂weight, the weight's shape (DiceKit layout).
    public var weight: Tensor<Scalar>
    /// ∂loss/∂bias, [output channels]; nil when the layer has no bias.
    public var bias: Tensor<Scalar>?
    /// ∂loss/∂input as its two halves of the channels, in place of `input`, when a layer asked
    /// for them (`Convolution.backward(kept:…splittingInput:)`).
    var inputParts: [Tensor<Scalar>]?

    /// Gradients with the given values.
    public init(input: Tensor<Scalar>?, weight: Tensor<Scalar>, bias: Tensor<Scalar>?) {
        self.input = input
        self.weight = weight
        self.bias = bias
    }
}
