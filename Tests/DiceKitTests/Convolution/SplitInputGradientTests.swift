// A convolution's input gradient in two halves of its channels (a U-Net decoder's up-sampled and
// skip parts): on the bfloat16 dot-product and tile kernels the stores write each half to its own
// tensor (dk_conv_geometry.cout_a); elsewhere the joined gradient is split after. Either way the parts
// are the joined gradient's halves, bit for bit, and the parameters' gradients are unchanged.

import XCTest

@testable import DiceKit

final class SplitInputGradientTests: XCTestCase {
    override func tearDown() {
        BFloat16Arithmetic.force(nil)
    }

    private func check(
        precision: ComputePrecision, input: [Int], cout: Int, inKernels: Bool, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var generator = SeededGenerator(seed: seed)
        let cin = input.last!
        let layer = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: cin, outputChannels: cout, generator: &generator)
        layer.precision = precision
        let x = randomTensor(input, seed: seed + 1).converted(to: Float.self)
        let y = try layer.forward(x, mode: .training)
        let dy = randomTensor(y.shape, seed: seed + 2).converted(to: Float.self)
        let joined = try XCTUnwrap(try layer.backward(dy))
        let (weightGradient, biasGradient) = (layer.weight.gradient, layer.bias.gradient)
        for parameter in layer.parameters { parameter.zeroGradient() }

        var convolution = try layer.convolutionFromParameters()
        convolution.settings.precision = precision
        XCTAssertEqual(
            try convolution.geometry(input).splitsInputGradient(settings: convolution.settings), inKernels,
            "which path writes the parts", file: file, line: line)
        _ = try layer.forward(x, mode: .training)
        let parts = try XCTUnwrap(try layer.backward(dy, splittingInput: true))
        XCTAssertEqual(parts, try joined.splittingChannels([cin / 2, cin / 2]), file: file, line: line)
        XCTAssertEqual(layer.weight.gradient, weightGradient, file: file, line: line)
        XCTAssertEqual(layer.bias.gradient, biasGradient, file: file, line: line)
    }

    /// The stores write the parts: 64 input channels (two halves of 32), batch of 3, odd width.
    func testBFloat16KernelsWriteTheParts() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.dotProducts)
        try check(precision: .bfloat16, input: [3, 6, 7, 64], cout: 32, inKernels: true, seed: 9300)
        try check(precision: .bfloat16, input: [2, 5, 5, 128], cout: 48, inKernels: true, seed: 9310)
    }

    /// The tile kernels' stores (on the tile unit where AMX is in use, else on its software model):
    /// 64 and 96 input channels, whose gradients take both 16-channel blocks of a tile store, and
    /// a batch of 1 (one task per chunk of positions).
    func testTileKernelsWriteTheParts() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.tiles)
        try check(precision: .bfloat16, input: [2, 6, 7, 64], cout: 32, inKernels: true, seed: 9350)
        try check(precision: .bfloat16, input: [1, 5, 9, 96], cout: 16, inKernels: true, seed: 9360)
    }

    /// Float, the rounded-operand arithmetic and halves of 8 channels split after.
    func testOtherPathsSplitAfter() throws {
        try check(precision: .float, input: [2, 6, 7, 64], cout: 32, inKernels: false, seed: 9320)
        try check(precision: .bfloat16, input: [2, 6, 7, 16], cout: 32, inKernels: false, seed: 9330)
        if ComputePrecision.bfloat16Available {
            BFloat16Arithmetic.force(.roundedOperands)
            try check(precision: .bfloat16, input: [2, 6, 7, 64], cout: 32, inKernels: false, seed: 9340)
        }
    }
}
