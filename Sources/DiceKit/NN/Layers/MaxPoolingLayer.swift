// Max pooling as a layer for networks built from `Layer`s.

/// Max pooling as a `Layer` (kernel = stride, the U-Net's 2× down-sampling), backward through the argmax.
public final class MaxPoolingLayer<Scalar: BLASScalar>: Layer {
    /// The pooling operation.
    public let pooling: MaxPooling
    private var cached: MaxPoolingResult<Scalar>?

    /// Pooling with window and stride `factor` on every spatial axis.
    ///
    /// - Throws: `DiceKitError.option` for a factor below 1.
    public init(factor: Int, spatialRank: Int) throws {
        pooling = try MaxPooling(kernelSize: Array(repeating: factor, count: spatialRank))
    }

    /// None.
    public var parameters: [Parameter<Scalar>] { [] }

    /// The window maxima; caches the argmax.
    public func forward(_ input: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar> {
        let result = try pooling.forward(input)
        cached = result
        return result.output
    }

    /// Routes each output gradient to its window's maximum.
    public func backward(_ outputGradient: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard let result = cached else { throw DiceKitError.shape("MaxPoolingLayer.backward called before forward") }
        cached = nil
        return try pooling.backward(result, outputGradient: outputGradient)
    }
}
