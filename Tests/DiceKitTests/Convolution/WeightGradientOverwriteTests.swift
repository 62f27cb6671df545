// LoweredPass.weightGradient is overwritten by every path of ConvGeometry.run, so the callers
// (ConvolutionKernels.backward, transposedBackward) hand it uninitialised storage: each path run
// into a buffer full of NaN gives the same bits as into a zeroed one, and that is the weight
// gradient (against Double, on the bfloat16 roundings of x and dy for the bfloat16 paths). The paths: the GEMM
// lowering, the Float direct kernels, and the bfloat16 weight gradients (dot products in one
// pass over the batch, in bands of lines, and with rounded operands).

import XCTest

@testable import DiceKit

final class WeightGradientOverwriteTests: XCTestCase {
    override func tearDown() {
        BFloat16Arithmetic.force(nil)
    }

    /// The weight gradient of a 3×3 "same" convolution of an `input`-shaped batch into `cout`
    /// channels, computed into storage first filled with `fill`.
    private func weightGradient(
        input: [Int], cout: Int, settings: ConvolutionSettings, fill: Float, seed: UInt64
    ) throws -> [Float] {
        let cin = input.last!
        let conv = try Convolution(
            weight: randomTensor([3, 3, cin, cout], seed: seed).converted(to: Float.self), padding: .same,
            settings: settings)
        let g = try conv.geometry(input)
        let x = randomTensor(input, seed: seed + 1).converted(to: Float.self)
        let dy = randomTensor(g.outputShape, seed: seed + 2).converted(to: Float.self)
        var dW = [Float](repeating: fill, count: 9 * cin * cout)
        x.withUnsafeBufferPointer { px in
            conv.weight.withUnsafeBufferPointer { pw in
                dy.withUnsafeBufferPointer { pdy in
                    dW.withUnsafeMutableBufferPointer { pdW in
                        g.run(
                            LoweredPass(
                                x: px.baseAddress!, weight: pw.baseAddress!, dy: pdy.baseAddress!,
                                weightGradient: pdW.baseAddress!, bfloat16Weights: conv.bfloat16Weights),
                            settings: settings)
                    }
                }
            }
        }
        return dW
    }

    private func check(
        input: [Int], cout: Int, settings: ConvolutionSettings, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let zeroed = try weightGradient(input: input, cout: cout, settings: settings, fill: 0, seed: seed)
        let garbage = try weightGradient(input: input, cout: cout, settings: settings, fill: .nan, seed: seed)
        XCTAssertEqual(
            garbage.map(\.bitPattern), zeroed.map(\.bitPattern), "stale contents leak into dW", file: file, line: line)
        // The same seeds in Double: Σ x ⊗ dy over the batch, of the operands' roundings where they are rounded.
        func operand(_ shape: [Int], _ seed: UInt64) -> Tensor<Double> {
            let t = randomTensor(shape, seed: seed)
            return settings.precision == .bfloat16 ? t.map { Double(BFloat16.rounded(Float($0))) } : t
        }
        let cin = input.last!
        let reference = try Convolution(weight: Tensor<Double>(shape: [3, 3, cin, cout]), padding: .same)
        let dy = operand(try reference.outputShape(for: input), seed + 2)
        let expected = try reference.backward(input: operand(input, seed + 1), outputGradient: dy).weight.scalars
        let scale = expected.map(abs).max()!
        let worst = zip(zeroed, expected).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5 * scale, "dW against Double", file: file, line: line)
    }

    func testFloatPaths() throws {
        // The GEMM lowering (one worker and several: per-worker partial sums), then the direct kernels.
        for workers in [1, 2] {
            try check(
                input: [2, 6, 7, 3], cout: 5, settings: ConvolutionSettings(workers: workers, allowsDirect: false),
                seed: 9200)
        }
        try check(input: [2, 9, 10, 16], cout: 32, settings: ConvolutionSettings(workers: 2), seed: 9210)
    }

    func testBFloat16Paths() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        let settings = ConvolutionSettings(workers: 2, precision: .bfloat16)
        BFloat16Arithmetic.force(.dotProducts)
        // A small image with many channels (each task's rows of dW past 768 KiB: one pass over
        // the batch, the accumulators in registers), then per-sample chunks of lines (a partial
        // 48-channel block; lines of 1024 positions or more, a chunk each), and bands of lines
        // (outputs ≥ patch).
        try check(input: [2, 3, 3, 768], cout: 64, settings: settings, seed: 9220)
        try check(input: [2, 5, 6, 32], cout: 48, settings: settings, seed: 9230)
        try check(input: [1, 3, 1030, 16], cout: 32, settings: settings, seed: 9235)
        try check(input: [2, 20, 20, 16], cout: 32, settings: settings, seed: 9240)
        BFloat16Arithmetic.force(.roundedOperands)
        try check(input: [2, 6, 7, 16], cout: 32, settings: settings, seed: 9250)
    }
}
