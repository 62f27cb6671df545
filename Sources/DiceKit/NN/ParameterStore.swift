// ParameterStore: every parameter of a model under its full name, in registration order.
// Optimisers iterate `trainable`; checkpoints read and write `stateDict()`.

/// The parameters of a model, by full PyTorch state_dict name, in registration order.
///
/// A model registers each layer once under its path:
/// ```
/// let store = ParameterStore<Float>()
/// store.register(conv1, prefix: "down.0.0")   // down.0.0.weight, down.0.0.bias
/// store.register(norm1, prefix: "down.0.1")   // down.0.1.weight, …, down.0.1.running_var
/// ```
/// then an optimiser steps over `store.trainable` and a checkpoint saves `store.stateDict()`.
public final class ParameterStore<Scalar: BLASScalar> {
    /// Every parameter and buffer, in registration order.
    public private(set) var all: [Parameter<Scalar>] = []
    private var index: [String: Int] = [:]

    /// An empty store.
    public init() {}

    /// The trainable parameters, in registration order: what optimisers update.
    public var trainable: [Parameter<Scalar>] { all.filter(\.isTrainable) }

    /// The parameter or buffer called `name`, if any.
    public subscript(name: String) -> Parameter<Scalar>? { index[name].map { all[$0] } }

    /// Adds `parameter`, renaming it `prefix.name` (or keeping `name` when `prefix` is empty).
    ///
    /// - Precondition: the full name is not registered yet (a model-building bug otherwise).
    public func register(_ parameter: Parameter<Scalar>, prefix: String = "") {
        let full = prefix.isEmpty ? parameter.name : "\(prefix).\(parameter.name)"
        precondition(index[full] == nil, "ParameterStore: '\(full)' is registered twice")
        parameter.name = full
        index[full] = all.count
        all.append(parameter)
    }

    /// Adds every parameter of `layer` under `prefix` (e.g. "down.0.1").
    public func register(_ layer: some Layer<Scalar>, prefix: String) {
        for parameter in layer.parameters { register(parameter, prefix: prefix) }
    }

    /// Zeroes the gradient of every trainable parameter.
    public func zeroGradients() {
        for parameter in all { parameter.zeroGradient() }
    }

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
    ///   starting with `UNetConfiguration.optimizerStatePrefix` ("optimizer."): optimiser state
    ///   stored in the same file, always skipped here. With false, missing and extra names are
    ///   ignored.
    /// - Throws: `DiceKitError.value` naming missing or unexpected tensors, `DiceKitError.shape`
    ///   naming a tensor whose shape differs.
    public func load(_ file: SafetensorsFile, strict: Bool = true) throws {
        if strict {
            let missing = all.map(\.name).filter { file.tensors[$0] == nil }
            if !missing.isEmpty {
                throw DiceKitError.value("checkpoint lacks \(missing.count) tensor(s): \(missing.prefix(5).joined(separator: ", "))")
            }
            let extra = file.names.filter { index[$0] == nil && !$0.hasPrefix(UNetConfiguration.optimizerStatePrefix) }
            if !extra.isEmpty {
                throw DiceKitError.value("checkpoint has unexpected tensor(s): \(extra.prefix(5).joined(separator: ", "))")
            }
        }
        for parameter in all {
            guard let entry = file.tensors[parameter.name] else { continue }
            let expected = parameter.checkpointLayout.checkpointShape(parameter.value.shape)
            guard entry.shape == expected else {
                throw DiceKitError.shape("checkpoint tensor '\(parameter.name)' has shape \(entry.shape); the model expects \(expected)")
            }
        }
        for parameter in all {
            guard let entry = file.tensors[parameter.name] else { continue }
            parameter.value = parameter.checkpointLayout.fromCheckpoint(entry.tensor(of: Scalar.self))
        }
    }
}
