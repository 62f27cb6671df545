// The geometry of a convolution pass as the Winograd passes see it, without running it
// (WinogradTests' which passes qualify, WinogradSlabsTests' slabs).

internal import CDiceKitKernels

@testable import DiceKit

/// Calls `body` with the geometry of the forward pass of a `kernel` convolution (stride
/// `stride`, padding `.same`) over an input of shape `input` ([N, spatial…, C]) to `cout`
/// channels: the convolution's, the direct kernels' and the padded source, whose input is never
/// read (valid only inside `body`).
func withWinogradPass<R>(
    _ input: [Int], cout: Int, kernel: [Int] = [3, 3], stride: [Int] = [1],
    _ body: (ConvGeometry, dk_conv_geometry, PaddedSource) throws -> R
) throws -> R {
    let conv = try Convolution(
        weight: Tensor<Float>(shape: kernel + [input.last!, cout]), stride: stride, padding: .same)
    let g = try conv.geometry(input)
    let source = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    defer { source.deallocate() }
    let padded = PaddedSource(
        source: source, batch: input[0], inner: g.input, channels: input.last!, before: g.padBefore,
        after: g.padAfter, kernelWidth: g.kernel[2])
    return try body(
        g, g.directGeometry(padded: padded, output: g.output, kernel: g.kernel, cin: input.last!, cout: cout), padded)
}
