// Public whole-tensor im2col / col2im (2-D) and vol2col / col2vol (3-D). The convolution
// layers never build the whole lowered matrix (they lower tiles); these are for inspection,
// tests and custom layers. Index mapping: see LoweringKernels.swift and Docs/Convolution.md.

/// Whole-tensor lowering of channels-last images and volumes into convolution patches.
public enum Lowering {
    /// The lowered matrix of a channels-last image batch.
    ///
    /// Input [batch, H, W, C]; output [batch·OH·OW, kh·kw·C] whose row ((n·OH + oh)·OW + ow)
    /// holds the window of output pixel (oh, ow) of sample n, ordered (kh, kw, c), zeros in the
    /// padding; out = ⌊(in + before + after − dilation·(kernel − 1) − 1) / stride⌋ + 1 per axis.
    ///
    /// - Throws: `DiceKitError.shape` for a wrong rank or a kernel larger than the padded input;
    ///   `DiceKitError.option` for bad stride, dilation or padding.
    public static func im2col<T: BLASScalar>(
        _ input: Tensor<T>, kernelSize: [Int], stride: [Int] = [1],
        padding: Padding = .valid, dilation: [Int] = [1]
    ) throws -> Tensor<T> {
        try lower(input, rank: 2, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    /// The adjoint of `im2col`: a lowered matrix [batch·OH·OW, kh·kw·C] summed back into an image
    /// batch of shape `inputShape` [batch, H, W, C], accumulating where windows overlap.
    ///
    /// - Throws: as `im2col`, and `DiceKitError.shape` when `columns` does not have the lowered shape.
    public static func col2im<T: BLASScalar>(
        _ columns: Tensor<T>, inputShape: [Int], kernelSize: [Int], stride: [Int] = [1],
        padding: Padding = .valid, dilation: [Int] = [1]
    ) throws -> Tensor<T> {
        try unlower(
            columns, inputShape: inputShape, rank: 2, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation)
    }

    /// The lowered matrix of a channels-last volume batch.
    ///
    /// Input [batch, D, H, W, C]; output [batch·OD·OH·OW, kd·kh·kw·C], rows in (n, od, oh, ow)
    /// order and columns in (kd, kh, kw, c) order, zeros in the padding.
    ///
    /// - Throws: as `im2col`.
    public static func vol2col<T: BLASScalar>(
        _ input: Tensor<T>, kernelSize: [Int], stride: [Int] = [1],
        padding: Padding = .valid, dilation: [Int] = [1]
    ) throws -> Tensor<T> {
        try lower(input, rank: 3, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    /// The adjoint of `vol2col`: [batch·OD·OH·OW, kd·kh·kw·C] summed back into a volume batch of
    /// shape `inputShape` [batch, D, H, W, C].
    ///
    /// - Throws: as `col2im`.
    public static func col2vol<T: BLASScalar>(
        _ columns: Tensor<T>, inputShape: [Int], kernelSize: [Int], stride: [Int] = [1],
        padding: Padding = .valid, dilation: [Int] = [1]
    ) throws -> Tensor<T> {
        try unlower(
            columns, inputShape: inputShape, rank: 3, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation)
    }

    private static func geometry(
        _ inputShape: [Int], rank: Int, kernelSize: [Int], stride: [Int], padding: Padding,
        dilation: [Int], operation: String
    ) throws -> ConvGeometry {
        guard kernelSize.count == rank else {
            throw DiceKitError.option("\(operation): kernel size \(kernelSize) needs \(rank) entries")
        }
        guard inputShape.count == rank + 2 else {
            throw DiceKitError.shape(
                "\(operation): input shape \(inputShape) has rank \(inputShape.count); expected \(rank + 2)")
        }
        return try ConvGeometry(
            operation: operation, inputShape: inputShape, kernel: kernelSize,
            inPerGroup: Swift.max(inputShape[rank + 1], 1), outChannels: 1, stride: stride,
            padding: padding, dilation: dilation, groups: 1)
    }

    private static func lower<T: BLASScalar>(
        _ input: Tensor<T>, rank: Int, kernelSize: [Int], stride: [Int],
        padding: Padding, dilation: [Int]
    ) throws -> Tensor<T> {
        let g = try geometry(
            input.shape, rank: rank, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation, operation: rank == 2 ? "im2col" : "vol2col")
        return specialised(
            T.self, float: { ConvolutionKernels.lower(g, x: input.reinterpreted(as: Float.self)).reinterpreted() },
            double: { ConvolutionKernels.lower(g, x: input.reinterpreted(as: Double.self)).reinterpreted() })
    }

    private static func unlower<T: BLASScalar>(
        _ columns: Tensor<T>, inputShape: [Int], rank: Int, kernelSize: [Int],
        stride: [Int], padding: Padding, dilation: [Int]
    ) throws -> Tensor<T> {
        let operation = rank == 2 ? "col2im" : "col2vol"
        let g = try geometry(
            inputShape, rank: rank, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation, operation: operation)
        guard columns.shape == [g.outputRows, g.patch] else {
            throw DiceKitError.shape(
                "\(operation): columns have shape \(columns.shape); input shape \(inputShape) lowers to [\(g.outputRows), \(g.patch)]"
            )
        }
        return specialised(
            T.self,
            float: { ConvolutionKernels.unlower(g, columns: columns.reinterpreted(as: Float.self)).reinterpreted() },
            double: { ConvolutionKernels.unlower(g, columns: columns.reinterpreted(as: Double.self)).reinterpreted() })
    }
}
