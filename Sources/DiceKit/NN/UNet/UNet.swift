// The U-Net: encoder blocks with max pooling, a middle block, decoder levels of transposed
// convolution + concatenation with the skip + block, and a 1×1 head. Forward caches what the
// backward pass needs inside the layers; backward routes the gradient through the same graph
// in reverse, adding each skip's gradient to the gradient arriving through its pooling layer.

/// A 2-D or 3-D U-Net with explicit forward and backward passes and PyTorch state_dict names.
///
/// Input: channels-last images [N, H, W, inputChannels] (or volumes [N, D, H, W, inputChannels])
/// whose spatial extents are divisible by 2^depth. Output: logits [N, H, W, classes].
/// Parameters are registered in `parameters` under the names of the reference PyTorch model
/// (`down.{i}.{0,2}.weight`, `mid.…`, `up.{j}.…`, `dec.{j}.…`, `head.…`), and the optional
/// deep-supervision heads as `deep_supervision.{k}.…` (UNet+DeepSupervision.swift).
public final class UNet<Scalar: BLASScalar> {
    /// The architecture.
    public let configuration: UNetConfiguration
    /// Every parameter and buffer by its PyTorch name, in state_dict order.
    public let parameters = ParameterStore<Scalar>()
    /// When set, forward and backward add their time per stage (down.i, pool.i, mid, up.j,
    /// concat.j, dec.j, head) to it; nil (default) measures nothing.
    public var profile: LayerProfile?
    /// Called by `backward` after each stage (head, dec.j, concat.j, up.j, mid, pool.i, down.i,
    /// named like the parameters' prefixes): the gradients of that stage's parameters are then
    /// final, so data-parallel training can start sending them; nil (default) calls nothing.
    public var backwardStageFinished: ((String) -> Void)?
    /// Whether `backward` also computes d(loss)/d(input) (default false: training needs only the
    /// parameters' gradients, and the first convolution then skips its input gradient).
    public var computesInputGradient: Bool {
        get { firstConvolution.computesInputGradient }
        set { firstConvolution.computesInputGradient = newValue }
    }

    /// Every BatchNorm layer (for synchronised batch normalisation, Trainer+Distributed.swift).
    var batchNorms: [BatchNorm<Scalar>] {
        (down + [mid] + dec).flatMap { $0.layers.compactMap { $0 as? BatchNorm<Scalar> } }
    }

    /// The arithmetic of the 3×3 and up-sampling convolutions (default `.float`): with
    /// `.bfloat16`, the 3×3 ones with input channels in multiples of 16 and the 2×2 (2×2×2)
    /// transposed ones take bfloat16 operands with Float accumulation on a CPU that has AVX512-BF16 or
    /// AMX-BF16 (else Float); the first layer, the 1×1 head, normalisation, activations and
    /// parameters stay `Scalar`.
    public var precision: ComputePrecision = .float {
        didSet {
            for block in down + [mid] + dec {
                for case let layer as ConvolutionLayer<Scalar> in block.layers { layer.precision = precision }
            }
            for layer in up { layer.precision = precision }
        }
    }

    /// Whether a `.bfloat16` training forward pass keeps the activations that its backward pass
    /// reads only through their bfloat16 roundings (the bfloat16 convolutions' inputs, the ReLUs'
    /// outputs) as those roundings (default true): about half the bytes of what a step keeps,
    /// and the same gradients bit for bit (UNet+BFloat16Activations.swift). False keeps them in
    /// Float, and spares the conversions.
    public var storesActivationsInBFloat16 = true

    let down: [SequentialLayer<Scalar>]
    let pools: [MaxPoolingLayer<Scalar>]
    let mid: SequentialLayer<Scalar>
    let up: [TransposedConvolutionLayer<Scalar>]
    let dec: [SequentialLayer<Scalar>]
    let head: ConvolutionLayer<Scalar>
    /// The deep-supervision heads: [k - 1] maps decoder level k (1/2^k resolution) to logits
    /// (UNet+DeepSupervision.swift); empty unless enabled.
    var supervisionHeads: [ConvolutionLayer<Scalar>] = []

