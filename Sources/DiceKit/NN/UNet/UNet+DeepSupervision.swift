// Deep supervision (nnU-Net's scheme): a 1×1 convolution head on the output of each of the lower
// decoder levels, so a loss can also be taken at 1/2, 1/4, … of the full resolution
// (DeepSupervisionLoss). The heads are extra parameters named `deep_supervision.{k}.weight` /
// `.bias` (k = the level, 1 = half resolution), a prefix the reference PyTorch U-Net does not
// have: training checkpoints (last.safetensors) keep them so a resumed run continues with them;
// model checkpoints (`save`, best.safetensors) leave them out, and `UNet.load` skips them, so a
// model file loads into PyTorch with `load_state_dict(strict=True)` and predicts with the
// full-resolution head alone.

extension UNet {
    /// The prefix of the deep-supervision heads' tensor names, "deep_supervision.".
    public static var deepSupervisionPrefix: String { UNetConfiguration.deepSupervisionPrefix }

    /// The number of outputs `forwardDeepSupervision` returns: the full-resolution one plus one
    /// per deep-supervision head (1 until `enableDeepSupervision`).
    public var deepSupervisionOutputs: Int { supervisionHeads.count + 1 }

    /// Adds a 1×1 convolution head (He-uniform weights, zero bias, reproducible from `seed`) to
    /// decoder levels 1 ..< `outputs` (level k has 1/2^k of the full resolution and base · 2^k
    /// channels), registered in `parameters` as `deep_supervision.{k}.weight` / `.bias`.
    ///
    /// - Parameter outputs: the outputs `forwardDeepSupervision` will return, full resolution
    ///   included: 1...depth (nnU-Net's default is depth: every decoder level).
    /// - Throws: `DiceKitError.invalidOption` for `outputs` out of range or heads already added.
    public func enableDeepSupervision(outputs: Int, seed: UInt64 = 0) throws {
        guard supervisionHeads.isEmpty else {
            throw DiceKitError.invalidOption(
                name: "deep supervision outputs", value: "\(outputs)",
                expected: "a U-Net without deep-supervision heads (it has \(supervisionHeads.count))")
        }
        let c = configuration
        guard (1...c.depth).contains(outputs) else {
            throw DiceKitError.invalidOption(
                name: "deep supervision outputs", value: "\(outputs)",
                expected: "1...\(c.depth) (the full resolution and up to depth − 1 lower decoder levels)")
        }
        // A stream of its own, so the network's other weights are those of `UNet(c, seed:)`.
        var generator = SeededGenerator(seed: seed ^ 0x6465_6570_5f73_7570) // "deep_sup"
        var heads: [ConvolutionLayer<Scalar>] = []
        for k in 1..<outputs {
            heads.append(
                try ConvolutionLayer(
                    kernelSize: Array(repeating: 1, count: c.spatialRank), inputChannels: c.width(level: k),
                    outputChannels: c.classes, padding: .valid, generator: &generator))
        }
        for (k, head) in zip(1..., heads) { parameters.register(head, prefix: "\(Self.deepSupervisionPrefix)\(k)") }
        supervisionHeads = heads
    }

    /// The full-resolution logits, then those of each deep-supervision head: [N, H/2^k, W/2^k,
    /// classes] for k = 1 ..< `deepSupervisionOutputs` (the order `DeepSupervisionLoss` takes).
    ///
    /// - Throws: `DiceKitError.shape` when the input's rank, channels or extents do not fit.
    public func forwardDeepSupervision(_ input: Tensor<Scalar>, mode: LayerMode = .training) throws -> [Tensor<Scalar>]
    {
        try checkInput(input.shape)
        return try withFlushToZero { try forwardLayers(input, mode: mode, supervised: true) }
    }

    /// Back-propagates the gradients of the outputs of the last `forwardDeepSupervision` (same
    /// order and shapes), adding every parameter's gradient into `parameters`.
    ///
    /// - Returns: d(loss)/d(input) when `computesInputGradient` is set; otherwise nil.
    /// - Throws: `DiceKitError.shape` when the count or a shape differs from the outputs'.
    @discardableResult
    public func backward(deepSupervision gradients: [Tensor<Scalar>]) throws -> Tensor<Scalar>? {
        guard gradients.count == deepSupervisionOutputs else {
            throw DiceKitError.shape(
                "deep supervision: \(gradients.count) output gradient(s); expected \(deepSupervisionOutputs), one per output of forwardDeepSupervision"
            )
        }
        return try withFlushToZero { try backwardLayers(gradients[0], auxiliary: Array(gradients.dropFirst())) }
    }
}
