// Max pooling as a layer for networks built from `Layer`s.

/// Max pooling as a `Layer` (kernel = stride, the U-Net's 2× down-sampling), backward through the argmax.
public final class MaxPoolingLayer<Scalar: BLASScalar>: Layer, CacheReleasing {
    /// The pooling operation.
    public let pooling: MaxPooling
    private var cached: MaxPooling.Record<Scalar>?

    /// Pooling with window and stride `factor` on every spatial axis.
    ///
    /// - Throws: `DiceKitError.option` for a factor below 1.
    public init(factor: Int, spatialRank: Int) throws {
        pooling = try MaxPooling(kernelSize: Array(repeating: factor, count: spatialRank))
    }

    /// Forgets the kept winners (see `CacheReleasing`).
    func releaseCache() { cached = nil }

    /// None.
    public var parameters: [Parameter<Scalar>] { [] }

    /// The window maxima; caches which element of each window won.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        let (output, record) = try pooling.recordedForward(input)
        cached = record
        return output
    }

    /// An evaluation pass of a tensor given as its bfloat16 rounding, as that rounding
    /// (`MaxPooling.forward(rounded:)`); nothing is kept.
    func forward(rounded input: BFloat16Activation) throws -> BFloat16Activation {
        cached = nil
        return try pooling.forward(rounded: input)
    }

    /// Routes each output gradient to its window's maximum.
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar>? {
        try backward(outputGradient, adding: nil)
    }

    /// The input gradient plus `addend` (the input's shape), in one pass: the U-Net adds the
    /// skip connection's gradient this way.
    func backward(_ outputGradient: Tensor<Scalar>, adding addend: Tensor<Scalar>?) throws -> Tensor<Scalar> {
        guard let record = cached else { throw DiceKitError.shape("MaxPoolingLayer.backward called before forward") }
        cached = nil
        return try pooling.backward(record, outputGradient: outputGradient, adding: addend)
    }
}
