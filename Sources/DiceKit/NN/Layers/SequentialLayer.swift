// A chain of layers with PyTorch `nn.Sequential` naming.

/// The form in which an evaluation-mode block hands its output over
/// (`SequentialLayer.evaluationForward`).
enum BlockOutput {
    /// Float values.
    case float
    /// Float values on the bfloat16 grid, for rounded-operand passes (GriddedHandOver.swift).
    case gridded
    /// The bfloat16 bits, for readers that take them (UNet+HandOver.swift).
    case rounded
}

/// Layers applied one after another, named by their index like PyTorch's `nn.Sequential`
/// (parameters of layer i are registered as "i.weight", "i.bias", …).
public final class SequentialLayer<Scalar: BLASScalar>: Layer {
    /// The layers in order; parameterless layers keep their index so names match PyTorch.
    public let layers: [any Layer<Scalar>]

    /// A sequence of layers.
    public init(_ layers: [any Layer<Scalar>]) { self.layers = layers }

    /// Every layer's parameters, in order, with their local names (the store adds "i.").
    public var parameters: [Parameter<Scalar>] { layers.flatMap { $0.parameters } }

    /// Registers every layer's parameters under "prefix.i".
    public func register(in store: ParameterStore<Scalar>, prefix: String) {
        for (i, layer) in layers.enumerated() { store.register(layer, prefix: "\(prefix).\(i)") }
    }

