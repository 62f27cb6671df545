// A convolution of a channel concatenation whose parts are joined in the direct kernels' padded
// copy (Convolution/PaddedSource.swift, `Convolution.forward(concatenating:rectified:)`) gives
// the bits of the convolution of the concatenated tensor: 2-D and 3-D, two and three parts,
// one worker and two (padding per sample, or the whole batch), every instruction-set level with
// direct kernels, every bfloat16 arithmetic (rounded operands, dot products, tiles); and where
// the parts cannot be joined there (Double, the lowered path) it concatenates first. A U-Net
// decoder block in evaluation mode takes the same route.

import XCTest

@testable import DiceKit

final class ConcatenatedInputTests: XCTestCase {
    override func tearDown() {
        try? KernelDispatch.force(nil)
        BFloat16Arithmetic.force(nil)
    }

    private func convolution(
        _ kernel: [Int], cin: Int, cout: Int, seed: UInt64, settings: ConvolutionSettings = .default
    ) throws -> Convolution<Float> {
        let weight = randomTensor(kernel + [cin, cout], seed: seed).converted(to: Float.self)
        let bias = randomTensor([cout], seed: seed + 1).converted(to: Float.self)
        return try Convolution(weight: weight, bias: bias, padding: .same, settings: settings)
    }

    /// The joined forward pass against the convolution of the concatenation, bit for bit, with
    /// and without the ReLU; `joins` states whether the parts are joined in the padded copy.
    private func check(
        _ convolution: Convolution<Float>, spatial: [Int], parts channels: [Int], batch: Int, joins: Bool, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let parts = channels.enumerated().map { i, c in
            randomTensor([batch] + spatial + [c], seed: seed + UInt64(i)).converted(to: Float.self)
        }
        let joined = try Tensor.concatenatingChannels(parts)
        let g = try convolution.geometry(joined.shape)
        XCTAssertEqual(
            g.joinsConcatenatedInput(settings: convolution.settings), joins, "joined in the padded copy", file: file,
            line: line)
        for rectified in [false, true] {
            let expected = try convolution.forward(joined, rectified: rectified)
            let actual = try convolution.forward(concatenating: parts, rectified: rectified)
            XCTAssertEqual(actual.shape, expected.shape, file: file, line: line)
            XCTAssertEqual(
                actual.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern),
                "parts \(channels), batch \(batch), rectified \(rectified)", file: file, line: line)
        }
    }

    func testJoinedPaddingGivesTheConcatenationsBitsAtEveryLevel() throws {
        let levels = InstructionSet.available.filter { $0 != .portable }
        try XCTSkipIf(levels.isEmpty, "no direct kernels on this CPU")
        for isa in levels {
            try KernelDispatch.force(isa)
            for workers in [1, 2] {
                var settings = ConvolutionSettings.default
                settings.workers = workers
                // Batch 1 pads the whole batch, batch 4 one sample per worker.
                for batch in [1, 4] {
                    let wide = try convolution([3, 3], cin: 32, cout: 16, seed: 10, settings: settings)
                    try check(wide, spatial: [7, 9], parts: [16, 16], batch: batch, joins: true, seed: 20)
                    XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "\(isa)")
                    let three = try convolution([3, 3], cin: 64, cout: 32, seed: 11, settings: settings)
                    try check(three, spatial: [6, 5], parts: [32, 16, 16], batch: batch, joins: true, seed: 30)
                    let volume = try convolution([3, 3, 3], cin: 32, cout: 16, seed: 12, settings: settings)
                    try check(volume, spatial: [3, 4, 5], parts: [16, 16], batch: batch, joins: true, seed: 40)
                }
            }
        }
    }

    func testBFloat16ArithmeticsJoinToo() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no bfloat16 instructions on this CPU")
        var settings = ConvolutionSettings.default
        settings.precision = .bfloat16
        let conv = try convolution([3, 3], cin: 32, cout: 16, seed: 50, settings: settings)
        try BFloat16Arithmetic.with(.roundedOperands) {
            try check(conv, spatial: [8, 6], parts: [16, 16], batch: 3, joins: true, seed: 51)
        }
        // The dot-product and tile kernels join the parts in their bfloat16 copy: with the whole
        // batch rounded (batch 3, two workers) and per worker (batch 4), three parts too.
        for arithmetic in [BFloat16Arithmetic.dotProducts, .tiles] {
            try BFloat16Arithmetic.with(arithmetic) {
                try check(conv, spatial: [8, 6], parts: [16, 16], batch: 3, joins: true, seed: 52)
                try check(conv, spatial: [5, 7], parts: [16, 16], batch: 4, joins: true, seed: 53)
                let three = try convolution([3, 3], cin: 64, cout: 32, seed: 54, settings: settings)
                try check(three, spatial: [6, 5], parts: [32, 16, 16], batch: 4, joins: true, seed: 55)
            }
        }
    }

    func testOtherPathsConcatenateFirst() throws {
        // 8 channels per part and in all: the lowered path.
        let lowered = try convolution([3, 3], cin: 16, cout: 8, seed: 60)
        try check(lowered, spatial: [5, 6], parts: [8, 8], batch: 2, joins: false, seed: 61)
        // Double never runs the direct kernels.
        let weight = randomTensor([3, 3, 32, 16], seed: 62)
        let double = try Convolution(weight: weight, padding: .same)
        let parts = [randomTensor([2, 5, 5, 16], seed: 63), randomTensor([2, 5, 5, 16], seed: 64)]
        XCTAssertEqual(
            try double.forward(concatenating: parts, rectified: false).scalars,
            try double.forward(Tensor.concatenatingChannels(parts)).scalars)
    }

    func testPartsThatDoNotConcatenateAreRejected() throws {
        let conv = try convolution([3, 3], cin: 32, cout: 16, seed: 70)
        let a = Tensor<Float>.zeros([2, 5, 5, 16])
        XCTAssertThrowsError(
            try conv.forward(concatenating: [a, Tensor<Float>.zeros([2, 5, 6, 16])], rectified: false)
        ) { error in
            XCTAssertTrue("\(error)".contains("does not match [2, 5, 5, 16] except in the last axis"), "\(error)")
        }
        // Joined, the channels must still be the kernel's.
        XCTAssertThrowsError(try conv.forward(concatenating: [a, a, a], rectified: false))
    }

    func testDecoderBlockJoinsInEvaluationMode() throws {
        var generator = SeededGenerator(seed: 80)
        let block = SequentialLayer<Float>([
            try ConvolutionLayer(kernelSize: [3, 3], inputChannels: 32, outputChannels: 16, generator: &generator),
            try BatchNorm<Float>(channels: 16), ActivationLayer<Float>(.relu),
            try ConvolutionLayer(kernelSize: [3, 3], inputChannels: 16, outputChannels: 16, generator: &generator),
            try BatchNorm<Float>(channels: 16), ActivationLayer<Float>(.relu),
        ])
        let parts = [81, 82].map { randomTensor([2, 8, 8, 16], seed: $0).converted(to: Float.self) }
        let joined = try Tensor.concatenatingChannels(parts)
        for mode in [LayerMode.evaluation, .training] {
            let expected = try block.forward(joined, mode: mode)
            let actual = try block.forward(concatenating: parts, mode: mode)
            XCTAssertEqual(actual.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern), "\(mode)")
        }
    }
}
