// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, exactly as
// PyTorch's torch.optim.SGD (Sutskever et al. 2013 formulation).

/// SGD with optional momentum (PyTorch semantics). For each trainable parameter p with gradient g:
/// ```
/// g ← g + λ·p                                   (weight decay λ, L2, coupled)
/// b ← g on the first step, else μ·b + (1 − τ)·g   (momentum μ, dampening τ)
/// g ← g + μ·b (Nesterov)  or  g ← b  (classical; only when μ ≠ 0)
/// p ← p − lr·g
/// ```
/// State: "<name>.momentum_buffer" per parameter (with momentum), "step".
public final class SGD<Scalar: BLASScalar>: Optimizer {
    /// "sgd".
    public static var kind: String { "sgd" }
    /// The learning rate of the next step.
    public var learningRate: Double
    /// Momentum μ ≥ 0 (default 0).
    public let momentum: Double
    /// Dampening τ of the momentum buffer (default 0).
    public let dampening: Double
    /// L2 weight decay λ ≥ 0 added to the gradient (default 0).
    public let weightDecay: Double
    /// Nesterov momentum (default false).
    public let nesterov: Bool
    /// Steps taken so far.
    public private(set) var stepCount = 0
    private var buffers: [String: Tensor<Scalar>] = [:]

    /// An SGD optimiser.
    ///
    /// - Throws: `DiceKitError.invalidOption` unless learningRate ≥ 0, momentum ≥ 0 and
    ///   weightDecay ≥ 0, or when Nesterov is asked for without momentum > 0 and dampening 0
    ///   (as in PyTorch).
    public init(
        learningRate: Double, momentum: Double = 0, dampening: Double = 0,
        weightDecay: Double = 0, nesterov: Bool = false
    ) throws {
        try requireOption(learningRate >= 0, "SGD learning rate", learningRate, expected: "≥ 0")
        try requireOption(momentum >= 0, "SGD momentum", momentum, expected: "≥ 0")
        try requireOption(weightDecay >= 0, "SGD weight decay", weightDecay, expected: "≥ 0")
        if nesterov {
            try requireOption(momentum > 0, "SGD momentum", momentum, expected: "> 0 with Nesterov momentum")
            try requireOption(dampening == 0, "SGD dampening", dampening, expected: "0 with Nesterov momentum")
        }
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    /// One SGD update of every trainable parameter in `parameters` (subnormals flushed to zero
    /// meanwhile, the caller's floating-point control word restored).
    public func step(_ parameters: [Parameter<Scalar>]) {
        withFlushToZero { update(parameters) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func update(_ parameters: [Parameter<Scalar>]) {
        stepCount += 1
        let (lr, mu, tau, decay) = (Scalar(learningRate), Scalar(momentum), Scalar(dampening), Scalar(weightDecay))
        for parameter in parameters where parameter.isTrainable {
            precondition(
                parameter.gradient.shape == parameter.value.shape,
                "SGD: gradient of '\(parameter.name)' has shape \(parameter.gradient.shape), value \(parameter.value.shape)"
            )
            var buffer = buffers[parameter.name]
            let first = buffer == nil
            if momentum != 0 && first { buffer = Tensor(shape: parameter.value.shape) }
            let gradient = parameter.gradient
            parameter.value.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeBufferPointer { g in
                    if momentum == 0 {
                        sgdPlain(&p, g, lr: lr, decay: decay)
                    } else {
                        buffer!.withUnsafeMutableBufferPointer { b in
                            sgdMomentum(
                                &p, g, &b, lr: lr, decay: decay, mu: mu, tau: tau, first: first, nesterov: nesterov)
                        }
                    }
                }
            }
            if momentum != 0 { buffers[parameter.name] = buffer }
        }
    }

    /// "<name>.momentum_buffer" per parameter, the step count, kind "sgd".
    public func stateDict() -> OptimizerState<Scalar> {
        var slots = OptimizerSlots<Scalar>([])
        slots.slots["momentum_buffer"] = buffers
        return slots.encode(
            kind: Self.kind, step: stepCount,
            settings: [
                "lr": "\(learningRate)", "momentum": "\(momentum)", "weight_decay": "\(weightDecay)",
                "nesterov": "\(nesterov)",
            ])
    }

    /// Restores `stateDict()` output; see `Optimizer.loadState(_:parameters:)`.
    public func loadState(_ state: OptimizerState<Scalar>, parameters: [Parameter<Scalar>]) throws {
        let (slots, step) = try OptimizerSlots<Scalar>.decode(
            state, kind: Self.kind, slotNames: ["momentum_buffer"], parameters: parameters)
        buffers = slots.slots["momentum_buffer"] ?? [:]
        stepCount = step
    }
}

@_specialize(where T == Float)
@_specialize(where T == Double)
func sgdPlain<T: BLASScalar>(_ p: inout UnsafeMutableBufferPointer<T>, _ g: UnsafeBufferPointer<T>, lr: T, decay: T) {
    for i in p.indices { p[i] -= lr * (g[i] + decay * p[i]) }
}

@_specialize(where T == Float)
@_specialize(where T == Double)
func sgdMomentum<T: BLASScalar>(
    _ p: inout UnsafeMutableBufferPointer<T>, _ g: UnsafeBufferPointer<T>,
    _ b: inout UnsafeMutableBufferPointer<T>, lr: T, decay: T, mu: T, tau: T,
    first: Bool, nesterov: Bool
) {
    for i in p.indices {
        let d = g[i] + decay * p[i]
        b[i] = first ? d : mu * b[i] + (1 - tau) * d
        p[i] -= lr * (nesterov ? d + mu * b[i] : b[i])
    }
}
