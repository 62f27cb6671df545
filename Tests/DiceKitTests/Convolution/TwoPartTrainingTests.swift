// A training step whose convolution takes its input as a channel concatenation (a U-Net decoder's
// up-sampled tensor and skip): where the forward and the backward pass both run on the direct
// kernels, the layer keeps the two parts instead of a joined copy and its weight gradient joins
// them in its padded copies (`Convolution.trainsOnConcatenatedInput`); elsewhere the parts are
// concatenated first. Either way the output and every gradient are the joined input's, bit for
// bit.

import XCTest

@testable import DiceKit

final class TwoPartTrainingTests: XCTestCase {
    override func tearDown() {
        try? KernelDispatch.force(nil)
        BFloat16Arithmetic.force(nil)
    }

    private struct Step: Equatable {
        var output: [UInt32]
        var inputGradient: [[UInt32]]
        var weightGradient: [UInt32]
        var biasGradient: [UInt32]
    }

    /// One forward and backward pass of a fresh layer (the same weights for every `seed`), on the
    /// parts or on their concatenation, with the input gradient in two parts; and whether the
    /// layer kept the parts.
    private func step(
        parts: [Tensor<Float>], cout: Int, precision: ComputePrecision, joinFirst: Bool, seed: UInt64
    ) throws -> (Step, keptParts: Bool) {
        var generator = SeededGenerator(seed: seed)
        let cin = parts.reduce(0) { $0 + $1.shape.last! }
        let layer = try ConvolutionLayer<Float>(
            kernelSize: Array(repeating: 3, count: parts[0].shape.count - 2), inputChannels: cin,
            outputChannels: cout, generator: &generator)
        layer.precision = precision
        let input: ForwardInput<Float> = .parts(joinFirst ? [try Tensor.concatenatingChannels(parts)] : parts)
        let y = try layer.forward(input, rectified: true)
        let keptParts = layer.keptInput.parts != nil
        let dy = randomTensor(y.shape, seed: seed + 1).converted(to: Float.self)
        let dx = try XCTUnwrap(try layer.backward(dy, splittingInput: true))
        let bits = { (t: Tensor<Float>) in t.scalars.map(\.bitPattern) }
        return (
            Step(
                output: bits(y), inputGradient: dx.map(bits), weightGradient: bits(layer.weight.gradient),
                biasGradient: bits(layer.bias.gradient)),
            keptParts
        )
    }

    private func check(
        _ shapes: [[Int]], cout: Int, precision: ComputePrecision = .float, keepsParts: Bool, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let parts = shapes.enumerated().map { k, shape in
            randomTensor(shape, seed: seed + 10 + UInt64(k)).converted(to: Float.self)
        }
        let (onParts, kept) = try step(parts: parts, cout: cout, precision: precision, joinFirst: false, seed: seed)
        let (joined, keptJoined) = try step(
            parts: parts, cout: cout, precision: precision, joinFirst: true, seed: seed)
        XCTAssertEqual(kept, keepsParts, "which input the layer keeps \(shapes)", file: file, line: line)
        XCTAssertFalse(keptJoined, "one tensor is kept as it is", file: file, line: line)
        XCTAssertEqual(onParts, joined, "the joined input's bits \(shapes)", file: file, line: line)
    }

    /// The direct kernels at each level: 2-D with one sample and several (a worker per sample,
    /// or the batch padded whole), small images (the weight gradient split by kernel segment),
    /// parts of unequal widths, and 3-D.
    func testTheDirectKernelsKeepThePartsWithTheJoinedBits() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2: the direct kernels never run here")
        for isa in InstructionSet.available where isa >= .avx2 {
            try KernelDispatch.force(isa)
            try check([[4, 12, 10, 16], [4, 12, 10, 16]], cout: 16, keepsParts: true, seed: 9500)
            try check([[1, 9, 11, 32], [1, 9, 11, 32]], cout: 32, keepsParts: true, seed: 9510)
            try check([[2, 4, 4, 64], [2, 4, 4, 64]], cout: 64, keepsParts: true, seed: 9520)
            try check([[3, 6, 7, 16], [3, 6, 7, 48]], cout: 32, keepsParts: true, seed: 9530)
            try check([[2, 4, 5, 6, 16], [2, 4, 5, 6, 16]], cout: 16, keepsParts: true, seed: 9540)
        }
    }

    /// The rounded-operand arithmetic joins and rounds the parts in the same copies.
    func testRoundedOperandsKeepTheParts() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.roundedOperands)
        try check([[2, 8, 9, 32], [2, 8, 9, 32]], cout: 32, precision: .bfloat16, keepsParts: true, seed: 9550)
    }

    /// Parts kept by a forward pass on the direct kernels, whose backward pass then runs on the
    /// lowered path (the level forced down in between), are concatenated for it: the same bits
    /// as a backward pass on the lowered path of the joined input.
    func testABackwardPassThatCannotJoinThePartsConcatenatesThem() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2: the direct kernels never run here")
        let parts = [[2, 6, 7, 16], [2, 6, 7, 16]].enumerated().map { k, shape in
            randomTensor(shape, seed: 9580 + UInt64(k)).converted(to: Float.self)
        }
        let dy = randomTensor([2, 6, 7, 16], seed: 9590).converted(to: Float.self)
        var results: [[UInt32]] = []
        for joinFirst in [false, true] {
            try KernelDispatch.force(nil)
            var generator = SeededGenerator(seed: 9585)
            let layer = try ConvolutionLayer<Float>(
                kernelSize: [3, 3], inputChannels: 32, outputChannels: 16, generator: &generator)
            _ = try layer.forward(
                .parts(joinFirst ? [try Tensor.concatenatingChannels(parts)] : parts), rectified: false)
            XCTAssertEqual(layer.keptInput.parts != nil, !joinFirst)
            try KernelDispatch.force(.portable)
            let dx = try XCTUnwrap(try layer.backward(dy))
            results.append((dx.scalars + layer.weight.gradient.scalars).map(\.bitPattern))
        }
        XCTAssertEqual(results[0], results[1])
    }

    /// Paths that cannot join the parts in the backward pass concatenate them first: the lowered
    /// path (no direct kernels at the portable level) and the bfloat16 dot-product kernels.
    func testOtherPathsJoinFirst() throws {
        try KernelDispatch.force(.portable)
        try check([[2, 6, 7, 16], [2, 6, 7, 16]], cout: 16, keepsParts: false, seed: 9560)
        try KernelDispatch.force(nil)
        if ComputePrecision.bfloat16Available {
            BFloat16Arithmetic.force(.dotProducts)
            try check([[2, 6, 7, 32], [2, 6, 7, 32]], cout: 32, precision: .bfloat16, keepsParts: false, seed: 9570)
        }
    }
}
