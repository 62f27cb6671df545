// The evaluation-mode forward pass of a U-Net whose convolutions run with rounded operands: the
// activations between blocks are handed over on the bfloat16 grid where every layer that reads
// them rounds them anyway (GriddedHandOver.swift), so those layers read them in place. The same
// layers, in the same order, as `forwardLayers` in evaluation mode, and the same bits:
//
//   down.i    its output goes to pool.i, then the next block's first convolution, and as the skip
//             to its decoder block's first convolution: on the grid when both take it so
//   mid, dec  their output goes to the next up-sampling (not the last decoder block's: the 1×1
//             head reads it in Float)
//   up.j      its output and the skip are dec.j's input: on the grid when the skip is and dec.j
//             takes it so

extension UNet {
    /// Whether an evaluation forward pass without deep supervision hands activations over on the
    /// bfloat16 grid: a Float 3-D U-Net, precision `.bfloat16` with the rounded-operand arithmetic
    /// (`GriddedHandOver.applies`).
    func handsOverGridded(_ mode: LayerMode) -> Bool {
        mode == .evaluation && precision == .bfloat16 && Scalar.self == Float.self && configuration.spatialRank == 3
            && ComputePrecision.bfloat16Available && BFloat16Arithmetic.current == .roundedOperands
    }

    /// The logits of an evaluation forward pass of `input` (precondition: `handsOverGridded`).
    ///
    /// - Throws: as `forward`.
    func griddedEvaluationLogits(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        let depth = configuration.depth
        var x = ForwardInput<Scalar>.parts([input])
        var skips: [ForwardInput<Scalar>] = []
        for i in 0..<depth {
            let shape = try down[i].evaluationOutputShape(for: x.shape())
            let pooled = shape.enumerated().map { $0 == 0 || $0 == shape.count - 1 ? $1 : $1 / 2 }
            let grids =
                Self.firstConvolution(of: i + 1 < depth ? down[i + 1] : mid).takesGriddedInput(ofShape: pooled)
                && Self.firstConvolution(of: dec[depth - 1 - i]).takesGriddedInput(ofShape: Self.joined(shape))
            x = try timed("down.\(i)", false) { try down[i].evaluationForward(x, roundsOutput: grids) }
            skips.append(x)
            let output = try timed("pool.\(i)", false) { try pools[i].forward(x.tensor(), mode: .evaluation) }
            x = x.isOnBFloat16Grid ? .gridded([output]) : .parts([output])
        }
        let midShape = try mid.evaluationOutputShape(for: x.shape())
        x = try timed("mid", false) {
            try mid.evaluationForward(x, roundsOutput: up[0].takesGriddedInput(ofShape: midShape))
        }
        for j in 0..<depth {
            let skip = skips.removeLast()
            let joined = try Self.joined(skip.shape())
            let grids = skip.isOnBFloat16Grid && Self.firstConvolution(of: dec[j]).takesGriddedInput(ofShape: joined)
            let upsampled = try timed("up.\(j)", false) {
                try up[j].forward(x.tensor(), grid: BFloat16Grid(input: x.isOnBFloat16Grid, output: grids))
            }
            let parts = [upsampled, try skip.tensor()]
            let shape = try dec[j].evaluationOutputShape(for: joined)
            let last = j + 1 == depth
            x = try timed("dec.\(j)", false) {
                try dec[j].evaluationForward(
                    grids ? .gridded(parts) : .parts(parts),
                    roundsOutput: !last && up[j + 1].takesGriddedInput(ofShape: shape))
            }
        }
        return try timed("head", false) { try head.forward(x.tensor(), mode: .evaluation) }
    }

    /// A block's first layer, a convolution.
    private static func firstConvolution(of block: SequentialLayer<Scalar>) -> ConvolutionLayer<Scalar> {
        block.layers[0] as! ConvolutionLayer<Scalar>
    }

    /// The shape of a decoder block's input whose skip has `shape`: the up-sampled tensor has as
    /// many channels.
    private static func joined(_ shape: [Int]) -> [Int] { shape.dropLast() + [2 * shape.last!] }
}
