// Average pooling, 2-D and 3-D, on channels-last tensors, with its backward pass.
// Geometry and loops: PoolingKernels.swift.

/// Average pooling over windows of a channels-last image or volume batch, with backward.
///
/// Shapes as `MaxPooling`. The divisor is the window volume (padded zeros included, PyTorch's
/// default), or with `countIncludesPadding` false the number of input cells in the window.
public struct AveragePooling: Sendable, Equatable {
    /// Window extents per spatial axis (2 or 3 entries).
    public var kernelSize: [Int]
    /// Step per spatial axis; defaults to the kernel size.
    public var stride: [Int]
    /// Padding, each amount below the kernel extent; default `.valid`.
    public var padding: Padding
    /// Whether padded zeros count in the divisor; default true (PyTorch's count_include_pad).
    public var countIncludesPadding: Bool

    /// Average pooling with the given window; the stride defaults to the kernel size.
    ///
    /// - Throws: as `MaxPooling.init`.
    public init(kernelSize: [Int], stride: [Int]? = nil, padding: Padding = .valid, countIncludesPadding: Bool = true)
        throws
    {
        (self.kernelSize, self.stride) = try poolingWindow(kernelSize, stride, operation: "average pooling")
        self.padding = padding
        self.countIncludesPadding = countIncludesPadding
    }

    /// The output shape for an input shape.
    ///
    /// - Throws: as `MaxPooling.outputShape(for:)`.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try poolingGeometry(inputShape, kernelSize, stride, padding, operation: "average pooling").outputShape
    }

    /// The mean of every window.
    ///
    /// - Throws: as `outputShape(for:)`.
    public func forward<T: BLASScalar>(_ input: Tensor<T>) throws -> Tensor<T> {
        let g = try poolingGeometry(input.shape, kernelSize, stride, padding, operation: "average pooling")
        let all = countIncludesPadding
        return specialised(
            T.self,
            float: {
                PoolingKernels.average(g, input.reinterpreted(as: Float.self), countIncludesPadding: all)
                    .reinterpreted()
            },
            double: {
                PoolingKernels.average(g, input.reinterpreted(as: Double.self), countIncludesPadding: all)
                    .reinterpreted()
            })
    }

    /// ∂loss/∂input for an input of shape `inputShape`: each output gradient spread evenly over its window.
    ///
    /// - Throws: as `outputShape(for:)`, and `DiceKitError.shape` when `outputGradient` does not
    ///   have the output's shape.
    public func backward<T: BLASScalar>(inputShape: [Int], outputGradient: Tensor<T>) throws -> Tensor<T> {
        let g = try poolingGeometry(inputShape, kernelSize, stride, padding, operation: "average pooling")
        guard outputGradient.shape == g.outputShape else {
            throw DiceKitError.shape(
                "average pooling backward: output gradient has shape \(outputGradient.shape); input \(inputShape) pools to \(g.outputShape)"
            )
        }
        let all = countIncludesPadding
        return specialised(
            T.self,
            float: {
                PoolingKernels.averageBackward(
                    g, outputGradient.reinterpreted(as: Float.self), countIncludesPadding: all
                ).reinterpreted()
            },
            double: {
                PoolingKernels.averageBackward(
                    g, outputGradient.reinterpreted(as: Double.self), countIncludesPadding: all
                ).reinterpreted()
            })
    }
}
