// Evaluation-mode fusion (NN/Layers/ConvolutionLayer+Inference.swift): a convolution followed by
// a batch normalisation and/or a ReLU gives, as one convolution with the normalisation folded
// into its kernel and the ReLU in its output pass, the values of the three layers run one by one,
// in Double to 1e-12 and in Float to Float rounding; on the direct kernels at every level the CPU
// has and on the lowered path.

import XCTest

@testable import DiceKit

final class FusedInferenceTests: XCTestCase {
    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    /// A convolution, a batch normalisation with non-trivial running statistics and affine
    /// parameters, and a ReLU, all of `T`.
    private func layers<T: BLASScalar>(_: T.Type, cin: Int, cout: Int, seed: UInt64) throws -> (
        ConvolutionLayer<T>, BatchNorm<T>, ActivationLayer<T>
    ) {
        var generator = SeededGenerator(seed: seed)
        let conv = try ConvolutionLayer<T>(
            kernelSize: [3, 3], inputChannels: cin, outputChannels: cout, generator: &generator)
        conv.bias.value = randomTensor([cout], seed: seed + 1).converted(to: T.self)
        let bn = try BatchNorm<T>(channels: cout)
        bn.weight.value = randomTensor([cout], seed: seed + 2).converted(to: T.self)
        bn.bias.value = randomTensor([cout], seed: seed + 3).converted(to: T.self)
        bn.runningMean.value = randomTensor([cout], seed: seed + 4).converted(to: T.self)
        bn.runningVariance.value = try Tensor(
            shape: [cout], scalars: randomTensor([cout], seed: seed + 5).scalars.map { T(0.5 + abs($0)) })
        return (conv, bn, ActivationLayer<T>(.relu))
    }

    /// The fused sequence against the layers one by one; returns the fused output.
    private func check<T: BLASScalar>(
        _: T.Type, input: [Int], cout: Int, normalization: Bool, tolerance: T, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let (conv, bn, relu) = try layers(T.self, cin: input.last!, cout: cout, seed: seed)
        let x = randomTensor(input, seed: seed + 6).converted(to: T.self)
        var expected = try conv.forward(x, mode: .evaluation)
        if normalization { expected = try bn.forward(expected, mode: .evaluation) }
        expected = try relu.forward(expected, mode: .evaluation)
        let sequence = SequentialLayer<T>(normalization ? [conv, bn, relu] : [conv, relu])
        let fused = try sequence.forward(x, mode: .evaluation)
        let scale = expected.scalars.map(abs).max() ?? 1
        assertClose(
            fused, expected, relativeTolerance: tolerance, absoluteTolerance: tolerance * scale, "fused", file: file,
            line: line)
        XCTAssertEqual(fused.scalars.filter { $0 < 0 }.count, 0, "ReLU applied", file: file, line: line)
        XCTAssertGreaterThan(
            fused.scalars.filter { $0 == 0 }.count, 0, "some outputs rectified", file: file, line: line)
        // Nothing cached for backward.
        XCTAssertThrowsError(try sequence.backward(fused), file: file, line: line)
    }

    func testBatchNormFoldedAndReLUOnEveryPath() throws {
        try check(Double.self, input: [2, 6, 7, 16], cout: 32, normalization: true, tolerance: 1e-12, seed: 40)
        try check(Double.self, input: [2, 6, 7, 8], cout: 8, normalization: false, tolerance: 1e-12, seed: 41)
        for isa in InstructionSet.available {
            try KernelDispatch.force(isa)
            // Direct kernels at AVX2/AVX-512 (16 → 32 and 16 → 64 channels: grid and compact tiles), lowered otherwise.
            try check(Float.self, input: [2, 6, 7, 16], cout: 32, normalization: true, tolerance: 2e-6, seed: 42)
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "\(isa)")
            try check(Float.self, input: [2, 5, 4, 16], cout: 64, normalization: true, tolerance: 2e-6, seed: 43)
            try check(Float.self, input: [2, 6, 7, 16], cout: 16, normalization: false, tolerance: 2e-6, seed: 44)
            // 8 channels: always the lowered path.
            try check(Float.self, input: [2, 6, 7, 8], cout: 8, normalization: true, tolerance: 2e-6, seed: 45)
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), .portable, "\(isa)")
        }
    }

    func testFoldedConvolutionFollowsParameterChanges() throws {
        let (conv, bn, relu) = try layers(Float.self, cin: 16, cout: 16, seed: 50)
        let sequence = SequentialLayer<Float>([conv, bn, relu])
        let x = randomTensor([1, 5, 5, 16], seed: 51).converted(to: Float.self)
        let before = try sequence.forward(x, mode: .evaluation)
        bn.runningMean.value = bn.runningMean.value + Tensor(shape: [16], repeating: 0.5)
        let after = try sequence.forward(x, mode: .evaluation)
        XCTAssertNotEqual(before, after, "a changed running mean rebuilds the folded kernel")
        let unfused = try relu.forward(
            bn.forward(conv.forward(x, mode: .evaluation), mode: .evaluation), mode: .evaluation)
        assertClose(after, unfused, relativeTolerance: 2e-6, absoluteTolerance: 2e-6 * (unfused.scalars.max() ?? 1))
        // Training mode is unchanged: layer by layer, with the caches backward needs.
        let trained = try sequence.forward(x, mode: .training)
        XCTAssertNoThrow(try sequence.backward(trained))
    }

    /// A bfloat16 layer keeps its precision when fused, and gets its ReLU: the fused output is
    /// the unfused bfloat16 sequence's (the same bfloat16 products, folded kernel rounded once
    /// more: within 2⁻⁷ of the output scale) and has no negative value.
    func testBFloat16LayerFusesWithItsPrecision() throws {
        guard ComputePrecision.bfloat16Available else { throw XCTSkip("no AVX512-BF16 or AMX-BF16 on this CPU") }
        BFloat16Arithmetic.force(.dotProducts)
        defer { BFloat16Arithmetic.force(nil) }
        let (conv, bn, relu) = try layers(Float.self, cin: 16, cout: 32, seed: 60)
        conv.precision = .bfloat16
        let x = randomTensor([2, 6, 7, 16], seed: 61).converted(to: Float.self)
        let unfused = try relu.forward(
            bn.forward(conv.forward(x, mode: .evaluation), mode: .evaluation), mode: .evaluation)
        let fused = try SequentialLayer<Float>([conv, bn, relu]).forward(x, mode: .evaluation)
        XCTAssertEqual(
            KernelDispatch.lastUsed(.bfloat16Convolution), .avx512, "the fused pass ran the bfloat16 kernels")
        XCTAssertEqual(fused.scalars.filter { $0 < 0 }.count, 0, "ReLU applied after the bfloat16 kernels")
        let scale = unfused.scalars.map(abs).max() ?? 1
        assertClose(fused, unfused, relativeTolerance: 0x1p-7, absoluteTolerance: 0x1p-7 * scale)
    }
}
