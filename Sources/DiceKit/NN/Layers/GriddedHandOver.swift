// Evaluation-mode activations handed over on the bfloat16 grid, for the rounded-operand
// arithmetic (BFloat16RoundedOperands.swift).
//
// A rounded-operand convolution reads its input only through its bfloat16 rounding, made where
// the Float direct kernels copy the input into the padded form they read. That copy is also
// why it cannot read its input in place as a Float pass does (InPlaceForward.swift): a 3-D
// window copies and rounds each input row for each of the kd output planes that read it, and
// one 96³ volume's inference spent 9 % of its time rounding. So where an evaluation-mode
// activation goes only to such passes, the pass that writes it stores its rounding, as Floats
// (dk_conv_geometry.round_output, after the bias and the ReLU), and the passes that read it take
// it as it is: in place, with no copy (`LoweredPass.inputOnBFloat16Grid`). Those are the values
// they would have rounded it to, so the results are the same bits.
//
// Volumes only (`GriddedHandOver.applies`). A 2-D window rounds each of its rows once (twice
// where two chunks share it), and handing images over on the grid gave no gain beyond this
// machine's order bias (0.95–1.02× over the 2-D U-Net keys, both orders), where a 96³ volume's
// inference ran 1.05× faster (Intel Xeon family 6 model 207, 2026-12-05).
//
// Within a block (SequentialLayer's evaluation mode) a convolution hands its output over so when
// the next convolution takes it (`evaluationFeedsGridded`); a U-Net (UNet+HandOver.swift)
// also asks it of each block's last convolution and of the up-samplings, whose outputs go to the
// pooling and the next block, the skip's decoder block, or the next up-sampling. A max-pooling
// keeps the grid: the maximum of bfloat16 values is one of them.

/// When activations are handed over on the bfloat16 grid.
enum GriddedHandOver {
    /// Whether an evaluation-mode activation of `shape` may be: the rounded-operand arithmetic
    /// is in use and it is a volume, [N, D, H, W, C].
    static func applies(to shape: [Int]) -> Bool {
        BFloat16Arithmetic.current == .roundedOperands && shape.count == 5
    }
}

extension ConvolutionLayer {
    /// Whether an evaluation-mode forward pass of a volume of `shape` (the folded convolution's
    /// geometry is the layer's) reads it only through its bfloat16 rounding with rounded
    /// operands, so that it may be handed that input on the bfloat16 grid (`handsOverGridded`).
    func takesGriddedInput(ofShape shape: [Int]) -> Bool {
        guard GriddedHandOver.applies(to: shape), let convolution = bfloat16Convolution() else { return false }
        return convolution.forwardTakesRoundedInput(shape)
    }

    /// Whether this layer's evaluation output for `input` goes to `consumer` on the bfloat16
    /// grid: `consumer` takes an input of its shape so (`takesGriddedInput(ofShape:)`).
    ///
    /// - Throws: `DiceKitError.shape` when `input` does not fit the kernel.
    func evaluationFeedsGridded(_ input: ForwardInput<Scalar>, _ consumer: ConvolutionLayer<Scalar>?) throws -> Bool {
        guard let consumer, consumer.precision == .bfloat16, GriddedHandOver.applies(to: try input.shape()) else {
            return false
        }
        let outputShape = try convolutionFromParameters().outputShape(for: input.shape())
        return consumer.takesGriddedInput(ofShape: outputShape)
    }
}

extension ForwardInput {
    /// Whether the input lies on the bfloat16 grid: `.gridded`, or a rounding.
    var isOnBFloat16Grid: Bool {
        switch self {
        case .parts, .joinedWithRounded: false
        case .gridded, .rounded: true
        }
    }
}