    /// Each layer's forward pass in order (subnormals flushed to zero meanwhile, the caller's
    /// floating-point control word restored).
    ///
    /// In `.evaluation` mode a convolution followed by a batch normalisation and/or a ReLU runs
    /// as one convolution: the normalisation folded into its kernel and bias, the ReLU applied
    /// in its output pass (ConvolutionLayer+Inference.swift; the same values up to Float
    /// rounding). Such a forward caches nothing: `backward` needs a `.training` forward.
    ///
    /// In `.training` mode a convolution or a batch normalisation directly followed by a ReLU
    /// applies it in its output pass, and the ReLU keeps that output for its backward pass: the
    /// values of the two layers one after the other (up to the sign of a zero after a
    /// convolution) and the same gradients, with one pass over the activations fewer. Any other
    /// activation overwrites the previous layer's output in place rather than allocating a
    /// second tensor of the same size.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        try forward(concatenating: [input], mode: mode)
    }

    /// `forward` of `Tensor.concatenatingChannels(parts)`. In `.evaluation` mode with a
    /// convolution first, the concatenation is never written on its own: the convolution joins
    /// the parts where it copies its input anyway (a U-Net decoder level's up-sampled tensor
    /// and skip). With `handingOverRounded`, a training pass hands activations between
    /// bfloat16 convolutions over as their roundings (`forwardLayers`).
    ///
    /// - Throws: as `forward`, and `DiceKitError.shape` when the parts do not concatenate.
    func forward(
        concatenating parts: [Tensor<Scalar>], mode: LayerMode, handingOverRounded: Bool = false
    ) throws -> Tensor<Scalar> {
        try withFlushToZero {
            if mode == .evaluation { return try evaluationLayers(.parts(parts), as: .float).tensor() }
            return try forwardLayers(.parts(parts), handingOverRounded: handingOverRounded)
        }
    }

    /// A training forward pass of the Float input whose bfloat16 rounding `rounded` is (a U-Net
    /// decoder block's concatenation, rounded from its parts: UNet.forwardLayers): the first
    /// layer, a convolution that `readsRoundedInput(ofShape:)`, reads and keeps the rounding
    /// (with a ReLU after it applied in its output pass, as in `forward`); the same values and
    /// gradients as `forward` of that input, which is never written in Float. Activations are
    /// handed over rounded as with `handingOverRounded`.
    func forward(rounded: BFloat16Activation) throws -> Tensor<Scalar> {
        precondition(
            layers.first is ConvolutionLayer<Scalar>, "SequentialLayer: a rounded input needs a convolution first")
        return try withFlushToZero { try forwardLayers(.rounded(rounded), handingOverRounded: true) }
    }

    /// A training `forward` of `input`. A convolution directly followed by a ReLU, or a batch,
    /// group or instance normalisation directly followed by a ReLU or a leaky ReLU (slope ≥ 0),
    /// applies it in its output pass, and the activation keeps that output. With
    /// `handingOverRounded` (a U-Net that keeps its activations in bfloat16,
    /// UNet+BFloat16Activations.swift), a convolution + ReLU whose output goes to another
    /// convolution alone, where both read it only through its bfloat16 rounding (this one's
    /// forward pass on the bfloat16 kernels, the next one's two passes:
    /// `ConvolutionLayer.roundedForward(_:rectified:feeding:)`), stores that rounding directly,
    /// which the ReLU and the next convolution keep: the Float output is never written, and the
    /// values and gradients are the same bits. Where no kernel stores it so (a normalisation
    /// between, or the rounded-operand arithmetic), a Float input that a convolution reads only
    /// through its rounding in both passes is rounded once before it runs: the convolution reads
    /// and keeps that rounding, and so does the ReLU whose output it is, where the hand-over
    /// after the pass (`keepActivationsInBFloat16`) rounded it a second time; the Float tensor
    /// is let go of at once.
    private func forwardLayers(_ input: ForwardInput<Scalar>, handingOverRounded: Bool) throws -> Tensor<Scalar> {
        var current = input
        var i = 0
        while i < layers.count {
            if handingOverRounded, let conv = layers[i] as? ConvolutionLayer<Scalar>, case .parts(let parts) = current,
                parts.count == 1, conv.readsRoundedInput(ofShape: parts[0].shape)
            {
                current = .rounded(rounding(parts[0], sharedWithActivationBefore: i))
            }
            if i + 1 < layers.count, let conv = layers[i] as? ConvolutionLayer<Scalar>,
                let relu = layers[i + 1] as? ActivationLayer<Scalar>, relu.kind == .relu
            {
                if handingOverRounded, i + 2 < layers.count, let consumer = layers[i + 2] as? ConvolutionLayer<Scalar>,
                    let rounded = try conv.roundedForward(current, rectified: true, feeding: consumer)
                {
                    relu.adoptRectifiedOutput(rounded: rounded)
                    current = .rounded(rounded)
                } else {
                    let y = try conv.forward(current, rectified: true)
                    relu.adoptRectifiedOutput(y)
                    current = .parts([y])
                }
                i += 2
                continue
            }
            if let conv = layers[i] as? ConvolutionLayer<Scalar>, !current.isOneFloatTensor {
                current = .parts([try conv.forward(current, rectified: false)])
                i += 1
                continue
            }
            var x = try current.tensor()
            current = .parts([]) // x alone holds the tensor, which an activation may overwrite
            if handingOverRounded, i + 2 < layers.count, let norm = layers[i] as? any RectifierFusing<Scalar>,
                let relu = layers[i + 1] as? ActivationLayer<Scalar>, relu.kind == .relu,
                let consumer = layers[i + 2] as? ConvolutionLayer<Scalar>, consumer.readsRoundedInput(ofShape: x.shape),
                let rounded = try norm.forwardRounded(x)
            {
                // Normalisation + ReLU feeding a convolution that reads only the rounding: stored
                // rounded as computed, no Float output between them.
                relu.adoptRectifiedOutput(rounded: rounded)
                current = .rounded(rounded)
                i += 2
                continue
            }
            if i + 1 < layers.count, let norm = layers[i] as? any RectifierFusing<Scalar>,
                let relu = layers[i + 1] as? ActivationLayer<Scalar>, relu.keepsOutput
            {
                x = try norm.forward(x, mode: .training, activation: relu.kind)
                relu.adoptRectifiedOutput(x)
                i += 2
            } else {
                try forwardOne(i, &x, mode: .training)
                i += 1
            }
            current = .parts([x])
        }
        return try current.tensor()
    }

    /// An evaluation-mode forward pass of `input` (a tensor, parts, parts on the bfloat16 grid,
    /// GriddedHandOver.swift, or a rounding), its output in the form `output` asks for where the
    /// last layers are a convolution (with the normalisation and ReLU it absorbs) whose stores
    /// can write it so: `.gridded` or `.rounded` then, else `.parts` of one tensor.
    ///
    /// - Throws: as `forward`.
    func evaluationForward(_ input: ForwardInput<Scalar>, output: BlockOutput) throws -> ForwardInput<Scalar> {
        try withFlushToZero { try evaluationLayers(input, as: output) }
    }

    /// `head` (a 1×1 convolution) of an evaluation-mode forward pass of `input`, with Float
    /// output: computed by the last convolution's stores where it can
    /// (`ConvolutionLayer.evaluationForward(_:folding:rectified:head:)`), else run after the
    /// block. The same bits either way.
    ///
    /// - Throws: as `forward`.
    func evaluationLogits(_ input: ForwardInput<Scalar>, head: ConvolutionLayer<Scalar>) throws -> Tensor<Scalar> {
        var pending: ConvolutionLayer<Scalar>? = head
        let output = try withFlushToZero { try evaluationLayers(input, as: .float, head: &pending) }
        return try pending?.forward(output.tensor(), mode: .evaluation) ?? output.tensor()
    }

    /// The output shape of an evaluation-mode forward pass of an input of `inputShape`: each
    /// convolution's output shape in turn (the other layers keep the shape).
    ///
    /// - Throws: as `Convolution.outputShape(for:)`.
    func evaluationOutputShape(for inputShape: [Int]) throws -> [Int] {
        try layers.reduce(inputShape) { shape, layer in
            guard let conv = layer as? ConvolutionLayer<Scalar> else { return shape }
            return try conv.convolutionFromParameters().outputShape(for: shape)
        }
    }

    /// An evaluation-mode `forward` of `input`. Each convolution runs with the batch
    /// normalisation and ReLU after it (`evaluationFusion`), and a group or instance
    /// normalisation with the (leaky) ReLU after it. A convolution whose output goes to another
    /// convolution alone, both on the bfloat16 kernels, hands it over as its bfloat16 rounding,
    /// stored by its kernels (ConvolutionLayer.evaluationRoundedForward): the next one reads its
    /// input only through that rounding, so the values are the same and no Float tensor lies
    /// between them.
    /// With rounded operands the output is handed over on the bfloat16 grid instead, which the
    /// next convolution reads in place (GriddedHandOver.swift). The last convolution's output
    /// is handed over as `form` asks, where its kernels can store it so.
    private func evaluationLayers(_ input: ForwardInput<Scalar>, as form: BlockOutput) throws -> ForwardInput<Scalar> {
        var head: ConvolutionLayer<Scalar>? = nil
        return try evaluationLayers(input, as: form, head: &head)
    }

    /// `evaluationLayers(_:as:)`, whose last convolution hands its output over as the logits of
    /// `head` where it computes them (`head` is then set to nil).
    private func evaluationLayers(
        _ input: ForwardInput<Scalar>, as form: BlockOutput, head: inout ConvolutionLayer<Scalar>?
    ) throws -> ForwardInput<Scalar> {
        var current = input
        var i = 0
        while i < layers.count {
            if let conv = layers[i] as? ConvolutionLayer<Scalar> {
                let (norm, relu, next) = evaluationFusion(after: i)
                let last = next == layers.count
                if last, let pending = head,
                    let logits = try conv.evaluationForward(current, folding: norm, rectified: relu, head: pending)
                {
                    head = nil
                    return .parts([logits])
                }
                let consumer = last ? nil : layers[next] as? ConvolutionLayer<Scalar>
                if consumer != nil || (last && form == .rounded),
                    let rounded = try conv.evaluationRoundedForward(
                        current, folding: norm, rectified: relu, feeding: consumer)
                {
                    current = .rounded(rounded)
                } else {
                    let grids = try last ? form == .gridded : conv.evaluationFeedsGridded(current, consumer)
                    let output = try conv.evaluationForward(
                        current, folding: norm, rectified: relu, roundsOutput: grids)
                    current = grids ? .gridded([output]) : .parts([output])
                }
                i = next
                continue
            }
            var x = try current.tensor()
            current = .parts([]) // x alone holds the tensor, which an activation may overwrite
            if i + 1 < layers.count, let norm = layers[i] as? any RectifierFusing<Scalar>,
                let activation = layers[i + 1] as? ActivationLayer<Scalar>, activation.keepsOutput
            {
                // A normalisation no convolution folds (group, instance) applies the activation
                // in its output pass, as in training.
                x = try norm.forward(x, mode: .evaluation, activation: activation.kind)
                i += 2
            } else {
                try forwardOne(i, &x, mode: .evaluation)
                i += 1
            }
            current = .parts([x])
        }
        if case .rounded = current, form != .rounded { return .parts([try current.tensor()]) }
        return current
    }

    /// Replaces `x`, the previous layer's fresh output, with layer i's forward pass of it (an
    /// activation overwrites it where it lies).
    private func forwardOne(_ i: Int, _ x: inout Tensor<Scalar>, mode: LayerMode) throws {
        if let activation = layers[i] as? ActivationLayer<Scalar> {
            try activation.forward(inPlace: &x, mode: mode)
        } else {
            x = try layers[i].forward(x, mode: mode)
        }
    }

    /// What an evaluation-mode convolution at index `i` absorbs: the batch normalisation right
    /// after it (folded into its kernel), a ReLU after that (applied by its output pass), and
    /// the index of the first layer it leaves.
    private func evaluationFusion(after i: Int) -> (norm: BatchNorm<Scalar>?, relu: Bool, next: Int) {
        var next = i + 1
        let norm = next < layers.count ? layers[next] as? BatchNorm<Scalar> : nil
        if norm != nil { next += 1 }
        let relu = next < layers.count && (layers[next] as? ActivationLayer<Scalar>)?.kind == .relu
        if relu { next += 1 }
        return (norm, relu, next)
    }

    /// Each layer's backward pass in reverse order (subnormals flushed to zero meanwhile).
    ///
    /// - Returns: d(loss)/d(input), or nil when the first layer does not compute it.
    /// - Throws: `DiceKitError.shape` as the layers' `backward`, or when a layer other than the
    ///   first computes no input gradient (the layers before it would have none to take).
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        var g: Tensor<Scalar>? = outputGradient
        return try backward(taking: &g)
    }

    /// `backward(_:)` of the gradient in `gradient`, which it takes (leaving nil): when nothing
    /// else holds its storage, an activation's backward pass overwrites it rather than
    /// allocating a second tensor of the same size.
    func backward(taking gradient: inout Tensor<Scalar>?) throws -> Tensor<Scalar>? {
        var parts: [Tensor<Scalar>]? = nil
        return try backward(taking: &gradient, splittingInput: false, parts: &parts)
    }

    /// `backward(taking:)` with the input gradient as its two halves of the channels (a U-Net
    /// decoder's up-sampled and skip parts): the first layer, a convolution, writes them as such
    /// (`ConvolutionLayer.backward(_:splittingInput:)`); nil when it computes no input gradient.
    func backward(takingSplit gradient: inout Tensor<Scalar>?) throws -> [Tensor<Scalar>]? {
        var parts: [Tensor<Scalar>]? = nil
        if let joined = try backward(taking: &gradient, splittingInput: true, parts: &parts) {
            return try joined.splittingChannelsInHalves()
        }
        return parts
    }

    /// The backward pass through the layers; with `splittingInput`, a first layer that is a
    /// convolution puts the input gradient's halves in `parts` and the result is nil (any other
    /// first layer returns it joined).
    private func backward(
        taking gradient: inout Tensor<Scalar>?, splittingInput: Bool, parts: inout [Tensor<Scalar>]?
    ) throws -> Tensor<Scalar>? {
        try withFlushToZero {
            var g = gradient
            gradient = nil
            var i = layers.count
            while i > 0 {
                i -= 1
                let layer = layers[i]
                guard var current = g else {
                    throw DiceKitError.shape(
                        "layer \(i + 1) of the sequence computes no input gradient; expected only the first layer to leave it out"
                    )
                }
                g = nil
                if let activation = layer as? ActivationLayer<Scalar> {
                    if i > 1, Scalar.self == Float.self, let norm = layers[i - 1] as? BatchNorm<Scalar>,
                        let convolution = layers[i - 2] as? ConvolutionLayer<Scalar>,
                        let kept = activation.takeRectifierOutput()
                    {
                        // The (leaky) ReLU's backward pass inside the normalisation's, and the
                        // convolution's bias gradient summed as the normalisation writes its
                        // input gradient: two passes over the gradient fewer, the same bits.
                        let sums = try norm.backward(inPlace: &current, rectifiedBy: kept, summingInputGradient: true)
                        i -= 2
                        let split = i == 0 && splittingInput
                        let result = try convolution.backward(current, biasSums: sums, splittingInput: split)
                        if split { parts = result } else { g = result?.first }
                    } else if i > 0, let norm = layers[i - 1] as? any RectifierFusing<Scalar>,
                        let kept = activation.takeRectifierOutput()
                    {
                        // The (leaky) ReLU's backward pass inside the normalisation's: one pass
                        // over the gradient fewer and no new tensor, the same bits.
                        try norm.backward(inPlace: &current, rectifiedBy: kept)
                        i -= 1
                        g = current
                    } else if i > 0, let convolution = layers[i - 1] as? ConvolutionLayer<Scalar>,
                        let kept = activation.takeRectifierOutput()
                    {
                        // The (leaky) ReLU's backward pass inside the pass that sums the
                        // convolution's bias gradient: one pass over the gradient fewer, the same bits.
                        i -= 1
                        let split = i == 0 && splittingInput
                        let result = try convolution.backward(
                            inPlace: &current, rectifiedBy: kept, splittingInput: split)
                        if split { parts = result } else { g = result?.first }
                    } else {
                        try activation.backward(inPlace: &current)
                        g = current
                    }
                } else if i == 0, splittingInput, let convolution = layer as? ConvolutionLayer<Scalar> {
                    parts = try convolution.backward(current, splittingInput: true)
                } else {
                    g = try layer.backward(current)
                }
            }
            return g
        }
    }
}
