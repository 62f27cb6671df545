// Convolution and transposed convolution as trainable layers.
//
// The parameters hold PyTorch's layouts ([out, in, k…] for a convolution, [in, out, k…] for a
// transposed convolution), so checkpoints, optimiser state and exported gradients are PyTorch's
// state_dict tensors as they are. A forward pass converts the kernel to DiceKit's GEMM layout
// with `WeightLayout.fromPyTorch` when the parameters changed since the last one (every training
// step; once for inference), except where a convolution's passes read only packings of it (the
// bfloat16 kernels, and the Float direct kernels), which are made from PyTorch's layout directly
// (KernelStorage.swift); each backward pass adds the weight gradient back in PyTorch's layout:
// a few hundred thousand elements per layer, about 1 % of a training step.

/// A convolution layer ([batch, spatial…, Cin] → [batch, spatial…, Cout]) with `weight`
/// [Cout, Cin, k…] and `bias` [Cout] in PyTorch's layout.
public final class ConvolutionLayer<Scalar: BLASScalar>: Layer {
    /// The kernel in PyTorch's layout [Cout, Cin, k…].
    public let weight: Parameter<Scalar>
    /// The bias [Cout].
    public let bias: Parameter<Scalar>
    /// Stride per spatial axis (one entry for all).
    public let stride: [Int]
    /// Zero padding of the input.
    public let padding: Padding
    /// False for a network's first layer, whose input gradient nobody needs (`backward` then
    /// returns nil).
    public var computesInputGradient = true
    /// The convolution arithmetic (default `.float`): `.bfloat16` rounds the operands of the
    /// passes that qualify (see `ComputePrecision`); the parameters stay in `Scalar`.
    public var precision: ComputePrecision = .float

    /// The input of the last training forward pass, as it is or rounded (`keep(roundedInput:)`).
    var keptInput = KeptInput<Scalar>()
    var cachedConvolution: Convolution<Scalar>?
    /// The convolution built from the parameters, kept while they are unchanged (inference,
    /// evaluation): the kernel conversion is done once.
    private var built = BuiltFromParameters<Convolution<Scalar>>()
    /// The evaluation-mode convolution with a batch normalisation folded in
    /// (ConvolutionLayer+Inference.swift), with the parameter versions it was built from.
    var folded: (convolution: Convolution<Scalar>, key: [Int], normalization: BatchNorm<Scalar>?)?

    /// A layer with He-uniform weights (ReLU gain), a zero bias, stride 1 and the given padding.
    ///
    /// - Parameters:
    ///   - kernelSize: [kh, kw] or [kd, kh, kw].
    ///   - padding: default `.same` (the U-Net's 3×3, padding 1).
    /// - Throws: `DiceKitError` for impossible shapes or options.
    public init(
        kernelSize: [Int], inputChannels: Int, outputChannels: Int, stride: [Int] = [1],
        padding: Padding = .same, generator: inout SeededGenerator
    ) throws {
        let conv = try Convolution<Scalar>(
            kernelSize: kernelSize, inputChannels: inputChannels,
            outputChannels: outputChannels, stride: stride, padding: padding,
            generator: &generator)
        weight = Parameter(name: "weight", value: try WeightLayout.toPyTorch(conv.weight))
        bias = Parameter(name: "bias", value: Tensor(shape: [outputChannels]))
        self.stride = stride
        self.padding = padding
    }

    /// `weight`, `bias`.
    public var parameters: [Parameter<Scalar>] { [weight, bias] }

