// Evaluation-mode U-Net blocks that hand their output over as bfloat16 bits on the dot-product
// and tile kernels (NN/UNet/UNet+HandOver.swift): the max pooling of bits gives the bits of
// rounding the Float pooling (every instruction set, channel tails, NaN, signed zeros, and a
// window the C kernels do not take); a convolution of an up-sampled tensor joined with a skip
// given as bits gives the bits of the Float concatenation's (Float and rounded outputs, both work
// splits); an up-sampling given bits or storing them gives the bits of its pass on Float tensors;
// and a U-Net's logits are those of the same layers with Float tensors between blocks.

import XCTest

@testable import DiceKit

final class BlockHandOverTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    private func random(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        randomTensor(shape, seed: seed).converted(to: Float.self)
    }

    func testPoolingOfBitsIsTheRoundingOfTheFloatPooling() throws {
        // 2×2 over images (48 channels: three vectors; 20: one and a tail), 2×2×2 over volumes,
        // and an odd number of rows, which the C kernels do not take.
        let cases: [[Int]] = [[2, 6, 8, 48], [1, 4, 6, 20], [2, 4, 6, 4, 32], [1, 5, 6, 16]]
        for isa in InstructionSet.available {
            try KernelDispatch.force(isa)
            for (index, shape) in cases.enumerated() {
                var x = random(shape, seed: UInt64(60 + index))
                // NaNs (a window's second tap, in a vector and in the tail), signed zeros and a
                // pair that rounds to the same bfloat16 value.
                let c = shape.last!
                x.scalars[c + 3] = .nan
                x.scalars[c + 18] = .nan
                x.scalars[c + 5] = -0.0
                x.scalars[5] = 0.0
                x.scalars[7] = 1.0
                x.scalars[c + 7] = 1.0 + 1.0 / 1024
                let pooling = try MaxPooling(kernelSize: Array(repeating: 2, count: shape.count - 2))
                let rounded = try pooling.forward(rounded: BFloat16Activation(rounding: x))
                let float = try pooling.forward(x).output
                XCTAssertEqual(rounded.shape, float.shape, "\(isa), \(shape)")
                XCTAssertEqual(rounded.bits, BFloat16Activation(rounding: float).bits, "\(isa), \(shape)")
            }
        }
    }

    func testJoinedWithRoundedSkipGivesTheBitsOfTheConcatenation() throws {
        for arithmetic: BFloat16Arithmetic in [.dotProducts, .tiles] {
            try BFloat16Arithmetic.with(arithmetic) {
                // One image (tasks share a sample) and four (whole samples per worker).
                for batch in [1, 4] {
                    var generator = SeededGenerator(seed: 70)
                    let layer = try ConvolutionLayer<Float>(
                        kernelSize: [3, 3], inputChannels: 64, outputChannels: 32, generator: &generator)
                    layer.precision = .bfloat16
                    let next = try ConvolutionLayer<Float>(
                        kernelSize: [3, 3], inputChannels: 32, outputChannels: 16, generator: &generator)
                    next.precision = .bfloat16
                    let upsampled = random([batch, 9, 12, 32], seed: 71)
                    let skip = BFloat16Activation(rounding: random([batch, 9, 12, 32], seed: 72))
                    let label = "\(arithmetic), batch \(batch)"
                    XCTAssertTrue(layer.evaluationReadsRounded(ofShape: [batch, 9, 12, 64]), label)
                    let parts = ForwardInput<Float>.parts([upsampled, skip.widened()])
                    let plain = try layer.evaluationForward(parts, folding: nil, rectified: true)
                    // The up-sampled part as Float values or as bits: the pass rounds it anyway.
                    for first: HandedTensor<Float> in [
                        .float(upsampled), .rounded(BFloat16Activation(rounding: upsampled)),
                    ] {
                        let joined = ForwardInput<Float>.joinedWithRounded(first, skip)
                        let output = try layer.evaluationForward(joined, folding: nil, rectified: true)
                        XCTAssertEqual(output.scalars.map(\.bitPattern), plain.scalars.map(\.bitPattern), label)
                        let rounded = try XCTUnwrap(
                            layer.evaluationRoundedForward(joined, folding: nil, rectified: true, feeding: next), label)
                        XCTAssertEqual(rounded.bits, BFloat16Activation(rounding: plain).bits, label)
                    }
                }
            }
        }
    }

    func testUpSamplingTakesAndStoresBits() throws {
        for arithmetic: BFloat16Arithmetic in [.dotProducts, .tiles] {
            try BFloat16Arithmetic.with(arithmetic) {
                for (rank, shape) in [(2, [1, 5, 6, 64]), (2, [3, 4, 7, 32]), (3, [2, 3, 4, 5, 32])] {
                    var generator = SeededGenerator(seed: 80)
                    let layer = try TransposedConvolutionLayer<Float>(
                        kernelSize: Array(repeating: 2, count: rank), inputChannels: shape.last!,
                        outputChannels: 16 * (1 + rank), stride: [2], generator: &generator)
                    layer.precision = .bfloat16
                    let x = random(shape, seed: 81)
                    let rounded = BFloat16Activation(rounding: x)
                    let label = "\(arithmetic), \(shape)"
                    XCTAssertTrue(layer.evaluationTakesBits(ofShape: shape), label)
                    // The pass rounds its input: Float values and their bits give the same bits.
                    let plain = try layer.forward(x, mode: .evaluation)
                    for input: HandedTensor<Float> in [.float(x), .rounded(rounded)] {
                        let float = try layer.evaluationForward(input, storesBits: false)
                        let bits = try layer.evaluationForward(input, storesBits: true)
                        guard case .float(let y) = float, case .rounded(let r) = bits else {
                            return XCTFail("\(label): the outputs' forms")
                        }
                        XCTAssertEqual(y.scalars.map(\.bitPattern), plain.scalars.map(\.bitPattern), label)
                        XCTAssertEqual(r.shape, plain.shape, label)
                        XCTAssertEqual(r.bits, BFloat16Activation(rounding: plain).bits, label)
                    }
                }
            }
        }
        // Not with rounded operands, nor x-space channels off a multiple of 16.
        var generator = SeededGenerator(seed: 82)
        let layer = try TransposedConvolutionLayer<Float>(
            kernelSize: [2, 2], inputChannels: 32, outputChannels: 8, stride: [2], generator: &generator)
        layer.precision = .bfloat16
        XCTAssertFalse(layer.evaluationTakesBits(ofShape: [1, 4, 4, 32]), "8 channels")
        let wide = try TransposedConvolutionLayer<Float>(
            kernelSize: [2, 2], inputChannels: 32, outputChannels: 16, stride: [2], generator: &generator)
        wide.precision = .bfloat16
        BFloat16Arithmetic.with(.dotProducts) {
            XCTAssertTrue(wide.evaluationTakesBits(ofShape: [1, 4, 4, 32]), "dot products")
        }
        BFloat16Arithmetic.with(.roundedOperands) {
            XCTAssertFalse(wide.evaluationTakesBits(ofShape: [1, 4, 4, 32]), "rounded operands")
        }
    }

    func testUNetEvaluationGivesTheBitsOfFloatTensorsBetweenBlocks() throws {
        for arithmetic: BFloat16Arithmetic in [.dotProducts, .tiles] {
            try BFloat16Arithmetic.with(arithmetic) {
                for (rank, size, batch, norm) in [
                    (2, 32, 1, NormalizationKind.none), (2, 32, 3, .batch), (3, 16, 2, .none), (2, 32, 2, .instance),
                ] {
                    var configuration = UNetConfiguration(inputChannels: 3, classes: 3, baseWidth: 16, depth: 2)
                    configuration.spatialRank = rank
                    configuration.normalization = norm
                    let model = try UNet<Float>(configuration, seed: 7)
                    model.precision = .bfloat16
                    let label = "\(arithmetic), \(rank)-D, batch \(batch), \(norm)"
                    XCTAssertEqual(model.evaluationHandOver(.evaluation), .rounded, label)
                    XCTAssertNil(model.evaluationHandOver(.training), label)
                    let x = random([batch] + Array(repeating: size, count: rank) + [3], seed: 8)
                    // The down blocks end with a convolution (and the norm and ReLU it absorbs)
                    // except with instance normalisation, which no convolution folds.
                    let first = try model.down[0].evaluationForward(.parts([x]), output: .rounded)
                    if case .rounded = first {
                        XCTAssertNotEqual(norm, .instance, label)
                    } else {
                        XCTAssertEqual(norm, .instance, "\(label): the block's output is handed over rounded")
                    }
                    // mid's output (64 channels at a quarter of the size) goes to the first
                    // up-sampling as bits.
                    let midShape = [batch] + Array(repeating: size / 4, count: rank) + [64]
                    XCTAssertTrue(model.up[0].evaluationTakesBits(ofShape: midShape), label)
                    let logits = try model.forward(x, mode: .evaluation)
                    // The evaluation path with deep supervision (no heads here) hands nothing over.
                    let reference = try model.forwardLayers(x, mode: .evaluation, supervised: true)[0]
                    XCTAssertEqual(logits.shape, reference.shape, label)
                    XCTAssertEqual(logits.scalars.map(\.bitPattern), reference.scalars.map(\.bitPattern), label)
                }
            }
        }
    }

    func testNoHandOverInFloatOrWithRoundedOperandsOnImages() throws {
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 1, classes: 2, baseWidth: 16, depth: 1))
        XCTAssertNil(model.evaluationHandOver(.evaluation), "Float")
        model.precision = .bfloat16
        BFloat16Arithmetic.with(.roundedOperands) {
            XCTAssertNil(model.evaluationHandOver(.evaluation), "images with rounded operands")
        }
    }
}
