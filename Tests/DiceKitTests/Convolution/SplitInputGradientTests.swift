// A convolution's input gradient in two halves of its channels (a U-Net decoder's up-sampled and
// skip parts): on the direct Float kernels (plain or on rounded operands) and the bfloat16
// dot-product and tile kernels the stores write each half to its own tensor
// (dk_conv_geometry.cout_a); elsewhere the joined gradient is split after. Either way the parts
// are the joined gradient's halves, bit for bit, and the parameters' gradients are unchanged.

import XCTest

@testable import DiceKit

final class SplitInputGradientTests: XCTestCase {
    override func tearDown() {
        BFloat16Arithmetic.force(nil)
        try? KernelDispatch.force(nil)
    }

    private func check(
        precision: ComputePrecision, input: [Int], cout: Int, inKernels: Bool, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var generator = SeededGenerator(seed: seed)
        let cin = input.last!
        let layer = try ConvolutionLayer<Float>(
            kernelSize: Array(repeating: 3, count: input.count - 2), inputChannels: cin, outputChannels: cout,
            generator: &generator)
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

    /// The stores write the parts: 64 input channels (two halves of 32), batch of 3, odd width;
    /// 32 input channels (two halves of 16), whose gradient has 32 output channels per position.
    func testBFloat16KernelsWriteTheParts() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.dotProducts)
        try check(precision: .bfloat16, input: [3, 6, 7, 64], cout: 32, inKernels: true, seed: 9300)
        try check(precision: .bfloat16, input: [2, 5, 7, 32], cout: 16, inKernels: true, seed: 9305)
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

    /// The direct Float kernels' stores, at AVX-512 and AVX2 where the CPU has them: 32 input
    /// channels (the input gradient's grid tiles, halves of 16), 64 and 96 (per-position tiles;
    /// at 96 a 64-channel block spans both halves), 128 at 3×3 (several K blocks, each reloading
    /// its accumulators through the parts), a batch of 1 (tasks by chunk of positions), 3-D, and
    /// images large enough for the kernels to read dy in place (InPlaceForward: the interior and
    /// the border strips each write a window of the parts).
    func testDirectKernelsWriteTheParts() throws {
        for isa in InstructionSet.available where isa >= .avx2 {
            try KernelDispatch.force(isa)
            try check(precision: .float, input: [2, 16, 18, 32], cout: 32, inKernels: true, seed: 9410)
            try check(precision: .float, input: [2, 12, 12, 64], cout: 48, inKernels: true, seed: 9420)
            try check(precision: .float, input: [3, 6, 7, 32], cout: 32, inKernels: true, seed: 9370)
            try check(precision: .float, input: [2, 6, 7, 64], cout: 32, inKernels: true, seed: 9320)
            try check(precision: .float, input: [1, 5, 9, 96], cout: 48, inKernels: true, seed: 9380)
            try check(precision: .float, input: [2, 4, 4, 128], cout: 16, inKernels: true, seed: 9390)
            try check(precision: .float, input: [2, 3, 4, 5, 32], cout: 16, inKernels: true, seed: 9400)
        }
    }

    /// The rounded-operand arithmetic runs the input gradient on the direct kernels: their stores.
    func testRoundedOperandsWriteTheParts() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.roundedOperands)
        try check(precision: .bfloat16, input: [2, 6, 7, 64], cout: 32, inKernels: true, seed: 9340)
        try check(precision: .bfloat16, input: [2, 6, 7, 32], cout: 16, inKernels: true, seed: 9345)
    }

    /// Halves of 8 channels, and the lowered path (no direct kernels at the portable level),
    /// split after.
    func testOtherPathsSplitAfter() throws {
        try check(precision: .bfloat16, input: [2, 6, 7, 16], cout: 32, inKernels: false, seed: 9330)
        try check(precision: .float, input: [2, 6, 7, 16], cout: 32, inKernels: false, seed: 9335)
        try KernelDispatch.force(.portable)
        try check(precision: .float, input: [2, 6, 7, 64], cout: 32, inKernels: false, seed: 9325)
    }
}
