// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), exactly as PyTorch's
// torch.optim.Adam / AdamW (amsgrad off): bias-corrected moments, ε added after the square
// root of the corrected second moment; Adam adds L2 decay to the gradient, AdamW decays the
// weights directly (decoupled). Float updates run the C kernel of CDiceKitKernels/optimizer
// (dk_optimizer.h): the Swift loop's operations in its order, vectorised; the same bits
// (OptimizerKernelTests).

internal import CDiceKitKernels

/// Adam (PyTorch semantics). For each trainable parameter p with gradient g, at step t:
/// ```
/// g ← g + λ·p                              (L2 weight decay λ, default 0)
/// m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²
/// p ← p − (lr/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)
/// ```
/// State: "<name>.exp_avg" (m), "<name>.exp_avg_sq" (v), "step".
public class Adam<Scalar: BLASScalar>: Optimizer {
    /// "adam".
    public class var kind: String { "adam" }
    let core: AdamCore<Scalar>

    /// An Adam optimiser; defaults are PyTorch's: lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-8, λ 0.
    ///
    /// - Throws: `DiceKitError.invalidOption` unless learningRate ≥ 0, 0 ≤ β < 1, ε ≥ 0 and
    ///   weightDecay ≥ 0.
    public convenience init(
        learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
        epsilon: Double = 1e-8, weightDecay: Double = 0
    ) throws {
        self.init(
            core: try AdamCore(
                learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                weightDecay: weightDecay, decoupled: false))
    }

    /// An optimiser over `core` (coupled weight decay for Adam, decoupled for AdamW).
    init(core: AdamCore<Scalar>) { self.core = core }

    /// The learning rate of the next step.
    public var learningRate: Double {
        get { core.learningRate }
        set { core.learningRate = newValue }
    }
    /// Steps taken so far.
    public var stepCount: Int { core.stepCount }
    /// One update of every trainable parameter in `parameters`.
    public func step(_ parameters: [Parameter<Scalar>]) { withFlushToZero { core.step(parameters) } }
    /// "<name>.exp_avg", "<name>.exp_avg_sq", the step count, and `kind`.
    public func stateDict() -> OptimizerState<Scalar> { core.stateDict(kind: Self.kind) }
    /// Restores `stateDict()` output of the same kind; see `Optimizer.loadState(_:parameters:)`.
    public func loadState(_ state: OptimizerState<Scalar>, parameters: [Parameter<Scalar>]) throws {
        try core.loadState(state, kind: Self.kind, parameters: parameters)
    }
}

/// AdamW (PyTorch semantics): Adam with decoupled weight decay. At step t, before the Adam
/// update (which then uses the raw gradient): p ← p·(1 − lr·λ). Default λ = 0.01, as PyTorch.
/// State: "<name>.exp_avg", "<name>.exp_avg_sq", "step"; its checkpoints say "adamw", so they
/// do not load into `Adam`, nor Adam's into it.
public final class AdamW<Scalar: BLASScalar>: Adam<Scalar> {
    /// "adamw".
    public override class var kind: String { "adamw" }

    /// An AdamW optimiser; defaults are PyTorch's: lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-8, λ 0.01.
    ///
    /// - Throws: `DiceKitError.invalidOption` unless learningRate ≥ 0, 0 ≤ β < 1, ε ≥ 0 and
    ///   weightDecay ≥ 0.
    public convenience init(
        learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
        epsilon: Double = 1e-8, weightDecay: Double = 0.01
    ) throws {
        self.init(
            core: try AdamCore(
                learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                weightDecay: weightDecay, decoupled: true))
    }
}

/// The update shared by Adam and AdamW.
final class AdamCore<Scalar: BLASScalar> {
    var learningRate: Double
    let beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double
    let decoupled: Bool
    private(set) var stepCount = 0
    private var first: [String: Tensor<Scalar>] = [:]
    private var second: [String: Tensor<Scalar>] = [:]

    init(learningRate: Double, beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double, decoupled: Bool)
        throws
    {
        let name = decoupled ? "AdamW" : "Adam"
        try requireOption(learningRate >= 0, "\(name) learning rate", learningRate, expected: "≥ 0")
        try requireOption((0..<1).contains(beta1), "\(name) beta1", beta1, expected: "0..<1")
        try requireOption((0..<1).contains(beta2), "\(name) beta2", beta2, expected: "0..<1")
        try requireOption(epsilon >= 0, "\(name) epsilon", epsilon, expected: "≥ 0")
        try requireOption(weightDecay >= 0, "\(name) weight decay", weightDecay, expected: "≥ 0")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func step(_ parameters: [Parameter<Scalar>]) {
        stepCount += 1
        let t = Double(stepCount)
        // Bias corrections in Double, as PyTorch computes them with Python floats.
        let correction1 = 1 - Double.pow(beta1, t)
        let correction2Root = (1 - Double.pow(beta2, t)).squareRoot()
        let constants = AdamConstants<Scalar>(
            stepSize: Scalar(learningRate / correction1), root2: Scalar(correction2Root),
            beta1: Scalar(beta1), beta2: Scalar(beta2), epsilon: Scalar(epsilon),
            decay: Scalar(decoupled ? 0 : weightDecay), shrink: Scalar(decoupled ? 1 - learningRate * weightDecay : 1))
        for parameter in parameters where parameter.isTrainable {
            precondition(
                parameter.gradient.shape == parameter.value.shape,
                "Adam: gradient of '\(parameter.name)' has shape \(parameter.gradient.shape), value \(parameter.value.shape)"
            )
            var m = first[parameter.name] ?? Tensor(shape: parameter.value.shape)
            var v = second[parameter.name] ?? Tensor(shape: parameter.value.shape)
            first[parameter.name] = nil // keep the buffers uniquely referenced while updating
            second[parameter.name] = nil
            let gradient = parameter.gradient
            parameter.value.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeBufferPointer { g in
                    m.withUnsafeMutableBufferPointer { m in
                        v.withUnsafeMutableBufferPointer { v in adamUpdate(&p, g, &m, &v, constants) }
                    }
                }
            }
            first[parameter.name] = m
            second[parameter.name] = v
        }
    }

