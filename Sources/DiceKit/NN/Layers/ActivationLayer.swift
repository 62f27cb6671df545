// Element-wise activations as layers (no parameters). A ReLU, or a leaky ReLU whose slope is not
// negative, keeps its output for the backward pass: the output is positive exactly where the
// input is, so the derivative reads the same from either, and the tensor the next layer keeps
// anyway is the only one held (the pre-activation can be freed, or overwritten in place). In a
// `.bfloat16` training step that output may be kept as its bfloat16 rounding
// (KeptActivations.swift).

internal import CDiceKitKernels

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
    /// The output kept as its bfloat16 rounding instead (`keep(rounded:)`), else nil.
    private var rounded: BFloat16Activation?

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
    /// slope ≥ 0): then the backward pass reads the derivative from the output, and the layer
    /// before may apply this activation in its own output pass (`adoptRectifiedOutput`).
    var keepsOutput: Bool { (slope ?? 0) >= 0 }

    /// The activation of every element; caches the output (the input for a negative slope).
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        let output = ActivationKernels.rectifier(input, gradient: nil, slope: slope)
        cached = keepsOutput ? output : input
        rounded = nil
        return output
    }

    /// The activation of `tensor`'s elements written over them (no second buffer when nothing
    /// else holds `tensor`'s storage, a copy first otherwise), cached as `forward` caches.
    func forward(inPlace tensor: inout Tensor<Scalar>, mode: LayerMode) throws {
        rounded = nil
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
        if let rounded = rounded {
            self.rounded = nil
            try backward(inPlace: &gradient, rounded: rounded)
            return
        }
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

    /// `backward(inPlace:)` with the output kept as `rounded` (read where it is positive, as the
    /// Float output would be: KeptActivations.swift).
    private func backward(inPlace gradient: inout Tensor<Scalar>, rounded: BFloat16Activation) throws {
        guard rounded.shape == gradient.shape else {
            throw DiceKitError.shape(
                "\(kind == .relu ? "ReLU" : "leaky ReLU") backward: gradient has shape \(gradient.shape); the kept output has shape \(rounded.shape)"
            )
        }
        let slope = slope
        let (leaky, a) = (Int32(slope == nil ? 0 : 1), Float(slope ?? 0))
        let y = UnsafePointer(rounded.storage.pointer)
        gradient.withUnsafeMutableBufferPointer { g in
            guard let gp = g.baseAddress else { return }
            // Each range reads and writes its own elements.
            let shared = TaskShared((y, UnsafeMutableRawPointer(gp)))
            WorkerPool.shared.forEachRange(g.count) { range in
                let (y, g) = shared.buffers
                dk_rectify_backward_inplace_bf16(
                    y + range.lowerBound, g.assumingMemoryBound(to: Float.self) + range.lowerBound, range.count,
                    a, leaky)
            }
        }
    }

    /// The output the last training forward pass kept (nil when it keeps the input, or the
    /// rounding instead): the tensor `keep(rounded:)` may replace.
    var keptOutput: Tensor<Scalar>? { keepsOutput ? cached : nil }

    /// The output kept as its bfloat16 rounding, else nil.
    var keptRounded: BFloat16Activation? { rounded }

    /// Keeps `rounded`, the bfloat16 rounding of `keptOutput`, instead of it (a `.bfloat16`
    /// training step: KeptActivations.swift); `backward` then gives the same bits.
    func keep(rounded: BFloat16Activation) {
        precondition(
            Scalar.self == Float.self && keptOutput?.shape == rounded.shape,
            "ActivationLayer: only a kept Float output can be kept rounded")
        cached = nil
        self.rounded = rounded
    }

    /// Forgets what the last forward pass kept for `backward` (after an evaluation pass).
    func releaseCache() {
        cached = nil
        rounded = nil
    }

    /// Takes `output`, this activation's output computed elsewhere (a convolution's rectifying
    /// output pass, a normalisation's, SequentialLayer.forward), as the forward pass's: the cached
    /// output from which `backward` reads the derivative (output > 0 exactly where input > 0; a
    /// NaN input gives a NaN output), so `backward` gives the same bits.
    func adoptRectifiedOutput(_ output: Tensor<Scalar>) {
        precondition(keepsOutput, "ActivationLayer: only a (leaky, slope ≥ 0) ReLU's output can stand for its input")
        cached = output
        rounded = nil
    }

    /// Takes `rounded`, the bfloat16 rounding of a ReLU's output that a convolution stored as it
    /// computed it (SequentialLayer's training pass, handing activations over rounded), as the
    /// forward pass's output kept rounded (`keep(rounded:)`): `backward` reads only where it is
    /// positive, so it gives the same bits as from the Float output.
    func adoptRectifiedOutput(rounded: BFloat16Activation) {
        precondition(
            kind == .relu && Scalar.self == Float.self,
            "ActivationLayer: only a Float ReLU's output can be adopted rounded")
        cached = nil
        self.rounded = rounded
    }

    /// What this ReLU (or leaky ReLU with a slope ≥ 0) kept for its backward pass, handed over
    /// (and forgotten here) so that the layer before it applies that pass in its own
    /// (`BatchNorm.backward(inPlace:rectifiedBy:)`, `GroupNorm.backward(inPlace:rectifiedBy:)`,
    /// `ConvolutionLayer.backward(inPlace:rectifiedBy:splittingInput:)`); nil for a negative
    /// slope (the input is kept), a Double layer, or when nothing is kept (`backward` then
    /// reports it).
    func takeRectifierOutput() -> KeptRectifierOutput<Scalar>? {
        guard keepsOutput, Scalar.self == Float.self else { return nil }
        defer { (cached, rounded) = (nil, nil) }
        let slope = slope.map(Float.init)
        if let rounded { return KeptRectifierOutput(values: .rounded(rounded), slope: slope) }
        return cached.map { KeptRectifierOutput(values: .float($0), slope: slope) }
    }

    /// The output gradient times the derivative at the cached input (read from the cached output).
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        if rounded != nil {
            var gradient = outputGradient
            try backward(inPlace: &gradient)
            return gradient
        }
        guard let cached = cached else {
            throw DiceKitError.shape("ActivationLayer.backward called before forward")
        }
        self.cached = nil
        try ActivationKernels.checkShapes(cached, outputGradient, kind == .relu ? "ReLU" : "leaky ReLU")
        return ActivationKernels.rectifier(cached, gradient: outputGradient, slope: slope)
    }
}

