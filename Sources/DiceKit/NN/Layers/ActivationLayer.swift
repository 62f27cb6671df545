// Element-wise activations as layers (no parameters), caching their input for the backward pass.

/// The activation a network uses after each convolution.
public enum ActivationKind: Sendable, Equatable {
    /// max(0, x).
    case relu
    /// x for x > 0, slope·x otherwise (nnU-Net uses slope 0.01).
    case leakyReLU(slope: Double)
}

/// ReLU or LeakyReLU as a `Layer`.
public final class ActivationLayer<Scalar: BLASScalar>: Layer {
    /// Which function.
    public let kind: ActivationKind
    private var cachedInput: Tensor<Scalar>?

    /// An activation layer of the given kind.
    public init(_ kind: ActivationKind) { self.kind = kind }

    /// None.
    public var parameters: [Parameter<Scalar>] { [] }

    /// The activation of every element; caches the input.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        cachedInput = input
        switch kind {
        case .relu: return ReLU().forward(input)
        case .leakyReLU(let slope): return LeakyReLU(negativeSlope: slope).forward(input)
        }
    }

    /// Takes `output`, a ReLU's output computed elsewhere (a convolution's rectifying output
    /// pass, SequentialLayer.forward), as the forward pass's: ReLU's derivative at the output is
    /// its derivative at the input (output > 0 exactly where input > 0; a NaN input gives a NaN
    /// output, and neither passes the gradient), so `backward` gives the same bits.
    func adoptRectifiedOutput(_ output: Tensor<Scalar>) {
        precondition(kind == .relu, "ActivationLayer: only a ReLU's output can stand for its input")
        cachedInput = output
    }

    /// The output gradient times the derivative at the cached input.
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        guard let input = cachedInput else {
            throw DiceKitError.shape("ActivationLayer.backward called before forward")
        }
        cachedInput = nil
        switch kind {
        case .relu: return try ReLU().backward(input: input, outputGradient: outputGradient)
        case .leakyReLU(let slope):
            return try LeakyReLU(negativeSlope: slope).backward(input: input, outputGradient: outputGradient)
        }
    }
}
