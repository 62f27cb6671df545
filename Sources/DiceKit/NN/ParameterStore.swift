// ParameterStore: every parameter of a model under its full name, in registration order.
// Optimisers iterate `trainable`; checkpoints read and write `stateDict()`
// (Data/Checkpoints/ParameterStore+Safetensors.swift).

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
    var index: [String: Int] = [:]

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
}
