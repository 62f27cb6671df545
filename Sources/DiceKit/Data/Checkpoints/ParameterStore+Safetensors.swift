// A parameter store as a safetensors state dict: PyTorch's `state_dict()` names, layouts and
// dtypes. It sits in Data/ with the file format; the store itself (NN/) names no file format.

extension ParameterStore {
    /// Parameters and buffers as a safetensors file: F32/F64 values in checkpoint (PyTorch)
    /// layout, integer buffers as I64 (PyTorch's `state_dict()` contents, same names and layouts).
    public func stateDict(metadata: [String: String] = [:]) -> SafetensorsFile {
        var file = SafetensorsFile(metadata: metadata)
        for parameter in all {
            if parameter.kind == .integerBuffer {
                file.tensors[parameter.name] = try! SafetensorsTensor(
                    integers: parameter.value.scalars.map { Int($0) }, shape: parameter.value.shape)
            } else {
                file.setTensor(parameter.checkpointLayout.toCheckpoint(parameter.value), named: parameter.name)
            }
        }
        return file
    }

    /// The gradient of every trainable parameter under its name, in checkpoint (PyTorch) layout
    /// (what `dicekit grad` writes).
    public func gradientDict() -> SafetensorsFile {
        var file = SafetensorsFile()
        for parameter in trainable {
            file.setTensor(parameter.checkpointLayout.toCheckpoint(parameter.gradient), named: parameter.name)
        }
        return file
    }

    /// Loads values from a state dict in checkpoint (PyTorch) layout (any float or integer dtype
    /// is converted). Nothing changes unless every shape fits.
    ///
    /// - Parameter strict: default true: every registered name must be present and no other
    ///   tensor may be in the file (PyTorch's `load_state_dict(strict=True)`), except names
    ///   starting with `UNetConfiguration.optimizerStatePrefix` ("optimizer.") or
    ///   `averagedWeightsPrefix` ("ema."): optimiser state and weight average stored in the same
    ///   file, always skipped here. With false, missing and extra names are ignored.
    /// - Throws: `DiceKitError.value` naming missing or unexpected tensors, `DiceKitError.shape`
    ///   naming a tensor whose shape differs.
    public func load(_ file: SafetensorsFile, strict: Bool = true) throws {
        if strict {
            let missing = all.map(\.name).filter { file.tensors[$0] == nil }
            if !missing.isEmpty {
                throw DiceKitError.value(
                    "checkpoint lacks \(missing.count) tensor(s): \(missing.prefix(5).joined(separator: ", "))")
            }
            let extra = file.names.filter { index[$0] == nil && !UNetConfiguration.isTrainingState($0) }
            if !extra.isEmpty {
                throw DiceKitError.value(
                    "checkpoint has unexpected tensor(s): \(extra.prefix(5).joined(separator: ", "))")
            }
        }
        for parameter in all {
            guard let entry = file.tensors[parameter.name] else { continue }
            let expected = parameter.checkpointLayout.checkpointShape(parameter.value.shape)
            guard entry.shape == expected else {
                throw DiceKitError.shape(
                    "checkpoint tensor '\(parameter.name)' has shape \(entry.shape); the model expects \(expected)")
            }
        }
        for parameter in all {
            guard let entry = file.tensors[parameter.name] else { continue }
            parameter.value = parameter.checkpointLayout.fromCheckpoint(entry.tensor(of: Scalar.self))
        }
    }
}
