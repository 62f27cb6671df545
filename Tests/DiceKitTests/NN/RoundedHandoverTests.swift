// Evaluation-mode bfloat16 convolutions that hand their output to the next convolution as its
// rounding, stored by the kernels (Convolution/RoundedForward.swift, SequentialLayer's evaluation
// mode): the stored bits are those of rounding the Float output, and a chain of convolutions gives
// the same bits as the convolutions run one at a time with Float tensors between them. On the
// dot-product kernels (16 output channels on the quad kernel, 32 on the pair kernel, 80 on the
// 64- and 16-channel tiles) and on the tile arithmetic (its software model where the CPU has no
// AMX), with batches that take both work splits (whole samples per worker, and (sample, chunk)
// tasks).

import XCTest

@testable import DiceKit

final class RoundedHandoverTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
    }

    /// A bfloat16 3×3 convolution layer with a random bias.
    private func convolution(_ cin: Int, _ cout: Int, seed: UInt64) throws -> ConvolutionLayer<Float> {
        var generator = SeededGenerator(seed: seed)
        let layer = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: cin, outputChannels: cout, generator: &generator)
        layer.bias.value = randomTensor([cout], seed: seed + 1).converted(to: Float.self)
        layer.precision = .bfloat16
        return layer
    }

    func testStoredRoundingIsTheFloatOutputsRounding() throws {
        for arithmetic: BFloat16Arithmetic in [.dotProducts, .tiles] {
            try BFloat16Arithmetic.with(arithmetic) {
                for (cout, batch) in [(16, 4), (32, 2), (80, 1)] {
                    let first = try convolution(32, cout, seed: 10)
                    let next = try convolution(cout, 16, seed: 20)
                    let x = randomTensor([batch, 7, 9, 32], seed: 30).converted(to: Float.self)
                    let rounded = try XCTUnwrap(
                        first.evaluationRoundedForward(.parts([x]), folding: nil, rectified: true, feeding: next),
                        "\(arithmetic): the output is handed over rounded")
                    let y = try first.evaluationForward(.parts([x]), folding: nil, rectified: true)
                    XCTAssertEqual(rounded.shape, y.shape)
                    XCTAssertEqual(
                        rounded.bits, BFloat16Activation(rounding: y).bits, "\(arithmetic), \(cout) channels")
                    XCTAssertGreaterThan(y.scalars.filter { $0 == 0 }.count, 0, "some outputs rectified")
                }
            }
        }
    }

    func testChainGivesTheBitsOfTheConvolutionsOneAtATime() throws {
        for arithmetic: BFloat16Arithmetic in [.dotProducts, .tiles] {
            try BFloat16Arithmetic.with(arithmetic) {
                for batch in [1, 4] {
                    let layers = try [
                        convolution(32, 16, seed: 1), convolution(16, 80, seed: 2), convolution(80, 16, seed: 3),
                    ]
                    let parts = [
                        randomTensor([batch, 6, 11, 16], seed: 4).converted(to: Float.self),
                        randomTensor([batch, 6, 11, 16], seed: 5).converted(to: Float.self),
                    ]
                    let chain = SequentialLayer<Float>([
                        layers[0], ActivationLayer(.relu), layers[1], ActivationLayer(.relu), layers[2],
                    ])
                    let handed = try chain.forward(concatenating: parts, mode: .evaluation)
                    // One at a time: each sequence ends with its convolution, so nothing is handed over.
                    var y = try SequentialLayer<Float>([layers[0], ActivationLayer(.relu)])
                        .forward(concatenating: parts, mode: .evaluation)
                    y = try SequentialLayer<Float>([layers[1], ActivationLayer(.relu)]).forward(y, mode: .evaluation)
                    y = try SequentialLayer<Float>([layers[2]]).forward(y, mode: .evaluation)
                    XCTAssertEqual(handed.shape, [batch, 6, 11, 16])
                    XCTAssertEqual(handed.scalars, y.scalars, "\(arithmetic), batch \(batch)")
                }
            }
        }
    }

    /// An evaluation-mode rounding lives until the next layer has read it: malloc's heap, no
    /// mapping; a training step's is kept for its backward pass, in a mapping of the pool
    /// (Tensor/BFloat16Storage.swift). On the dot-product kernels, whatever the CPU's automatic
    /// arithmetic (rounded operands hand nothing over).
    func testOnlyTheTrainingHandoverIsMapped() throws {
        try BFloat16Arithmetic.with(.dotProducts) {
            let first = try convolution(16, 16, seed: 1)
            let next = try convolution(16, 16, seed: 2)
            let x = randomTensor([2, 128, 128, 16], seed: 3).converted(to: Float.self) // 1 MiB rounded
            let before = BFloat16Storage.mappedByteCounts
            let handed = try XCTUnwrap(
                first.evaluationRoundedForward(.parts([x]), folding: nil, rectified: true, feeding: next))
            XCTAssertEqual(BFloat16Storage.mappedByteCounts.live, before.live)
            withExtendedLifetime(handed) {}
            let kept = try XCTUnwrap(first.roundedForward(.parts([x]), rectified: true, feeding: next))
            XCTAssertEqual(BFloat16Storage.mappedByteCounts.live - before.live, 1 << 20)
            XCTAssertEqual(kept.bits, handed.bits)
        }
    }

    func testNoHandoverWhereTheNextConvolutionRunsInFloat() throws {
        let first = try convolution(32, 16, seed: 1)
        let next = try convolution(16, 16, seed: 2)
        next.precision = .float
        let x = randomTensor([2, 5, 5, 32], seed: 3).converted(to: Float.self)
        XCTAssertNil(try first.evaluationRoundedForward(.parts([x]), folding: nil, rectified: true, feeding: next))
        // A first layer on 3 channels runs in Float: its output is not handed over either.
        let narrow = try convolution(3, 16, seed: 4)
        let image = randomTensor([2, 5, 5, 3], seed: 5).converted(to: Float.self)
        XCTAssertNil(
            try narrow.evaluationRoundedForward(.parts([image]), folding: nil, rectified: true, feeding: first))
    }
}