    /// A freshly initialised network (He-uniform convolutions, zero biases), reproducible from `seed`.
    ///
    /// - Throws: `DiceKitError.option` for an invalid configuration.
    public init(_ configuration: UNetConfiguration, seed: UInt64 = 0) throws {
        try configuration.validate()
        self.configuration = configuration
        var generator = SeededGenerator(seed: seed)
        let c = configuration
        let k = Array(repeating: 3, count: c.spatialRank)
        func block(_ input: Int, _ output: Int) throws -> SequentialLayer<Scalar> {
            var layers: [any Layer<Scalar>] = []
            for (i, o) in [(input, output), (output, output)] {
                layers.append(
                    try ConvolutionLayer(kernelSize: k, inputChannels: i, outputChannels: o, generator: &generator))
                switch c.normalization {
                case .none: break
                case .batch: layers.append(try BatchNorm<Scalar>(channels: o))
                case .instance: layers.append(try InstanceNorm<Scalar>(channels: o, affine: true))
                case .group(let g): layers.append(try GroupNorm<Scalar>(groups: g, channels: o))
                }
                layers.append(ActivationLayer<Scalar>(c.activation))
            }
            return SequentialLayer(layers)
        }
        down = try (0..<c.depth).map { i in
            try block(i == 0 ? c.inputChannels : c.width(level: i - 1), c.width(level: i))
        }
        pools = try (0..<c.depth).map { _ in try MaxPoolingLayer(factor: 2, spatialRank: c.spatialRank) }
        mid = try block(c.width(level: c.depth - 1), c.width(level: c.depth))
        up = try (0..<c.depth).reversed().map { i in
            try TransposedConvolutionLayer(
                kernelSize: Array(repeating: 2, count: c.spatialRank),
                inputChannels: c.width(level: i + 1), outputChannels: c.width(level: i),
                stride: [2], generator: &generator)
        }
        dec = try (0..<c.depth).reversed().map { i in try block(2 * c.width(level: i), c.width(level: i)) }
        head = try ConvolutionLayer(
            kernelSize: Array(repeating: 1, count: c.spatialRank), inputChannels: c.baseWidth,
            outputChannels: c.classes, padding: .valid, generator: &generator)
        computesInputGradient = false

        for (i, b) in down.enumerated() { b.register(in: parameters, prefix: "down.\(i)") }
        mid.register(in: parameters, prefix: "mid")
        for (j, u) in up.enumerated() { parameters.register(u, prefix: "up.\(j)") }
        for (j, b) in dec.enumerated() { b.register(in: parameters, prefix: "dec.\(j)") }
        parameters.register(head, prefix: "head")
    }