    func stateDict(kind: String) -> OptimizerState<Scalar> {
        var slots = OptimizerSlots<Scalar>([])
        slots.slots["exp_avg"] = first
        slots.slots["exp_avg_sq"] = second
        return slots.encode(
            kind: kind, step: stepCount,
            settings: [
                "lr": "\(learningRate)", "betas": "\(beta1),\(beta2)", "eps": "\(epsilon)",
                "weight_decay": "\(weightDecay)",
            ])
    }

    func loadState(_ state: OptimizerState<Scalar>, kind: String, parameters: [Parameter<Scalar>]) throws {
        let (slots, step) = try OptimizerSlots<Scalar>.decode(
            state, kind: kind, slotNames: ["exp_avg_sq", "exp_avg"],
            parameters: parameters)
        let (m, v) = (slots.slots["exp_avg"] ?? [:], slots.slots["exp_avg_sq"] ?? [:])
        guard Set(m.keys) == Set(v.keys) else {
            throw DiceKitError.value("optimizer state has exp_avg and exp_avg_sq for different parameters")
        }
        first = m
        second = v
        stepCount = step
    }
}

struct AdamConstants<T: BLASScalar> {
    let stepSize: T, root2: T, beta1: T, beta2: T, epsilon: T, decay: T, shrink: T
}

extension AdamConstants where T == Float {
    /// The same constants for dk_adam_update_f32.
    var kernelConstants: dk_adam_constants {
        dk_adam_constants(
            step_size: stepSize, root2: root2, beta1: beta1, beta2: beta2, epsilon: epsilon, decay: decay,
            shrink: shrink)
    }
}

/// One Adam step over a tensor's values `p`, with its gradient `g` and moments `m`, `v`, on the
/// worker pool: Float runs dk_adam_update_f32 (the bits of `referenceAdamUpdate`, vectorised for
/// the CPU), Double the Swift loop.
@_specialize(where T == Float)
@_specialize(where T == Double)
func adamUpdate<T: BLASScalar>(
    _ p: inout UnsafeMutableBufferPointer<T>, _ g: UnsafeBufferPointer<T>,
    _ m: inout UnsafeMutableBufferPointer<T>, _ v: inout UnsafeMutableBufferPointer<T>,
    _ k: AdamConstants<T>
) {
    guard T.self == Float.self, p.count > 0 else {
        referenceAdamUpdate(&p, g, &m, &v, k)
        return
    }
    let constants = unsafeBitCast(k, to: AdamConstants<Float>.self).kernelConstants
    // Element-wise, so the split over the worker pool does not change a bit; each range writes
    // its own elements.
    let shared = TaskShared((p.baseAddress!, g.baseAddress!, m.baseAddress!, v.baseAddress!))
    withUnsafePointer(to: constants) { constants in
        let kernel = TaskShared(constants)
        WorkerPool.shared.forEachRange(p.count) { range in
            let (pp, gp, mp, vp) = shared.buffers
            let first = range.lowerBound
            dk_adam_update_f32(
                (pp + first).reinterpreted(), (gp + first).reinterpreted(), (mp + first).reinterpreted(),
                (vp + first).reinterpreted(), range.count, kernel.buffers)
        }
    }
}

/// `adamUpdate` in Swift: the reference of the C kernel, and the Double form.
@_specialize(where T == Float)
@_specialize(where T == Double)
func referenceAdamUpdate<T: BLASScalar>(
    _ p: inout UnsafeMutableBufferPointer<T>, _ g: UnsafeBufferPointer<T>,
    _ m: inout UnsafeMutableBufferPointer<T>, _ v: inout UnsafeMutableBufferPointer<T>,
    _ k: AdamConstants<T>
) {
    // Element-wise, so the split over the worker pool does not change a bit; each range writes
    // its own elements.
    let shared = TaskShared((p.baseAddress!, g.baseAddress!, m.baseAddress!, v.baseAddress!))
    WorkerPool.shared.forEachRange(p.count) { range in
        let (pp, gp, mp, vp) = shared.buffers
        for i in range {
            let x = pp[i] * k.shrink
            let d = gp[i] + k.decay * x
            let mi = mp[i] + (1 - k.beta1) * (d - mp[i])
            let vi = k.beta2 * vp[i] + (1 - k.beta2) * d * d
            mp[i] = mi
            vp[i] = vi
            pp[i] = x - k.stepSize * (mi / (vi.squareRoot() / k.root2 + k.epsilon))
        }
    }
}
