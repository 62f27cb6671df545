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
    /// - Throws: `DiceKitError.value` for another optimiser's state, an unknown parameter name, a
    ///   missing or out-of-range "step" (expected 0...2⁵³), a non-finite value or a negative
    ///   second moment; `DiceKitError.shape` for a state tensor of the wrong shape. Each message
    ///   names the tensor. Nothing is allocated for a tensor before its shape is checked.
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

    /// The largest step count accepted from a file (2⁵³: every count up to it is exact in a
    /// Double, and incrementing it cannot overflow).
    static var maximumStep: Int { 1 << 53 }

    /// Decodes slots and the step; validates kind, names, shapes (before converting a tensor)
    /// and values (finite; second-moment slots ≥ 0).
    static func decode(_ file: SafetensorsFile, kind: String, slotNames: [String],
                       parameters: [Parameter<Scalar>]) throws -> (OptimizerSlots, Int) {
        if let stored = file.metadata["optimizer"], stored != kind {
            throw DiceKitError.value("optimizer state is for '\(stored)'; expected '\(kind)'")
        }
        guard let stepTensor = file.tensors["step"] else {
            throw DiceKitError.value("optimizer state lacks the tensor 'step' (the step count)")
        }
        guard stepTensor.count == 1 else {
            throw DiceKitError.shape("optimizer state tensor 'step' has shape \(stepTensor.shape); expected one integer (shape [])")
        }
        let step = try stepTensor.integers(name: "step")[0]
        guard (0...maximumStep).contains(step) else {
            throw DiceKitError.value("optimizer state tensor 'step' is \(step); expected 0...\(maximumStep)")
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
            let entry = file.tensors[name]!
            guard entry.shape == shape else {
                throw DiceKitError.shape("optimizer state tensor '\(name)' has shape \(entry.shape); parameter '\(parameter)' has \(shape)")
            }
            guard entry.dtype.isFloatingPoint else {
                throw DiceKitError.value("optimizer state tensor '\(name)' has dtype \(entry.dtype.rawValue); expected F32 or F64")
            }
            let tensor = entry.tensor(of: Scalar.self)
            let mustBeNonNegative = slot.hasSuffix("_sq")
            if let bad = tensor.scalars.firstIndex(where: { !$0.isFinite || (mustBeNonNegative && $0 < 0) }) {
                throw DiceKitError.value("optimizer state tensor '\(name)' element \(bad) is \(tensor.scalars[bad]); expected a finite value"
                                         + (mustBeNonNegative ? " ≥ 0" : ""))
            }
            result.slots[slot, default: [:]][parameter] = tensor
        }
        return (result, step)
    }
}
