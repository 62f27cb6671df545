// Max pooling, 2-D and 3-D, on channels-last tensors, with the backward pass through the
// argmax. Geometry and loops: PoolingKernels.swift.

/// Max pooling over windows of a channels-last image or volume batch, with backward through the argmax.
///
/// Shapes: input [batch, H, W, C] or [batch, D, H, W, C]; output [batch, OH, OW, C] or
/// [batch, OD, OH, OW, C] with out = ⌊(in + before + after − kernel) / stride⌋ + 1 per axis.
/// Padded cells never win; ties go to the first maximum in window order; NaN propagates.
public struct MaxPooling: Sendable, Equatable {
    /// Window extents per spatial axis (2 or 3 entries), e.g. [2, 2].
    public var kernelSize: [Int]
    /// Step per spatial axis; defaults to the kernel size.
    public var stride: [Int]
    /// Padding, each amount below the kernel extent; default `.valid`.
    public var padding: Padding

    /// Max pooling with the given window; the stride defaults to the kernel size.
    ///
    /// - Throws: `DiceKitError.option` when the kernel has not 2 or 3 positive entries, or the
    ///   stride list has the wrong length or a non-positive entry.
    public init(kernelSize: [Int], stride: [Int]? = nil, padding: Padding = .valid) throws {
        (self.kernelSize, self.stride) = try poolingWindow(kernelSize, stride, operation: "max pooling")
        self.padding = padding
    }

    /// The output shape for an input shape.
    ///
    /// - Throws: `DiceKitError.shape` for a wrong rank or a window larger than the padded input;
    ///   `DiceKitError.option` for padding not below the kernel extent.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try poolingGeometry(inputShape, kernelSize, stride, padding, operation: "max pooling").outputShape
    }

    /// The maxima of every window, with what the backward pass needs.
    ///
    /// - Throws: as `outputShape(for:)`.
    public func forward<T: BLASScalar>(_ input: Tensor<T>) throws -> MaxPoolingResult<T> {
        let g = try poolingGeometry(input.shape, kernelSize, stride, padding, operation: "max pooling")
        if PoolingKernels.tiles(g) {
            let (output, taps) = Self.tiledForward(g, input)
            return MaxPoolingResult(
                output: output, inputShape: input.shape, argmax: PoolingKernels.tiledArgmax(g, taps: taps))
        }
        let (output, argmax) = specialised(
            T.self,
            float: {
                let (y, a) = PoolingKernels.max(g, input.reinterpreted(as: Float.self))
                return (y.reinterpreted(as: T.self), a)
            },
            double: {
                let (y, a) = PoolingKernels.max(g, input.reinterpreted(as: Double.self))
                return (y.reinterpreted(as: T.self), a)
            })
        return MaxPoolingResult(output: output, inputShape: input.shape, argmax: argmax)
    }

    /// ∂loss/∂input (shape `result.inputShape`): each output gradient added to its window's maximum.
    ///
    /// - Throws: `DiceKitError.shape` when `outputGradient` does not have the output's shape.
    public func backward<T: BLASScalar>(_ result: MaxPoolingResult<T>, outputGradient: Tensor<T>) throws -> Tensor<T> {
        guard outputGradient.shape == result.output.shape else {
            throw DiceKitError.shape(
                "max pooling backward: output gradient has shape \(outputGradient.shape); the output has shape \(result.output.shape)"
            )
        }
        let count = result.inputShape.reduce(1, *)
        return specialised(
            T.self,
            float: {
                PoolingKernels.scatter(
                    outputGradient.reinterpreted(as: Float.self), argmax: result.argmax,
                    inputShape: result.inputShape, count: count
                ).reinterpreted()
            },
            double: {
                PoolingKernels.scatter(
                    outputGradient.reinterpreted(as: Double.self), argmax: result.argmax,
                    inputShape: result.inputShape, count: count
                ).reinterpreted()
            })
    }
}