    /// The convolution of `input` plus the bias; caches the input for `backward`.
    ///
    /// - Throws: `DiceKitError.shape` when the input does not fit the kernel.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        try forward(input, rectified: false)
    }

    /// `forward`, with max(0, ·) applied by the convolution's output pass when `rectified` (a
    /// convolution + ReLU in training, SequentialLayer.forward); caches the input the same way.
    func forward(_ input: Tensor<Scalar>, rectified: Bool) throws -> Tensor<Scalar> {
        var convolution = try convolutionFromParameters()
        convolution.settings.precision = precision
        keptInput.keep(input)
        cachedConvolution = convolution
        return try convolution.forward(input, rectified: rectified)
    }

    /// Whether the backward pass reads the kept input only through its bfloat16 rounding (a
    /// `.bfloat16` weight gradient, KeptActivations.swift), so that it may be kept rounded.
    var backwardRoundsKeptInput: Bool {
        guard let input = keptInput.tensor, let convolution = cachedConvolution else { return false }
        return convolution.backwardRoundsInput(input.shape, computeInputGradient: computesInputGradient)
    }

    /// Whether a training forward pass on an input of `shape` may take the input's bfloat16
    /// rounding instead of it (`forward(rounded:rectified:)`): its forward and backward passes
    /// both read the input only through that rounding (`Convolution.readsRoundedInput`: on the
    /// bfloat16 kernels, or with rounded operands on the Float ones).
    func readsRoundedInput(ofShape shape: [Int]) -> Bool {
        bfloat16Convolution()?.readsRoundedInput(shape, computeInputGradient: computesInputGradient) ?? false
    }

    /// The convolution of the current parameters with the layer's precision, when that is
    /// `.bfloat16` and the scalars are Float (the passes that may round their operands); nil
    /// otherwise: what the hand-over predicates ask (`readsRoundedInput(ofShape:)`,
    /// `evaluationReadsRounded`, `takesGriddedInput`).
    func bfloat16Convolution() -> Convolution<Scalar>? {
        guard precision == .bfloat16, Scalar.self == Float.self, var convolution = try? convolutionFromParameters()
        else { return nil }
        convolution.settings.precision = precision
        return convolution
    }

    /// The training forward pass of the Float input whose bfloat16 rounding `rounded` is
    /// (precondition: `readsRoundedInput(ofShape:)`): the same output and, in the backward pass,
    /// the same gradients as `forward(_:rectified:)` of that input; only the rounding is kept.
    func forward(rounded: BFloat16Activation, rectified: Bool) throws -> Tensor<Scalar> {
        precondition(readsRoundedInput(ofShape: rounded.shape), "ConvolutionLayer: the passes do not round the input")
        var convolution = try convolutionFromParameters()
        convolution.settings.precision = precision
        keptInput.keep(roundedOnly: rounded)
        cachedConvolution = convolution
        return try convolution.forward(rounded: rounded, rectified: rectified)
    }

    /// The training forward pass of `input` in any of its forms (`forward(_:rectified:)`, or
    /// `forward(rounded:rectified:)` of a rounding); keeps the input the same way. Parts (a U-Net
    /// decoder's up-sampled tensor and skip) are read and kept as they are where both passes
    /// join them in their padded copies (`Convolution.trainsOnConcatenatedInput`), else
    /// concatenated first: the same values either way.
    func forward(_ input: ForwardInput<Scalar>, rectified: Bool) throws -> Tensor<Scalar> {
        switch input {
        case .rounded(let rounded): return try forward(rounded: rounded, rectified: rectified)
        case .parts(let parts) where parts.count > 1:
            var convolution = try convolutionFromParameters()
            convolution.settings.precision = precision
            guard
                convolution.trainsOnConcatenatedInput(try input.shape(), computeInputGradient: computesInputGradient)
            else { break }
            keptInput.keep(parts: parts)
            cachedConvolution = convolution
            return try convolution.forward(concatenating: parts, rectified: rectified)
        case .parts, .gridded, .joinedWithRounded: break
        }
        return try forward(input.tensor(), rectified: rectified)
    }

    /// A training forward pass whose output goes (through the ReLU it applies when `rectified`)
    /// to `consumer` alone, as its bfloat16 rounding stored by the kernels
    /// (Convolution.roundedForward), when this pass runs on the bfloat16 kernels and `consumer`
    /// reads its input only through its rounding (`readsRoundedInput(ofShape:)`); nil
    /// otherwise, with nothing run. Keeps the input as `forward` does; the backward pass gives
    /// the same bits.
    ///
    /// - Throws: as `forward(_:rectified:)`.
    func roundedForward(
        _ input: ForwardInput<Scalar>, rectified: Bool, feeding consumer: ConvolutionLayer<Scalar>
    ) throws -> BFloat16Activation? {
        guard precision == .bfloat16, Scalar.self == Float.self else { return nil }
        var convolution = try convolutionFromParameters()
        convolution.settings.precision = precision
        let shape = try input.shape()
        guard convolution.forwardRoundsOperands(shape), let outputShape = try? convolution.outputShape(for: shape),
            consumer.readsRoundedInput(ofShape: outputShape)
        else { return nil }
        var input = input
        switch input {
        case .rounded(let rounded):
            precondition(readsRoundedInput(ofShape: shape), "ConvolutionLayer: the passes do not round the input")
            keptInput.keep(roundedOnly: rounded)
        case .parts, .gridded, .joinedWithRounded:
            let tensor = try input.tensor()
            keptInput.keep(tensor)
            input = .parts([tensor])
        }
        cachedConvolution = convolution
        return try convolution.roundedForward(input, rectified: rectified, kept: true)
    }

    /// The convolution of the current parameters, built when they changed. It keeps the kernel
    /// in PyTorch's layout: passes on the bfloat16 kernels pack it as it is, and the others
    /// convert it once (KernelStorage.swift).
    func convolutionFromParameters() throws -> Convolution<Scalar> {
        try built.value(weight: weight, bias: bias) {
            try Convolution(pyTorchWeight: weight.value, bias: bias.value, stride: stride, padding: padding)
        }
    }

    /// Keeps `rounded`, the bfloat16 rounding of the kept input, instead of it; the backward
    /// pass then gives the same bits (precondition: `backwardRoundsKeptInput`).
    func keep(roundedInput rounded: BFloat16Activation) {
        precondition(backwardRoundsKeptInput, "ConvolutionLayer: the backward pass does not round its input")
        keptInput.keep(rounded: rounded)
    }

    /// d(loss)/d(input); adds d(loss)/d(weight) and d(loss)/d(bias) into the parameters' gradients.
    ///
    /// Returns nil when `computesInputGradient` is false.
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        try gradients(outputGradient, biasSums: layerBiasSums(outputGradient), splittingInput: false).input
    }

    /// `backward(_:)` with d(loss)/d(input) as its two halves of the channels when
    /// `splittingInput` (a U-Net decoder's up-sampled and skip parts), written so by the kernels
    /// where they can (no joined tensor to split, `Convolution.backward(kept:…
    /// splittingInput:)`), else split after; nil when `computesInputGradient` is false.
    func backward(_ outputGradient: Tensor<Scalar>, splittingInput: Bool) throws -> [Tensor<Scalar>]? {
        try backward(outputGradient, biasSums: layerBiasSums(outputGradient), splittingInput: splittingInput)
    }

    /// `backward(_:splittingInput:)` with the bias gradient's per-channel sums of
    /// `outputGradient` already made (`parallelChannelSums`' bits; BatchNorm's
    /// `backward(inPlace:rectifiedBy:summingInputGradient:)` makes them as it writes the gradient).
    func backward(
        _ outputGradient: Tensor<Scalar>, biasSums: [Double]?, splittingInput: Bool
    ) throws -> [Tensor<Scalar>]? {
        let grads = try gradients(outputGradient, biasSums: biasSums, splittingInput: splittingInput)
        return splittingInput ? grads.inputParts : grads.input.map { [$0] }
    }

    /// `backward(_:splittingInput:)` of the gradient a (leaky) ReLU after this layer received,
    /// that ReLU's backward pass applied in the pass that sums the bias gradient (`kept` is what
    /// the ReLU kept: its output, in Float or rounded, and its slope) and written over
    /// `gradient`: the bits of the ReLU's `backward(inPlace:)` and then `backward`, with one pass
    /// over the gradient fewer (SequentialLayer's backward pass). Float only.
    ///
    /// - Throws: `DiceKitError.shape` when `kept`'s shape differs from `gradient`'s, and as `backward`.
    func backward(
        inPlace gradient: inout Tensor<Scalar>, rectifiedBy kept: KeptRectifierOutput<Scalar>, splittingInput: Bool
    ) throws -> [Tensor<Scalar>]? {
        precondition(Scalar.self == Float.self, "ConvolutionLayer: the fused ReLU backward pass runs in Float")
        try kept.check(gradientShape: gradient.shape, layer: "ConvolutionLayer")
        let channels = gradient.shape.last ?? 0
        var sums = [Double](repeating: 0, count: channels)
        if gradient.count > 0, channels > 0 {
            sums = gradient.withUnsafeMutableBufferPointer { g in
                kept.withMask { mask in
                    parallelChannelSums(
                        UnsafeMutableRawPointer(g.baseAddress!).assumingMemoryBound(to: Float.self),
                        rows: g.count / channels, channels: channels, rectifiedBy: mask)
                }
            }
        }
        let grads = try gradients(gradient, biasSums: sums, splittingInput: splittingInput)
        return splittingInput ? grads.inputParts : grads.input.map { [$0] }
    }

    /// The backward pass: adds the parameters' gradients (the bias's from `biasSums` when given),
    /// returns the convolution's.
    private func gradients(
        _ outputGradient: Tensor<Scalar>, biasSums: [Double]?, splittingInput: Bool
    ) throws -> ConvolutionGradients<Scalar> {
        guard let input = keptInput.forBackward, let convolution = cachedConvolution else {
            throw DiceKitError.shape("ConvolutionLayer.backward called before forward")
        }
        let grads = try convolution.backward(
            kept: input, outputGradient: outputGradient, computeInputGradient: computesInputGradient,
            splittingInput: splittingInput, sumsBias: biasSums == nil)
        addGEMMGradient(grads.weight, into: weight)
        addBiasGradient(biasSums, grads.bias, into: bias)
        keptInput.keep(nil)
        cachedConvolution = nil
        built.release()
        return grads
    }
}

