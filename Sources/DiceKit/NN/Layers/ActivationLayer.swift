// Element-wise activations as layers (no parameters). A ReLU, or a leaky ReLU whose slope is not
// negative, keeps its output for the backward pass: the output is positive exactly where the
// input is, so the derivative reads the same from either, and the tensor the next layer keeps
// anyway is the only one held (the pre-activation can be freed, or overwritten in place).

/// The activation a network uses after each convolution.
public enum ActivationKind: Sendable, Equatable {
    /// max(0, x).
    case relu
    /// x for x > 0, slope·x otherwise (nnU-Net uses slope 0.01).
    case leakyReLU(slope: Double)
}

/// ReLU or LeakyReLU as a `Layer`.
public final class ActivationLayer<Scalar: BLASScalar>: Layer, CacheReleasing {
    /// Which function.
    public let kind: ActivationKind
    /// The output (or, for a negative slope, the input) of the last training forward pass.
    private var cached: Tensor<Scalar>?

    /// An activation layer of the given kind.
    public init(_ kind: ActivationKind) { self.kind = kind }

    /// None.
    public var parameters: [Parameter<Scalar>] { [] }

    /// nil for ReLU, the slope for leaky ReLU.
    private var slope: Double? {
        if case .leakyReLU(let slope) = kind { return slope }
        return nil
    }

    /// Whether the output tells where the input is positive (every ReLU, a leaky ReLU with a
    /// slope ≥ 0): then the backward pass reads the derivative from the output.
    private var keepsOutput: Bool { (slope ?? 0) >= 0 }

    /// The activation of every element; caches the output (the input for a negative slope).
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        let output = ActivationKernels.rectifier(input, gradient: nil, slope: slope)
        cached = keepsOutput ? output : input
        return output
    }

    /// The activation of `tensor`'s elements written over them (no second buffer when nothing
    /// else holds `tensor`'s storage, a copy first otherwise), cached as `forward` caches.
    func forward(inPlace tensor: inout Tensor<Scalar>, mode: LayerMode) throws {
        guard keepsOutput else {
            tensor = try forward(tensor, mode: mode)
            return
        }
        let slope = slope
        tensor.withUnsafeMutableBufferPointer { ActivationKernels.rectifyInPlace($0, slope: slope) }
        cached = tensor
    }

    /// `backward(_:)` written over `gradient` (no second buffer when nothing else holds its
    /// storage, a copy first otherwise).
    func backward(inPlace gradient: inout Tensor<Scalar>) throws {
        guard keepsOutput, let output = cached else {
            gradient = try backward(gradient)!
            return
        }
        cached = nil
        try ActivationKernels.checkShapes(output, gradient, kind == .relu ? "ReLU" : "leaky ReLU")
        let slope = slope
        output.withUnsafeBufferPointer { y in
            gradient.withUnsafeMutableBufferPointer { g in
                ActivationKernels.rectifyGradientInPlace(g, output: y, slope: slope)
            }
        }
    }

    /// Forgets what the last forward pass kept for `backward` (after an evaluation pass).
    func releaseCache() { cached = nil }

    /// Takes `output`, a ReLU's output computed elsewhere (a convolution's rectifying output
    /// pass, SequentialLayer.forward), as the forward pass's: the cached output from which
    /// `backward` reads the derivative (output > 0 exactly where input > 0; a NaN input gives a
    /// NaN output, and neither passes the gradient), so `backward` gives the same bits.
    func adoptRectifiedOutput(_ output: Tensor<Scalar>) {
        precondition(kind == .relu, "ActivationLayer: only a ReLU's output can stand for its input")
        cached = output
    }

    /// The output gradient times the derivative at the cached input (read from the cached output).
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        guard let cached = cached else {
            throw DiceKitError.shape("ActivationLayer.backward called before forward")
        }
        self.cached = nil
        try ActivationKernels.checkShapes(cached, outputGradient, kind == .relu ? "ReLU" : "leaky ReLU")
        return ActivationKernels.rectifier(cached, gradient: outputGradient, slope: slope)
    }
}