// The layer's passes: with windows that tile the input, the winning tap per output element
// (a byte) replaces the flat argmax, and the backward pass can add a second gradient for free.
extension MaxPooling {
    /// What `MaxPoolingLayer` keeps between its forward and backward passes.
    enum Record<T: BLASScalar> {
        case tiled(ConvGeometry, taps: [UInt8], outputShape: [Int])
        case general(MaxPoolingResult<T>)
    }

    /// The window maxima and the record for `backward(_:outputGradient:adding:)`.
    func recordedForward<T: BLASScalar>(_ input: Tensor<T>) throws -> (Tensor<T>, Record<T>) {
        let g = try poolingGeometry(input.shape, kernelSize, stride, padding, operation: "max pooling")
        guard PoolingKernels.tiles(g) else {
            let result = try forward(input)
            return (result.output, .general(result))
        }
        let (output, taps) = Self.tiledForward(g, input)
        return (output, .tiled(g, taps: taps, outputShape: output.shape))
    }

    /// ∂loss/∂input of a recorded forward pass, plus `addend` (the input's shape) when given.
    func backward<T: BLASScalar>(_ record: Record<T>, outputGradient: Tensor<T>, adding addend: Tensor<T>?) throws
        -> Tensor<T>
    {
        switch record {
        case .general(let result):
            var gradient = try backward(result, outputGradient: outputGradient)
            if let addend = addend { gradient += addend }
            return gradient
        case .tiled(let g, let taps, let outputShape):
            guard outputGradient.shape == outputShape, addend.map({ $0.shape == g.inputShape }) ?? true else {
                throw DiceKitError.shape(
                    "max pooling backward: output gradient has shape \(outputGradient.shape) (the output has shape \(outputShape)), addend \(addend?.shape ?? []) (the input has shape \(g.inputShape))"
                )
            }
            return specialised(
                T.self,
                float: {
                    PoolingKernels.tiledScatter(
                        g, outputGradient.reinterpreted(as: Float.self), taps: taps, adding: addend?.reinterpreted()
                    ).reinterpreted()
                },
                double: {
                    PoolingKernels.tiledScatterLoops(
                        g, outputGradient.reinterpreted(as: Double.self), taps: taps, adding: addend?.reinterpreted()
                    ).reinterpreted()
                })
        }
    }

    private static func tiledForward<T: BLASScalar>(_ g: ConvGeometry, _ input: Tensor<T>) -> (Tensor<T>, [UInt8]) {
        specialised(
            T.self,
            float: {
                let (y, taps) = PoolingKernels.tiledMax(g, input.reinterpreted(as: Float.self))
                return (y.reinterpreted(as: T.self), taps)
            },
            double: {
                let (y, taps) = PoolingKernels.tiledMaxLoops(g, input.reinterpreted(as: Double.self))
                return (y.reinterpreted(as: T.self), taps)
            })
    }
}

extension MaxPooling {
    /// The window maxima of a tensor given as its bfloat16 rounding, as that rounding: an
    /// evaluation pass between bfloat16 convolutions (UNet+HandOver.swift), which keeps nothing
    /// for a backward pass. Rounding never reverses an order, so these are the bits of the
    /// rounded Float maxima (`dk_maxpool_halving_bf16`); windows the C kernels do not take are
    /// pooled in Float and rounded.
    ///
    /// - Throws: as `outputShape(for:)`.
    func forward(rounded input: BFloat16Activation) throws -> BFloat16Activation {
        let g = try poolingGeometry(input.shape, kernelSize, stride, padding, operation: "max pooling")
        if PoolingKernels.tiles(g), let output = PoolingKernels.halvingMax(g, input) { return output }
        return BFloat16Activation(rounding: try forward(input.widened(as: Float.self)).output)
    }
}

/// The output of `MaxPooling.forward` and the argmax its backward pass follows.
public struct MaxPoolingResult<Scalar: BLASScalar>: Sendable {
    /// The pooled tensor [batch, out…, C].
    public let output: Tensor<Scalar>
    /// The shape of the pooled input.
    public let inputShape: [Int]
    /// For every output element, the flat (row-major) index of its maximum in the input.
    public let argmax: [Int]
}