/// A transposed convolution layer with `weight` [Cin, Cout, k…] and `bias` [Cout] in PyTorch's
/// layout; the U-Net's up-sampling uses kernel 2, stride 2 (output = 2 × input per axis).
public final class TransposedConvolutionLayer<Scalar: BLASScalar>: Layer, CacheReleasing {
    /// The kernel in PyTorch's layout [Cin, Cout, k…].
    public let weight: Parameter<Scalar>
    /// The bias [Cout].
    public let bias: Parameter<Scalar>
    /// Stride (up-sampling factor) per spatial axis.
    public let stride: [Int]
    /// The arithmetic of its passes (default `.float`): `.bfloat16` rounds the operands of an
    /// exact tiling (kernel = stride, Cin and kernel volume × Cout in multiples of 16) to bfloat16
    /// with Float accumulation, on a CPU with a bfloat16 level (see `ComputePrecision`); the
    /// parameters, the bias and its gradient stay in `Scalar`.
    public var precision: ComputePrecision = .float

    /// The input of the last training forward pass, as it is or rounded (`keep(roundedInput:)`).
    private(set) var keptInput = KeptInput<Scalar>()
    private var cachedConvolution: TransposedConvolution<Scalar>?

    /// Forgets the kept input (see `CacheReleasing`).
    func releaseCache() {
        keptInput.keep(nil)
        cachedConvolution = nil
    }