    /// The logits [N, spatial…, classes] for `input` [N, spatial…, inputChannels].
    ///
    /// `mode` selects BatchNorm's behaviour (batch statistics in training). A `.training` pass
    /// caches activations for `backward`; an `.evaluation` pass keeps nothing once it returns.
    ///
    /// - Throws: `DiceKitError.shape` when the input's rank, channels or extents do not fit.
    ///
    /// Subnormal values flush to zero while it runs (MXCSR FTZ and DAZ, the caller's restored).
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode = .training) throws -> Tensor<Scalar> {
        try checkInput(input.shape)
        let logits = try withFlushToZero { try forwardLayers(input, mode: mode, supervised: false)[0] }
        // No backward pass follows an evaluation pass: what the layers kept for one is freed now
        // rather than held until the next training step.
        if mode == .evaluation { releaseCaches() }
        return logits
    }

    /// Frees every tensor the layers kept for `backward`.
    func releaseCaches() {
        for block in down + [mid] + dec { block.releaseCache() }
        for layer in pools { layer.releaseCache() }
        for layer in up { layer.releaseCache() }
        for layer in [head] + supervisionHeads { layer.releaseCache() }
    }

    /// The head's logits, then (when `supervised`) those of each deep-supervision head (level 1, 2, …).
    func forwardLayers(_ input: Tensor<Scalar>, mode: LayerMode, supervised: Bool) throws -> [Tensor<Scalar>] {
        if !supervised, let form = evaluationHandOver(mode) { return [try handOverEvaluationLogits(input, form)] }
        var x = input
        var skips: [Tensor<Scalar>] = []
        var auxiliary: [Tensor<Scalar>] = []
        // Each stage hands what it kept over to bfloat16 as it ends (UNet+BFloat16Activations.swift).
        let rounds = keepsActivationsInBFloat16(mode)
        for i in 0..<configuration.depth {
            x = try timed("down.\(i)", false) {
                let output = try down[i].forward(concatenating: [x], mode: mode, handingOverRounded: rounds)
                if rounds { down[i].keepActivationsInBFloat16(output: true) }
                return output
            }
            skips.append(x)
            x = try timed("pool.\(i)", false) { try pools[i].forward(x, mode: mode) }
        }
        x = try timed("mid", false) {
            let output = try mid.forward(concatenating: [x], mode: mode, handingOverRounded: rounds)
            if rounds { mid.keepActivationsInBFloat16(output: false) }
            return output
        }
        // Whether a deep-supervision head (Float) keeps x, the last decoder level's output.
        var headKeepsInput = false
        for j in 0..<configuration.depth {
            let upsampled = try timed("up.\(j)", false) {
                let output = try up[j].forward(x, mode: mode)
                if rounds && !headKeepsInput { keepInBFloat16(outputOf: j == 0 ? mid : dec[j - 1], inputOf: up[j]) }
                return output
            }
            if mode == .evaluation || !rounds {
                // The decoder block's first convolution joins the two where it copies its input,
                // and in training keeps them for its backward pass, which joins them the same way
                // (`ConvolutionLayer.forward(_:rectified:)`; else it concatenates them first).
                let parts = [upsampled, skips.removeLast()]
                if mode == .training { timed("concat.\(j)", false) {} }
                x = try timed("dec.\(j)", false) { try dec[j].forward(concatenating: parts, mode: mode) }
            } else if rounds, let parts = try roundedConcatenationParts(upsampled, skips.last!, block: dec[j]) {
                // Its passes read only the rounding: the Float concatenation is never written.
                skips.removeLast()
                let rounded = timed("concat.\(j)", false) { BFloat16Activation(roundingConcatenation: parts) }
                x = try timed("dec.\(j)", false) {
                    let output = try dec[j].forward(rounded: rounded)
                    dec[j].keepActivationsInBFloat16(output: false)
                    return output
                }
            } else {
                let joined = try timed("concat.\(j)", false) {
                    try Tensor.concatenatingChannels([upsampled, skips.removeLast()])
                }
                x = try timed("dec.\(j)", false) {
                    let output = try dec[j].forward(concatenating: [joined], mode: mode, handingOverRounded: true)
                    dec[j].keepActivationsInBFloat16(output: false)
                    return output
                }
            }
            let level = configuration.depth - 1 - j
            headKeepsInput = supervised && level >= 1 && level <= supervisionHeads.count
            if headKeepsInput {
                let h = supervisionHeads[level - 1]
                auxiliary.insert(try timed("deep_supervision.\(level)", false) { try h.forward(x, mode: mode) }, at: 0)
            }
        }
        return [try timed("head", false) { try head.forward(x, mode: mode) }] + auxiliary
    }

    /// Back-propagates d(loss)/d(logits) of the last `forward` call, adding every parameter's
    /// gradient into `parameters` (zero them first with `parameters.zeroGradients()`).
    ///
    /// Subnormal values flush to zero while it runs (MXCSR FTZ and DAZ, the caller's restored).
    ///
    /// - Returns: d(loss)/d(input), the input's shape, when `computesInputGradient` is set;
    ///   otherwise nil.
    /// - Throws: `DiceKitError.shape` when the gradient does not have the logits' shape.
    @discardableResult
    public func backward(_ logitsGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        try withFlushToZero { try backwardLayers(logitsGradient, auxiliary: []) }
    }

    /// Back-propagates the head's logits gradient and `auxiliary[k - 1]`, that of deep-supervision
    /// head k (those of the last `forward`; fewer than the heads leave the rest out).
    func backwardLayers(_ logitsGradient: Tensor<Scalar>, auxiliary: [Tensor<Scalar>]) throws -> Tensor<Scalar>? {
        // Each gradient is handed on (the variable left nil) rather than copied, so that its
        // storage has one owner and the blocks' activations can overwrite it in place.
        var g: Tensor<Scalar>? = try timed("head", true) { try inputGradient(of: head, logitsGradient, "head") }
        var skipGradients = [Tensor<Scalar>?](repeating: nil, count: configuration.depth)
        for j in (0..<configuration.depth).reversed() {
            let level = configuration.depth - 1 - j
            let width = configuration.width(level: level)
            // The block's first convolution writes its input gradient as the concatenation's two
            // parts where its kernels can (else the block splits it), so the
            // `concat.j` stage has nothing left to do; it still reports, in its place in the order.
            var parts = try timed("dec.\(j)", true) { try splitInputGradient(of: dec[j], taking: &g, "dec.\(j)") }
            timed("concat.\(j)", true) {}
            precondition(parts.count == 2 && parts[0].shape.last == width, "U-Net: decoder input gradient parts")
            skipGradients[level] = parts.removeLast()
            let upsampled = parts.removeLast()
            g = try timed("up.\(j)", true) { try inputGradient(of: up[j], upsampled, "up.\(j)") }
            // Decoder level + 1 (the input of up.j) also feeds deep-supervision head level + 1.
            if level + 1 <= auxiliary.count && j > 0 {
                let h = supervisionHeads[level]
                let name = "deep_supervision.\(level + 1)"
                g = g! + (try timed(name, true) { try inputGradient(of: h, auxiliary[level], name) })
            }
        }
        g = try timed("mid", true) { try inputGradient(of: mid, taking: &g, "mid") }
        for i in (0..<configuration.depth).reversed() {
            let skip = skipGradients[i]!
            skipGradients[i] = nil
            g = try timed("pool.\(i)", true) { try pools[i].backward(g!, adding: skip) }
            if i == 0 { break }
            g = try timed("down.\(i)", true) { try inputGradient(of: down[i], taking: &g, "down.\(i)") }
        }
        return try timed("down.0", true) { try down[0].backward(taking: &g) }
    }

    /// `layer`'s input gradient, which every stage but down.0 must return (only the network's
    /// first convolution may leave it out).
    private func inputGradient(
        of layer: any Layer<Scalar>, _ outputGradient: Tensor<Scalar>,
        _ name: String
    ) throws -> Tensor<Scalar> {
        guard let g = try layer.backward(outputGradient) else {
            throw DiceKitError.shape(
                "U-Net stage \(name) computes no input gradient; expected only the first convolution (down.0.0) to leave it out"
            )
        }
        return g
    }

    /// The decoder block's input gradient as its up-sampled and skip parts, taking `gradient`
    /// (left nil) as `SequentialLayer.backward(takingSplit:)`.
    private func splitInputGradient(
        of block: SequentialLayer<Scalar>, taking gradient: inout Tensor<Scalar>?, _ name: String
    ) throws -> [Tensor<Scalar>] {
        guard let parts = try block.backward(takingSplit: &gradient) else {
            throw DiceKitError.shape(
                "U-Net stage \(name) computes no input gradient; expected only the first convolution (down.0.0) to leave it out"
            )
        }
        return parts
    }

    /// The block's input gradient, taking `gradient` (left nil) as `SequentialLayer.backward(taking:)`.
    private func inputGradient(
        of block: SequentialLayer<Scalar>, taking gradient: inout Tensor<Scalar>?, _ name: String
    ) throws -> Tensor<Scalar> {
        guard let g = try block.backward(taking: &gradient) else {
            throw DiceKitError.shape(
                "U-Net stage \(name) computes no input gradient; expected only the first convolution (down.0.0) to leave it out"
            )
        }
        return g
    }

    private var firstConvolution: ConvolutionLayer<Scalar> { down[0].layers[0] as! ConvolutionLayer<Scalar> }

    func timed<R>(_ name: String, _ backward: Bool, _ body: () throws -> R) rethrows -> R {
        let result = try profile.map { try $0.measure(name, backward: backward, body) } ?? body()
        if backward { backwardStageFinished?(name) }
        return result
    }

    func checkInput(_ shape: [Int]) throws {
        let c = configuration
        let factor = 1 << c.depth
        guard shape.count == c.spatialRank + 2, shape.last == c.inputChannels,
            shape.dropFirst().dropLast().allSatisfy({ $0 > 0 && $0 % factor == 0 })
        else {
            let dims = c.spatialRank == 2 ? "H, W" : "D, H, W"
            throw DiceKitError.shape(
                "U-Net input has shape \(shape); expected [N, \(dims), \(c.inputChannels)] with spatial extents divisible by 2^depth = \(factor)"
            )
        }
    }
}
