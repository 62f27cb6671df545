// The evaluation-mode forward pass of a bfloat16 U-Net whose activations between blocks are
// handed over in a form their readers take without rounding them again. The same layers, in the
// same order, as `forwardLayers` in evaluation mode, and the same bits.
//
// On the dot-product and tile kernels (`.rounded`, images and volumes), a down block's output is
// stored as its bfloat16 bits by its last convolution where both its readers run on those
// kernels, which would round it anyway: the pooling takes the bits (the maximum of roundings is
// the rounding of the maximum, MaxPooling.forward(rounded:)) and hands its output to the next
// block's first convolution, which copies them into its padded copy; the decoder block's first
// convolution, as the skip, copies them beside the up-sampled tensor's rounding
// (ForwardInput.joinedWithRounded). Half the bytes written and read, and no rounding pass over
// the skip or the pooled tensor. mid's and the decoder blocks' outputs go to the next up-sampling
// as bits where it runs as the scattered pass on those kernels, and an up-sampling stores its
// output as bits where its decoder block joins it with a skip in bits
// (TransposedConvolution.bitsForward). The last decoder block hands nothing over: on the dot
// products its last convolution computes the 1×1 head's logits in its stores (FusedHead.swift);
// otherwise its output stays Float and the head reads it.
//
// With rounded operands (`.gridded`, volumes only: GriddedHandOver.swift), activations are handed
// over as Float values on the bfloat16 grid, which the rounded-operand passes read in place:
//
//   down.i    its output goes to pool.i, then the next block's first convolution, and as the skip
//             to its decoder block's first convolution: on the grid when both take it so
//   mid, dec  their output goes to the next up-sampling (not the last decoder block's: the 1×1
//             head reads it in Float)
//   up.j      its output and the skip are dec.j's input: on the grid when the skip is and dec.j
//             takes it so

extension UNet {
    /// How an evaluation forward pass without deep supervision hands activations between blocks
    /// over: `.rounded` on the bfloat16 dot-product or tile kernels, `.gridded` for a 3-D U-Net
    /// with rounded operands (`GriddedHandOver.applies`); nil (Float tensors, `forwardLayers`)
    /// in training, in Float, or where bfloat16 runs in Float.
    func evaluationHandOver(_ mode: LayerMode) -> BlockOutput? {
        guard mode == .evaluation, precision == .bfloat16, Scalar.self == Float.self,
            ComputePrecision.bfloat16Available
        else { return nil }
        if BFloat16Arithmetic.current != .roundedOperands { return .rounded }
        return configuration.spatialRank == 3 ? .gridded : nil
    }

    /// Whether an evaluation forward pass hands activations over on the bfloat16 grid.
    func handsOverGridded(_ mode: LayerMode) -> Bool { evaluationHandOver(mode) == .gridded }

    /// The logits of an evaluation forward pass of `input` that hands activations between blocks
    /// over as `form` (`evaluationHandOver`, not nil).
    ///
    /// - Throws: as `forward`.
    func handOverEvaluationLogits(_ input: Tensor<Scalar>, _ form: BlockOutput) throws -> Tensor<Scalar> {
        let depth = configuration.depth
        var x = ForwardInput<Scalar>.parts([input])
        var skips: [ForwardInput<Scalar>] = []
        for i in 0..<depth {
            let shape = try down[i].evaluationOutputShape(for: x.shape())
            let pooled = try pools[i].pooling.outputShape(for: shape)
            let (next, decoder) = (Self.firstConvolution(of: i + 1 < depth ? down[i + 1] : mid), dec[depth - 1 - i])
            let handsOver =
                form == .rounded
                ? next.evaluationReadsRounded(ofShape: pooled)
                    && Self.firstConvolution(of: decoder).evaluationReadsRounded(ofShape: Self.joined(shape))
                : next.takesGriddedInput(ofShape: pooled)
                    && Self.firstConvolution(of: decoder).takesGriddedInput(ofShape: Self.joined(shape))
            x = try timed("down.\(i)", false) { try down[i].evaluationForward(x, output: handsOver ? form : .float) }
            skips.append(x)
            x = try timed("pool.\(i)", false) {
                if case .rounded(let rounded) = x { return .rounded(try pools[i].forward(rounded: rounded)) }
                let output = try pools[i].forward(x.tensor(), mode: .evaluation)
                return x.isOnBFloat16Grid ? .gridded([output]) : .parts([output])
            }
        }
        let midShape = try mid.evaluationOutputShape(for: x.shape())
        x = try timed("mid", false) { try mid.evaluationForward(x, output: upsamplingInput(0, midShape, form)) }
        for j in 0..<depth {
            let skip = skips.removeLast()
            let joined = try Self.joined(skip.shape())
            let grids =
                form == .gridded && skip.isOnBFloat16Grid
                && Self.firstConvolution(of: dec[j]).takesGriddedInput(ofShape: joined)
            let upsampled: HandedTensor<Scalar> = try timed("up.\(j)", false) {
                if form == .rounded, up[j].evaluationTakesBits(ofShape: try x.shape()) {
                    // Stored as bits where the decoder block reads them beside the skip's.
                    let input: HandedTensor<Scalar> =
                        if case .rounded(let r) = x { .rounded(r) } else { .float(try x.tensor()) }
                    return try up[j].evaluationForward(input, storesBits: skip.isRounded)
                }
                return .float(
                    try up[j].forward(x.tensor(), grid: BFloat16Grid(input: x.isOnBFloat16Grid, output: grids)))
            }
            let input: ForwardInput<Scalar> =
                if case .rounded(let rounded) = skip {
                    .joinedWithRounded(upsampled, rounded)
                } else {
                    grids
                        ? .gridded([upsampled.tensor(), try skip.tensor()])
                        : .parts([upsampled.tensor(), try skip.tensor()])
                }
            if j + 1 == depth {
                // The last block and the head, whose logits the block's last convolution computes
                // in its stores where it can (FusedHead.swift): one stage.
                return try timed("dec.\(j)+head", false) { try dec[j].evaluationLogits(input, head: head) }
            }
            let output = upsamplingInput(j + 1, try dec[j].evaluationOutputShape(for: joined), form)
            x = try timed("dec.\(j)", false) { try dec[j].evaluationForward(input, output: output) }
        }
        // The last decoder level returned the logits above.
        preconditionFailure("U-Net: a network has at least one level (UNetConfiguration checks it)")
    }

    /// How a block whose output of `shape` goes to up-sampling `j` hands it over: as `form`
    /// asks where the up-sampling takes it so, else as Float values.
    private func upsamplingInput(_ j: Int, _ shape: [Int], _ form: BlockOutput) -> BlockOutput {
        switch form {
        case .rounded where up[j].evaluationTakesBits(ofShape: shape): .rounded
        case .gridded where up[j].takesGriddedInput(ofShape: shape): .gridded
        default: .float
        }
    }

    /// A block's first layer, a convolution.
    private static func firstConvolution(of block: SequentialLayer<Scalar>) -> ConvolutionLayer<Scalar> {
        block.layers[0] as! ConvolutionLayer<Scalar>
    }

    /// The shape of a decoder block's input whose skip has `shape`: the up-sampled tensor has as
    /// many channels.
    private static func joined(_ shape: [Int]) -> [Int] { shape.dropLast() + [2 * shape.last!] }
}