    /// Whether the backward pass reads the kept input only through its bfloat16 rounding (a
    /// `.bfloat16` weight gradient, KeptActivations.swift), so that it may be kept rounded.
    var backwardRoundsKeptInput: Bool {
        guard let input = keptInput.tensor, let convolution = cachedConvolution else { return false }
        return convolution.backwardRoundsInput(input.shape)
    }

    /// Keeps `rounded`, the bfloat16 rounding of the kept input, instead of it; the backward
    /// pass then gives the same bits (precondition: `backwardRoundsKeptInput`).
    func keep(roundedInput rounded: BFloat16Activation) {
        precondition(backwardRoundsKeptInput, "TransposedConvolutionLayer: the backward pass does not round its input")
        keptInput.keep(rounded: rounded)
    }
    /// As in `ConvolutionLayer`: built from the parameters, kept while they are unchanged.
    private var built = BuiltFromParameters<TransposedConvolution<Scalar>>()

    /// A layer with PyTorch's default initialisation for `ConvTranspose`: weight and bias
    /// uniform in ±1/√(Cout·∏k) (fan-in as PyTorch computes it from the weight's second axis).
    ///
    /// - Throws: `DiceKitError` for impossible shapes or options.
    public init(
        kernelSize: [Int], inputChannels: Int, outputChannels: Int, stride: [Int],
        generator: inout SeededGenerator
    ) throws {
        let fanIn = outputChannels * kernelSize.reduce(1, *)
        let bound = Scalar(1 / Double(fanIn).squareRoot())
        weight = Parameter(
            name: "weight",
            value: .uniform(
                [inputChannels, outputChannels] + kernelSize,
                lower: -bound, upper: bound, generator: &generator))
        bias = Parameter(
            name: "bias", value: .uniform([outputChannels], lower: -bound, upper: bound, generator: &generator))
        self.stride = stride
        // Validates the options now rather than at the first forward pass.
        _ = try TransposedConvolution(weight: pyTorchToGEMM(weight.value), bias: bias.value, stride: stride)
    }

