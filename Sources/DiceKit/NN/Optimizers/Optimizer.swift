// The optimiser protocol and the named-tensor form of optimiser state used in checkpoints.
//
// State tensors are named "<parameter name>.<slot>" with PyTorch's slot names
// ("exp_avg", "exp_avg_sq", "momentum_buffer"), plus "step" (I64, shape []). The metadata holds
// "optimizer" (its kind) so a checkpoint of one optimiser is not loaded into another.

/// Updates trainable parameters from their gradients.
///
/// One training step:
/// ```
/// store.zeroGradients()
/// … forward, loss, backward (layers accumulate into each parameter's gradient) …
/// clipGradientNorm(store.trainable, maxNorm: 12)          // optional
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
    /// The optimiser's state as named tensors (see the file header for the names).
    func stateDict() -> SafetensorsFile
    /// Restores state written by `stateDict()` of the same kind of optimiser.
    ///
    /// - Parameter parameters: the parameters the state belongs to: every state tensor must
    ///   name one of them and have its shape.
    /// - Throws: `DiceKitError.value` for another optimiser's state, an unknown parameter name or
    ///   a missing "step"; `DiceKitError.shape` for a state tensor of the wrong shape.
    func loadState(_ file: SafetensorsFile, parameters: [Parameter<Scalar>]) throws
}

/// Per-parameter slots of optimiser state, by parameter name.
struct OptimizerSlots<Scalar: BLASScalar> {
    /// slot name → parameter name → tensor.
    var slots: [String: [String: Tensor<Scalar>]]

    init(_ names: [String]) {
        slots = Dictionary(uniqueKeysWithValues: names.map { ($0, [:]) })
    }

    func encode(kind: String, step: Int, metadata: [String: String]) -> SafetensorsFile {
        var file = SafetensorsFile(metadata: metadata.merging(["optimizer": kind]) { $1 })
        file.tensors["step"] = try! SafetensorsTensor(integers: [step], shape: [])
        for (slot, tensors) in slots {
            for (name, tensor) in tensors { file.setTensor(tensor, named: "\(name).\(slot)") }
        }
        return file
    }

    /// Decodes slots and the step; validates kind, names and shapes.
    static func decode(_ file: SafetensorsFile, kind: String, slotNames: [String],
                       parameters: [Parameter<Scalar>]) throws -> (OptimizerSlots, Int) {
        if let stored = file.metadata["optimizer"], stored != kind {
            throw DiceKitError.value("optimizer state is for '\(stored)'; expected '\(kind)'")
        }
        guard let stepTensor = file.tensors["step"], let step = try stepTensor.integers(name: "step").first, step >= 0 else {
            throw DiceKitError.value("optimizer state lacks a 'step' count ≥ 0")
        }
        let shapes = Dictionary(parameters.map { ($0.name, $0.value.shape) }) { a, _ in a }
        var result = OptimizerSlots(slotNames)
        for name in file.names where name != "step" {
            guard let slot = slotNames.first(where: { name.hasSuffix(".\($0)") }) else {
                throw DiceKitError.value("optimizer state tensor '\(name)' has no known slot (\(slotNames.joined(separator: ", ")))")
            }
            let parameter = String(name.dropLast(slot.count + 1))
            guard let shape = shapes[parameter] else {
                throw DiceKitError.value("optimizer state tensor '\(name)' names no parameter of the model")
            }
            let tensor = try file.tensor(named: name, as: Scalar.self)
            guard tensor.shape == shape else {
                throw DiceKitError.shape("optimizer state tensor '\(name)' has shape \(tensor.shape); parameter '\(parameter)' has \(shape)")
            }
            result.slots[slot, default: [:]][parameter] = tensor
        }
        return (result, step)
    }
}
