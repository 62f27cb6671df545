// The optimiser protocol and the per-parameter slots behind `OptimizerState`.
//
// State tensors are named "<parameter name>.<slot>" with PyTorch's slot names
// ("exp_avg", "exp_avg_sq", "momentum_buffer"); the state's kind keeps a checkpoint of one
// optimiser from being loaded into another. How the state is stored in a file is Training's
// concern (OptimizerState+Safetensors.swift).

/// Updates trainable parameters from their gradients.
///
/// One training step:
/// ```
/// store.zeroGradients()
/// … forward, loss, backward (layers accumulate into each parameter's gradient) …
/// try clipGradientNorm(store.trainable, maxNorm: 12)      // optional
/// optimizer.learningRate = schedule.learningRate(base: 1e-3, step: epoch)
/// optimizer.step(store.trainable)
/// ```
public protocol Optimizer<Scalar>: AnyObject {
    /// The element type, Float or Double.
    associatedtype Scalar: BLASScalar
    /// The kind written to checkpoints ("sgd", "adam", "adamw").
    static var kind: String { get }
    /// The learning rate of the next step; schedules assign it before each step.
    var learningRate: Double { get set }
    /// Steps taken so far (PyTorch's `state[p]["step"]`).
    var stepCount: Int { get }
    /// Applies one update to every parameter in `parameters` from its `gradient`.
    ///
    /// Parameters are identified by name: keep names unique and stable across steps.
    func step(_ parameters: [Parameter<Scalar>])
    /// The optimiser's state as named tensors (see `OptimizerState` for the names).
    func stateDict() -> OptimizerState<Scalar>
    /// Restores state made by `stateDict()` of the same kind of optimiser.
    ///
    /// - Parameter parameters: the parameters the state belongs to: every state tensor must
    ///   name one of them and have its shape.
    /// - Throws: `DiceKitError.value` for another optimiser's state, an unknown parameter name,
    ///   an unknown slot, an out-of-range step (expected 0...2⁵³), a non-finite value or a
    ///   negative second moment; `DiceKitError.shape` for a state tensor of the wrong shape.
    ///   Each message names the tensor.
    func loadState(_ state: OptimizerState<Scalar>, parameters: [Parameter<Scalar>]) throws
}

/// Per-parameter slots of optimiser state, by parameter name.
struct OptimizerSlots<Scalar: BLASScalar> {
    /// slot name → parameter name → tensor.
    var slots: [String: [String: Tensor<Scalar>]]

    init(_ names: [String]) {
        slots = Dictionary(uniqueKeysWithValues: names.map { ($0, [:]) })
    }

    func encode(kind: String, step: Int, settings: [String: String]) -> OptimizerState<Scalar> {
        var state = OptimizerState<Scalar>(kind: kind, settings: settings, step: step)
        for (slot, tensors) in slots {
            for (name, tensor) in tensors { state.tensors["\(name).\(slot)"] = tensor }
        }
        return state
    }

    /// The largest step count accepted from a file (2⁵³: every count up to it is exact in a
    /// Double, and incrementing it cannot overflow).
    static var maximumStep: Int { 1 << 53 }

    /// Decodes slots and the step; validates kind, step, names, shapes and values (finite;
    /// second-moment slots ≥ 0).
    static func decode(
        _ state: OptimizerState<Scalar>, kind: String, slotNames: [String],
        parameters: [Parameter<Scalar>]
    ) throws -> (OptimizerSlots, Int) {
        if let stored = state.kind, stored != kind {
            throw DiceKitError.value("optimizer state is for '\(stored)'; expected '\(kind)'")
        }
        let step = state.step
        guard (0...maximumStep).contains(step) else {
            throw DiceKitError.value("optimizer state tensor 'step' is \(step); expected 0...\(maximumStep)")
        }
        let shapes = Dictionary(parameters.map { ($0.name, $0.value.shape) }) { a, _ in a }
        var result = OptimizerSlots(slotNames)
        for name in state.tensors.keys.sorted() {
            guard let slot = slotNames.first(where: { name.hasSuffix(".\($0)") }) else {
                throw DiceKitError.value(
                    "optimizer state tensor '\(name)' has no known slot (\(slotNames.joined(separator: ", ")))")
            }
            let parameter = String(name.dropLast(slot.count + 1))
            guard let shape = shapes[parameter] else {
                throw DiceKitError.value("optimizer state tensor '\(name)' names no parameter of the model")
            }
            let tensor = state.tensors[name]!
            guard tensor.shape == shape else {
                throw DiceKitError.shape(
                    "optimizer state tensor '\(name)' has shape \(tensor.shape); parameter '\(parameter)' has \(shape)")
            }
            let mustBeNonNegative = slot.hasSuffix("_sq")
            if let bad = tensor.scalars.firstIndex(where: { !$0.isFinite || (mustBeNonNegative && $0 < 0) }) {
                throw DiceKitError.value(
                    "optimizer state tensor '\(name)' element \(bad) is \(tensor.scalars[bad]); expected a finite value"
                        + (mustBeNonNegative ? " ≥ 0" : ""))
            }
            result.slots[slot, default: [:]][parameter] = tensor
        }
        return (result, step)
    }
}