    /// `weight`, `bias`.
    public var parameters: [Parameter<Scalar>] { [weight, bias] }

    /// The transposed convolution of `input` plus the bias; caches the input.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        try forward(input, grid: BFloat16Grid())
    }

    /// `forward(_:mode:)` with the input and output on the bfloat16 grid as `grid` says
    /// (GriddedHandOver.swift); caches the input the same way.
    func forward(_ input: Tensor<Scalar>, grid: BFloat16Grid) throws -> Tensor<Scalar> {
        let convolution = try convolutionFromParameters()
        keptInput.keep(input)
        cachedConvolution = convolution
        return try convolution.forward(input, grid: grid)
    }

    /// Whether an evaluation forward pass of a volume of `shape` reads it only through its
    /// bfloat16 rounding with rounded operands, so that it may be handed that input on the
    /// bfloat16 grid (GriddedHandOver.swift).
    func takesGriddedInput(ofShape shape: [Int]) -> Bool {
        guard GriddedHandOver.applies(to: shape), precision == .bfloat16,
            let convolution = try? convolutionFromParameters()
        else { return false }
        return convolution.forwardRoundsInput(shape)
    }

    /// Whether an evaluation forward pass of an input of `shape` may take it as bfloat16 bits
    /// and store its output as them (`TransposedConvolution.forwardTakesBits`; UNet+HandOver.swift).
    func evaluationTakesBits(ofShape shape: [Int]) -> Bool {
        guard precision == .bfloat16, let convolution = try? convolutionFromParameters() else { return false }
        return convolution.forwardTakesBits(shape)
    }

    /// An evaluation forward pass of `input` (Float values or bfloat16 bits), its output as
    /// bfloat16 bits with `storesBits` (precondition: `evaluationTakesBits`); keeps nothing for a
    /// backward pass.
    ///
    /// - Throws: as `forward(_:mode:)`.
    func evaluationForward(_ input: HandedTensor<Scalar>, storesBits: Bool) throws -> HandedTensor<Scalar> {
        let convolution = try convolutionFromParameters()
        keptInput.keep(nil)
        cachedConvolution = nil
        return try convolution.bitsForward(input, storesBits: storesBits)
    }

    /// The transposed convolution of the current parameters (built when they changed), with
    /// the layer's precision.
    private func convolutionFromParameters() throws -> TransposedConvolution<Scalar> {
        var convolution = try built.value(weight: weight, bias: bias) {
            try TransposedConvolution(weight: pyTorchToGEMM(weight.value), bias: bias.value, stride: stride)
        }
        convolution.settings.precision = precision
        return convolution
    }

    /// d(loss)/d(input); adds the weight and bias gradients into the parameters.
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        guard keptInput.forBackward != nil, let convolution = cachedConvolution else {
            throw DiceKitError.shape("TransposedConvolutionLayer.backward called before forward")
        }
        let biasSums = layerBiasSums(outputGradient)
        let grads: ConvolutionGradients<Scalar>
        if let rounded = keptInput.rounded, biasSums != nil, convolution.backwardReadsRoundedInput(rounded.shape) {
            // The kept rounding read as it is: no Float copy of the input.
            grads = try convolution.backward(
                rounded: rounded, outputGradient: outputGradient, computeInputGradient: true)
        } else {
            grads = try convolution.backward(
                input: keptInput.widenedForBackward()!, outputGradient: outputGradient, computeInputGradient: true,
                sumsBias: biasSums == nil)
        }
        addGEMMGradient(grads.weight, into: weight)
        addBiasGradient(biasSums, grads.bias, into: bias)
        keptInput.keep(nil)
        cachedConvolution = nil
        built.release()
        return grads.input
    }
}

