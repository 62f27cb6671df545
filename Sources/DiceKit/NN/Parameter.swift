// Parameters: named tensors that layers own and optimisers update.
//
// A `Parameter` is a reference type so that a layer and the `ParameterStore` (and through it the
// optimiser and the checkpoint code) share one object: the layer's backward pass accumulates
// into `gradient`, the optimiser reads `gradient` and writes `value`, the checkpoint reads
// `value` under `name`. Names follow PyTorch's state_dict ("down.0.0.weight",
// "bn.running_mean") so checkpoints load into the reference PyTorch model unchanged.

/// A named tensor owned by a layer: a trainable weight with its gradient, or a buffer (running
/// statistics) that is saved in checkpoints but not trained.
public final class Parameter<Scalar: BLASScalar> {
    /// What the optimiser and the checkpoint do with a parameter.
    public enum Kind: Sendable, Equatable {
        /// Trained: has a gradient, updated by optimisers, saved in checkpoints.
        case trainable
        /// A floating-point buffer (e.g. BatchNorm's `running_mean`): saved, never trained.
        case buffer
        /// An integer buffer (BatchNorm's `num_batches_tracked`): saved as I64, never trained.
        case integerBuffer
    }

    /// The name: local to its layer ("weight") until a `ParameterStore` registers it under a
    /// prefix, then the full PyTorch state_dict name ("down.0.0.weight").
    public internal(set) var name: String
    /// What the optimiser and the checkpoint do with it.
    public let kind: Kind
    /// The current value. Layers read it in their forward pass; optimisers assign it.
    public var value: Tensor<Scalar> {
        // No reference to oldValue: in-place mutation stays in place (no copy for the observer).
        didSet { version &+= 1 }
    }
    /// Increases whenever `value` is assigned or mutated, so that layers can keep what they
    /// derive from it (a convolution's kernel in DiceKit's layout) until it changes.
    public private(set) var version = 0
    /// d(loss)/d(value), the shape of `value` for trainable parameters (empty for buffers).
    /// Backward passes *accumulate* into it; call `zeroGradient()` (or the store's
    /// `zeroGradients()`) before each step.
    public var gradient: Tensor<Scalar> {
        get {
            writePendingZeros()
            return storedGradient
        }
        set {
            storedGradient = newValue
            zerosPending = false
        }
        _modify {
            writePendingZeros()
            yield &storedGradient
        }
    }
    /// The gradient's storage; holds zeros only once `writePendingZeros()` has run.
    private var storedGradient: Tensor<Scalar>
    /// Set by `zeroGradient()`, which leaves the zeros to the first access: a convolution's
    /// backward pass overwrites them with its kernel gradient instead of reading them
    /// (`accumulateGradient`), so a training step neither writes nor reads them (31 MB each way
    /// for a base-32 U-Net's kernels).
    private var zerosPending = false

    /// How `value` is laid out in checkpoints (PyTorch's layout); default `.same`.
    public let checkpointLayout: CheckpointLayout

    /// A parameter with a zero gradient of the value's shape (trainable) or none (buffers).
    ///
    /// - Parameter checkpointLayout: `.convolutionKernel` for convolution and transposed
    ///   convolution weights kept in DiceKit's [k…, a, b] layout; default `.same`.
    public init(
        name: String, value: Tensor<Scalar>, kind: Kind = .trainable, checkpointLayout: CheckpointLayout = .same
    ) {
        self.name = name
        self.kind = kind
        self.checkpointLayout = checkpointLayout
        self.value = value
        self.storedGradient = Tensor(shape: kind == .trainable ? value.shape : [0])
    }

    /// True for `.trainable`.
    public var isTrainable: Bool { kind == .trainable }

    /// Sets the gradient to zeros of the value's shape (trainable parameters only). The zeros
    /// are written at the gradient's first use, unless a convolution layer's backward pass comes
    /// first: it writes its kernel gradient over them without reading them, the same bits.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func zeroGradient() {
        guard kind == .trainable else { return }
        if storedGradient.shape == value.shape {
            zerosPending = true
        } else {
            gradient = Tensor(shape: value.shape)
        }
    }

    /// Runs `body` on the gradient's storage to add a contribution into it. With `zeros` true the
    /// gradient is zero and its storage was not written (`zeroGradient()`): `body` must write
    /// every element, as 0 + contribution (the bits of adding it to zeros) rather than read them.
    func accumulateGradient(_ body: (_ storage: UnsafeMutableBufferPointer<Scalar>, _ zeros: Bool) -> Void) {
        let zeros = zerosPending
        zerosPending = false
        storedGradient.withUnsafeMutableBufferPointer { body($0, zeros) }
    }

    /// Writes the zeros `zeroGradient()` left pending.
    private func writePendingZeros() {
        guard zerosPending else { return }
        zerosPending = false
        storedGradient.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = 0 }
        }
    }
}

/// Forward-pass behaviour that differs between training and evaluation (BatchNorm statistics).
public enum LayerMode: Sendable, Equatable {
    /// Use batch statistics and update running statistics (PyTorch's `module.train()`).
    case training
    /// Use running statistics; change nothing (PyTorch's `module.eval()`).
    case evaluation
}

/// A layer with an explicit forward and backward pass: the proposed common shape for every
/// DiceKit layer (convolutions, normalisations, activations).
///
/// The contract:
/// - `forward(_:mode:)` computes the output and caches what `backward` needs (so a layer is a
///   class, one instance per use in the network).
/// - `backward(_:)` takes d(loss)/d(output) of the last forward call, **adds** d(loss)/d(parameter)
///   into each parameter's `gradient`, and returns d(loss)/d(input), or nil when the layer was
///   told not to compute it (a network's first convolution).
/// - `parameters` lists the layer's own parameters and buffers with *local* names ("weight",
///   "bias", "running_mean"), in PyTorch's state_dict order; a `ParameterStore` registers them
///   under the layer's path ("down.0.1.") — see `ParameterStore.register(_:prefix:)`.
///
/// Tensors are channels-last: [batch, height, width, channels] or [batch, depth, height, width,
/// channels].
public protocol Layer<Scalar>: AnyObject {
    /// The element type, Float or Double.
    associatedtype Scalar: BLASScalar
    /// The layer's parameters and buffers, with local names, in state_dict order.
    var parameters: [Parameter<Scalar>] { get }
    /// The output for `input`, caching what `backward` needs.
    ///
    /// - Throws: `DiceKitError.shape` when the input does not fit the layer.
    func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar>
    /// d(loss)/d(input) of the last forward call; accumulates the parameter gradients.
    ///
    /// - Returns: d(loss)/d(input), or nil when the layer does not compute it
    ///   (`ConvolutionLayer.computesInputGradient` false).
    /// - Throws: `DiceKitError.shape` when `outputGradient` does not have the last output's shape.
    func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>?
}