/// A (leaky) ReLU's output as it kept it for its backward pass: the Float tensor or its bfloat16
/// rounding (positive exactly where the Float output is: either tells where the gradient passes),
/// with the slope of a leaky ReLU.
struct KeptRectifierOutput<Scalar: BLASScalar> {
    /// The output's elements as they are kept.
    enum Values {
        /// The Float output.
        case float(Tensor<Scalar>)
        /// Its bfloat16 rounding (a `.bfloat16` training step).
        case rounded(BFloat16Activation)
    }

    /// The output.
    let values: Values
    /// The slope of a leaky ReLU (≥ 0), nil for a ReLU.
    let slope: Float?

    /// The output's shape.
    var shape: [Int] {
        switch values {
        case .float(let tensor): return tensor.shape
        case .rounded(let activation): return activation.shape
        }
    }

    /// Throws `DiceKitError.shape`, naming `layer`, unless the output has the gradient's shape.
    func check(gradientShape: [Int], layer: String) throws {
        guard shape == gradientShape else {
            throw DiceKitError.shape(
                "\(layer).backward: the ReLU's kept output has shape \(shape); expected the gradient's \(gradientShape)"
            )
        }
    }

    /// `body` of the mask the C kernels read (the elements' address, whether they are bfloat16
    /// bit patterns, the slope).
    func withMask<R>(_ body: (RectifierMask) throws -> R) rethrows -> R {
        switch values {
        case .float(let tensor):
            return try tensor.withUnsafeBufferPointer {
                try body(RectifierMask(output: UnsafeRawPointer($0.baseAddress!), rounded: false, slope: slope))
            }
        case .rounded(let activation):
            return try withExtendedLifetime(activation.storage) {
                try body(
                    RectifierMask(output: UnsafeRawPointer(activation.storage.pointer), rounded: true, slope: slope))
            }
        }
    }
}

/// What a fused (leaky) ReLU backward pass reads: the ReLU's kept output (Float, or bfloat16 bits
/// when `rounded`) and its slope (nil: a ReLU). The gradient passes where the output is > 0 and
/// becomes +0 (slope·g for a leaky ReLU) elsewhere.
struct RectifierMask {
    /// The first element of the kept output.
    let output: UnsafeRawPointer
    /// Whether the elements are bfloat16 bit patterns.
    let rounded: Bool
    /// The leaky ReLU's slope, nil for a ReLU.
    let slope: Float?

    /// The same mask from element `offset` on.
    func advanced(by offset: Int) -> RectifierMask {
        RectifierMask(output: output + offset * (rounded ? 2 : 4), rounded: rounded, slope: slope)
    }

    /// The slope and leaky flag as the C kernels take them.
    var leaky: (slope: Float, flag: Int32) { (slope ?? 0, slope == nil ? 0 : 1) }
}

/// A layer that can apply the (leaky) ReLU directly after it in its own passes
/// (SequentialLayer's training passes): in its output pass, and in its backward pass over the
/// gradient, written over that gradient; and store the ReLU's output rounded to bfloat16. The
/// batch, group and instance normalisations.
protocol RectifierFusing<Scalar>: AnyObject {
    /// The scalar type of the layer's tensors.
    associatedtype Scalar: BLASScalar
    /// The layer's forward pass with `activation` applied to its output in the same pass.
    func forward(_ input: Tensor<Scalar>, mode: LayerMode, activation: ActivationKind?) throws -> Tensor<Scalar>
    /// The ReLU's backward pass (from what it kept) and then this layer's, written over `gradient`.
    func backward(inPlace gradient: inout Tensor<Scalar>, rectifiedBy kept: KeptRectifierOutput<Scalar>) throws
    /// The training forward pass followed by a ReLU, the output stored as its bfloat16 rounding
    /// (for a bfloat16 convolution that reads only that: SequentialLayer's training pass handing
    /// activations over rounded); nil where the layer cannot (a Double layer).
    func forwardRounded(_ input: Tensor<Scalar>) throws -> BFloat16Activation?
}
