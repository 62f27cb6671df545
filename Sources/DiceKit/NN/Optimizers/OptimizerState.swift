// An optimiser's state as plain named tensors: what a checkpoint stores, with no file format.
// Training/OptimizerState+Safetensors.swift converts it to and from the safetensors tensors
// of a checkpoint.

/// An optimiser's state: its kind, its settings, the step count and the per-parameter tensors.
///
/// Tensors are named "<parameter name>.<slot>" with PyTorch's slot names ("exp_avg",
/// "exp_avg_sq", "momentum_buffer"). `Optimizer.stateDict()` makes one; `loadState` checks one
/// against the model's parameters before restoring it.
public struct OptimizerState<Scalar: BLASScalar>: Sendable, Equatable {
    /// The optimiser that made the state ("sgd", "adam", "adamw"), or nil when not recorded;
    /// `loadState` refuses another optimiser's state.
    public var kind: String?
    /// The optimiser's settings as text ("lr", "betas", "eps", "weight_decay", "momentum",
    /// "nesterov"), recorded for reading; never applied on load.
    public var settings: [String: String]
    /// Steps taken (PyTorch's `state[p]["step"]`), 0...2⁵³ when loaded.
    public var step: Int
    /// "<parameter name>.<slot>" → tensor of the parameter's shape.
    public var tensors: [String: Tensor<Scalar>]

    /// A state with the given parts (defaults: no kind, no settings, step 0, no tensors).
    public init(
        kind: String? = nil, settings: [String: String] = [:], step: Int = 0,
        tensors: [String: Tensor<Scalar>] = [:]
    ) {
        self.kind = kind
        self.settings = settings
        self.step = step
        self.tensors = tensors
    }
}