/// The bias gradient of a Float convolution or transposed convolution layer, summed by the layer
/// over chunks of rows in parallel (`parallelChannelSums`, in Double, the order of the fused
/// ReLU pass in `ConvolutionLayer.backward(inPlace:rectifiedBy:splittingInput:)`); nil for
/// Double, whose convolution sums it.
private func layerBiasSums<Scalar: BLASScalar>(_ outputGradient: Tensor<Scalar>) -> [Double]? {
    guard Scalar.self == Float.self else { return nil }
    let channels = outputGradient.shape.last ?? 0
    guard outputGradient.count > 0, channels > 0 else { return [Double](repeating: 0, count: channels) }
    return outputGradient.withUnsafeBufferPointer { g in
        // Read only: nothing is written without a kept output.
        parallelChannelSums(
            UnsafeMutableRawPointer(mutating: g.baseAddress!).assumingMemoryBound(to: Float.self),
            rows: g.count / channels, channels: channels)
    }
}

/// Adds a layer's bias gradient into `bias`: the layer's own sums (`layerBiasSums`) when it made
/// them, else its convolution's.
private func addBiasGradient<Scalar: BLASScalar>(
    _ sums: [Double]?, _ convolutions: Tensor<Scalar>?, into bias: Parameter<Scalar>
) {
    if let sums {
        accumulateChannelSums(sums, into: &bias.gradient)
    } else if let convolutions {
        bias.gradient += convolutions
    }
}

/// A value derived from a layer's weight and bias (its convolution, with the kernel in DiceKit's
/// layout), rebuilt only when either parameter's `version` has changed since it was built.
struct BuiltFromParameters<Value> {
    private var entry: (value: Value, weight: Int, bias: Int)?

    /// The kept value, or `build()`'s when the parameters changed (or on first use).
    mutating func value<Scalar: BLASScalar>(
        weight: Parameter<Scalar>, bias: Parameter<Scalar>,
        build: () throws -> Value
    ) rethrows -> Value {
        if let entry = entry, entry.weight == weight.version, entry.bias == bias.version { return entry.value }
        let value = try build()
        entry = (value, weight.version, bias.version)
        return value
    }

    /// Forgets the kept value. A layer calls it when its backward pass ends: the value holds the
    /// parameters' tensors (a `Convolution` keeps its kernel as the parameter holds it), so the
    /// optimiser's step that follows would otherwise copy each of them whole before updating it
    /// in place (copy on write); after the step the value would be rebuilt anyway.
    mutating func release() { entry = nil }
}

// Kernel layout conversions handed off to concrete Float/Double code: these layers run behind
// existentials, where generic code would otherwise execute unspecialised.
func pyTorchToGEMM<T: BLASScalar>(_ weight: Tensor<T>) throws -> Tensor<T> {
    try specialised(
        T.self, float: { try WeightLayout.fromPyTorch(weight.reinterpreted(as: Float.self)).reinterpreted() },
        double: { try WeightLayout.fromPyTorch(weight.reinterpreted(as: Double.self)).reinterpreted() })
}

/// `parameter.gradient += WeightLayout.toPyTorch(weight)`, a kernel gradient added to its
/// parameter's in one pass; over a gradient whose zeros are pending (`zeroGradient()`), written
/// as 0 + value without reading them (`Parameter.accumulateGradient`).
private func addGEMMGradient<T: BLASScalar>(_ weight: Tensor<T>, into parameter: Parameter<T>) {
    let r = weight.rank
    precondition(
        parameter.value.shape == [weight.shape[r - 1], weight.shape[r - 2]] + weight.shape[..<(r - 2)],
        "kernel gradient of shape \(weight.shape) for a parameter of shape \(parameter.value.shape)")
    weight.withUnsafeBufferPointer { source in
        parameter.accumulateGradient { target, zeros in
            precondition(
                target.count == weight.count,
                "kernel gradient of \(weight.count) values for a gradient of \(target.count)")
            let (s, t) = (UnsafeRawPointer(source.baseAddress!), UnsafeMutableRawPointer(target.baseAddress!))
            specialised(
                T.self,
                float: {
                    WeightLayout.addToPyTorch(
                        s.assumingMemoryBound(to: Float.self), shape: weight.shape,
                        into: t.assumingMemoryBound(to: Float.self), toZero: zeros)
                },
                double: {
                    WeightLayout.addToPyTorch(
                        s.assumingMemoryBound(to: Double.self), shape: weight.shape,
                        into: t.assumingMemoryBound(to: Double.self), toZero: zeros)
                })
        }
    }
}
