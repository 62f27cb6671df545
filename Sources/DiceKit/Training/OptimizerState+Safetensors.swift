// Optimiser state in a checkpoint: the tensors of an `OptimizerState` as safetensors entries.
//
// Tensors keep their names ("<parameter name>.<slot>") and are stored as F32 (Float) or F64
// (Double); the step count is the tensor "step" (I64, shape []), PyTorch's `state[p]["step"]`;
// the metadata holds "optimizer" (the kind) and the optimiser's settings. `TrainingCheckpoint`
// adds the prefix "optimizer." to all of them.

extension OptimizerState {
    /// The state as a safetensors file's tensors and metadata (see the file header).
    public var safetensors: SafetensorsFile {
        var file = SafetensorsFile(metadata: kind.map { settings.merging(["optimizer": $0]) { $1 } } ?? settings)
        file.tensors["step"] = try! SafetensorsTensor(integers: [step], shape: []) // I64 holds every Int
        for (name, tensor) in tensors { file.setTensor(tensor, named: name) }
        return file
    }

    /// The state stored in `file` (the tensors and metadata that `safetensors` writes).
    ///
    /// - Throws: `DiceKitError.value` when "step" is missing or a state tensor is not F32 or
    ///   F64; `DiceKitError.shape` when "step" is not one number; `SafetensorsError.conversion`
    ///   when "step" is not a whole number. Each message names the tensor. The state is checked
    ///   against the model's parameters by `Optimizer.loadState(_:parameters:)`.
    public init(_ file: SafetensorsFile) throws {
        guard let stepTensor = file.tensors["step"] else {
            throw DiceKitError.value("optimizer state lacks the tensor 'step' (the step count)")
        }
        guard stepTensor.count == 1 else {
            throw DiceKitError.shape(
                "optimizer state tensor 'step' has shape \(stepTensor.shape); expected one integer (shape [])")
        }
        let step = try stepTensor.integers(name: "step")[0]
        var settings = file.metadata
        let kind = settings.removeValue(forKey: "optimizer")
        var tensors = [String: Tensor<Scalar>]()
        for name in file.names where name != "step" {
            let entry = file.tensors[name]!
            guard entry.dtype.isFloatingPoint else {
                throw DiceKitError.value(
                    "optimizer state tensor '\(name)' has dtype \(entry.dtype.rawValue); expected F32 or F64")
            }
            tensors[name] = entry.tensor(of: Scalar.self)
        }
        self.init(kind: kind, settings: settings, step: step, tensors: tensors)
    }
}
