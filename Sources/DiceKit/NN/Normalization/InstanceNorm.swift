// Instance normalisation (Ulyanov et al. 2016): GroupNorm with one channel per group, with
// PyTorch's InstanceNorm2d/3d defaults (no affine parameters, no running statistics).

/// Instance normalisation for [batch, spatial…, channels] input: each (sample, channel) is
/// normalised over its spatial positions, x̂ = (x − μ)/√(σ² + ε), y = γ_c·x̂ + β_c.
///
/// Equal to `GroupNorm` with one channel per group. Like PyTorch's `InstanceNorm2d/3d`, `affine`
/// defaults to false and no running statistics are kept (both modes use the instance's own
/// statistics); nnU-Net uses `affine: true`. Parameters with affine: `weight`, `bias`, shape [C].
public final class InstanceNorm<Scalar: BLASScalar>: Layer, CacheReleasing, RectifierFusing {
    private let core: GroupNorm<Scalar>

    /// Forgets the kept x̂ (see `CacheReleasing`).
    func releaseCache() { core.releaseCache() }

    /// An InstanceNorm over `channels` channels.
    ///
    /// - Parameters:
    ///   - epsilon: default 1e-5.
    ///   - affine: default false (PyTorch's default).
    /// - Throws: `DiceKitError.invalidOption` unless channels ≥ 1 and epsilon > 0.
    public init(channels: Int, epsilon: Double = 1e-5, affine: Bool = false) throws {
        core = try GroupNorm(
            groups: channels, channels: channels, epsilon: epsilon, affine: affine, layerName: "InstanceNorm")
    }

    /// Channel count C.
    public var channels: Int { core.channels }
    /// γ, shape [C], or nil without affine parameters.
    public var weight: Parameter<Scalar>? { core.weight }
    /// β, shape [C], or nil without affine parameters.
    public var bias: Parameter<Scalar>? { core.bias }
    /// `weight` and `bias` with affine parameters; none otherwise.
    public var parameters: [Parameter<Scalar>] { core.parameters }

    /// Normalises each (sample, channel) of `input` ([N, spatial…, C]); `mode` is ignored.
    ///
    /// - Throws: `DiceKitError.shape` when the last axis is not C or the rank is below 3.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        try core.forward(input, mode: mode)
    }

    /// `GroupNorm.forward(_:mode:activation:)`: the activation after this layer applied in its
    /// output pass.
    func forward(_ input: Tensor<Scalar>, mode: LayerMode, activation: ActivationKind?) throws -> Tensor<Scalar> {
        try core.forward(input, mode: mode, activation: activation)
    }

    /// `GroupNorm.forwardRounded`: the forward pass and a ReLU, the output stored rounded.
    func forwardRounded(_ input: Tensor<Scalar>) throws -> BFloat16Activation? {
        try core.forwardRounded(input)
    }

    /// d(loss)/d(input); adds d(loss)/dγ and d(loss)/dβ into the parameter gradients (if affine).
    ///
    /// - Throws: `DiceKitError.shape` when `outputGradient`'s shape differs from the last output's.
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        try core.backward(outputGradient)
    }

    /// `GroupNorm.backward(inPlace:rectifiedBy:)`: the (leaky) ReLU after this layer applied in
    /// its backward pass, the input gradient written over `gradient`. Float only.
    func backward(inPlace gradient: inout Tensor<Scalar>, rectifiedBy kept: KeptRectifierOutput<Scalar>) throws {
        try core.backward(inPlace: &gradient, rectifiedBy: kept)
    }
}
