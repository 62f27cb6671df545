// Activations kept in bfloat16 (KeptActivations.swift, UNet+BFloat16Activations.swift): the
// same gradients, bit for bit, as the same step with every activation kept in Float, while the
// kept bytes drop to about half; and the tensors that must stay Float do.

import XCTest

@testable import DiceKit

final class BFloat16ActivationTests: XCTestCase {
    private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// A ReLU's (and a non-negative leaky ReLU's) backward pass from its rounded output equals the
    /// one from its Float output, with subnormals flushed as in a U-Net step: ±0, the least
    /// normal, ±∞, NaN, values that round up to a power of two, and more than one 1024-element
    /// block.
    func testRectifierBackwardFromTheRoundedOutputGivesTheSameBits() throws {
        var scalars: [Float] = [0, -0.0, .leastNormalMagnitude, -.leastNormalMagnitude, .infinity, -.infinity, .nan]
        scalars += [1.9999999, -1.9999999, Float(bitPattern: 0x7F7F_FFFF), 3.0e-38, -3.0e-38]
        scalars += randomTensor([2100], seed: 11).scalars.map { Float($0) }
        let x = try Tensor(shape: [scalars.count], scalars: scalars)
        let dy = try Tensor(shape: x.shape, scalars: scalars.indices.map { Float($0 % 13) - 6.25 })
        try withFlushToZero {
            for kind in [ActivationKind.relu, .leakyReLU(slope: 0.01), .leakyReLU(slope: 0)] {
                let reference = ActivationLayer<Float>(kind)
                _ = try reference.forward(x, mode: .training)
                let expected = try XCTUnwrap(try reference.backward(dy))
                let layer = ActivationLayer<Float>(kind)
                var y = x
                try layer.forward(inPlace: &y, mode: .training)
                layer.keep(rounded: BFloat16Activation(rounding: try XCTUnwrap(layer.keptOutput)))
                XCTAssertNil(layer.keptOutput, "the Float output is still kept (\(kind))")
                var g = dy
                try layer.backward(inPlace: &g)
                XCTAssertEqual(bits(g.scalars), bits(expected.scalars), "\(kind)")
                // Through the Layer protocol as well.
                _ = try layer.forward(x, mode: .training)
                layer.keep(rounded: BFloat16Activation(rounding: try XCTUnwrap(layer.keptOutput)))
                XCTAssertEqual(bits(try XCTUnwrap(try layer.backward(dy)).scalars), bits(expected.scalars), "\(kind)")
                XCTAssertThrowsError(try layer.backward(dy), "a second backward must throw (\(kind))")
            }
        }
    }

    /// The rounding is exact to widen: every bfloat16 value comes back as itself.
    func testRoundingWidensExactly() {
        let values = randomTensor([3, 70], seed: 4).converted(to: Float.self)
        let rounded = BFloat16Activation(rounding: values)
        XCTAssertEqual(rounded.shape, [3, 70])
        XCTAssertEqual(rounded.bits, BFloat16.bits(values.scalars))
        let widened: Tensor<Float> = rounded.widened()
        XCTAssertEqual(bits(widened.scalars), bits(BFloat16.floats(rounded.bits)))
    }

    /// Copies from 1 MiB up (mapped apart from the heap) and below (from malloc) hold the rounding.
    func testLargeAndSmallCopiesHoldTheRounding() {
        for count in [1 << 20, 1000] {
            let values = BFloat16Activation(rounding: Tensor(shape: [count], repeating: 1.5))
            XCTAssertEqual(values.storage.count, count)
            XCTAssertEqual(values.bits, [UInt16](repeating: 0x3FC0, count: count))
        }
    }

    /// A decoder block's input rounded from its two parts (UNet.forwardLayers, in a bfloat16 step:
    /// the Float concatenation is never written) has the bits of the concatenation's rounding,
    /// over several ranges of positions on the worker pool.
    func testConcatenationRoundedFromItsPartsIsTheRoundedConcatenation() throws {
        let parts = [randomTensor([2, 40, 40, 16], seed: 31), randomTensor([2, 40, 40, 32], seed: 32)]
            .map { $0.converted(to: Float.self) }
        let rounded = BFloat16Activation(roundingConcatenation: parts)
        let expected = BFloat16Activation(rounding: try Tensor.concatenatingChannels(parts))
        XCTAssertEqual(rounded.shape, [2, 40, 40, 48])
        XCTAssertEqual(rounded.bits, expected.bits)
    }

    /// A freed copy's mapping is handed to the next copy of its size (with the new values), and
    /// the kept mappings with the live ones stay within the most ever live at once: a copy of a
    /// new size first gives back the oldest kept ones.
    func testFreedMappingsAreReusedWithinThePeak() {
        BFloat16Storage.releaseKeptMappings()
        let mib = 1 << 20
        let (count, baseLive) = (mib / 2, BFloat16Storage.mappedByteCounts.live) // 1 MiB copies
        var first: BFloat16Activation? = BFloat16Activation(rounding: Tensor(shape: [2 * count], repeating: 1.5))
        var second: BFloat16Activation? = BFloat16Activation(rounding: Tensor(shape: [2 * count], repeating: 2.5))
        let (a, b) = (first!.storage.pointer, second!.storage.pointer)
        XCTAssertEqual(BFloat16Storage.mappedByteCounts.live - baseLive, 4 * mib)
        first = nil
        second = nil
        XCTAssertEqual(BFloat16Storage.mappedByteCounts.kept, 4 * mib)
        // Reused, most recently freed first, holding the new values.
        var reused: BFloat16Activation? = BFloat16Activation(rounding: Tensor(shape: [2 * count], repeating: -3))
        XCTAssertEqual(reused!.storage.pointer, b)
        XCTAssertEqual(reused!.bits, [UInt16](repeating: 0xC040, count: 2 * count))
        XCTAssertEqual(BFloat16Storage.mappedByteCounts.kept, 2 * mib)
        reused = nil
        // A 1 MiB copy: 1 live + 4 kept would pass the peak of 4, so the oldest kept (`a`) goes.
        let small = BFloat16Activation(rounding: Tensor(shape: [count], repeating: 1))
        XCTAssertEqual(small.bits, [UInt16](repeating: 0x3F80, count: count))
        XCTAssertEqual(BFloat16Storage.mappedByteCounts.kept, 2 * mib)
        var again: BFloat16Activation? = BFloat16Activation(rounding: Tensor(shape: [2 * count], repeating: 1))
        XCTAssertEqual(again!.storage.pointer, b)
        XCTAssertNotEqual(again!.storage.pointer, a)
        again = nil
        XCTAssertEqual(BFloat16Storage.releaseKeptMappings(), 2 * mib)
        XCTAssertEqual(BFloat16Storage.mappedByteCounts.kept, 0)
        withExtendedLifetime(small) {}
    }

    /// A convolution whose input is kept rounded: a backward pass that throws (a gradient of the
    /// wrong shape) leaves the input kept, and the next one gives the bits of the Float-kept input.
    func testThrowingBackwardLeavesTheRoundedInputKept() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        let generator = SeededGenerator(seed: 8)
        let input = randomTensor([2, 8, 8, 16], seed: 12).converted(to: Float.self)
        let dy = randomTensor([2, 8, 8, 16], seed: 13).converted(to: Float.self)
        var results: [[UInt32]] = []
        for rounds in [false, true] {
            var g = generator
            let layer = try ConvolutionLayer<Float>(
                kernelSize: [3, 3], inputChannels: 16, outputChannels: 16, generator: &g)
            layer.precision = .bfloat16
            _ = try layer.forward(input, mode: .training)
            if rounds {
                XCTAssertTrue(layer.backwardRoundsKeptInput)
                layer.keep(roundedInput: BFloat16Activation(rounding: try XCTUnwrap(layer.keptInput.tensor)))
                XCTAssertNil(layer.keptInput.tensor)
                XCTAssertThrowsError(try layer.backward(Tensor(shape: [2, 8, 8, 15])))
            }
            let dx = try XCTUnwrap(try layer.backward(dy))
            results.append(bits(dx.scalars) + bits(layer.weight.gradient.scalars) + bits(layer.bias.gradient.scalars))
        }
        XCTAssertEqual(results[1], results[0])
    }

    /// A training pass handed its input's rounding (`ConvolutionLayer.forward(rounded:rectified:)`,
    /// a U-Net decoder's rounded concatenation) on every arithmetic: the dot-product and tile
    /// kernels copy the bits, the rounded-operand arithmetic widens them in its padded copy
    /// instead of rounding x. Output and gradients are the bits of the pass on the Float input;
    /// a Float layer does not take the rounding.
    func testATrainingPassReadsTheRoundedInputOnEveryArithmetic() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        let input = randomTensor([2, 9, 10, 32], seed: 14).converted(to: Float.self)
        let dy = randomTensor([2, 9, 10, 16], seed: 15).converted(to: Float.self)
        for arithmetic in BFloat16Arithmetic.allCases {
            try BFloat16Arithmetic.with(arithmetic) {
                var results: [[UInt32]] = []
                for takesRounding in [false, true] {
                    var generator = SeededGenerator(seed: 16)
                    let layer = try ConvolutionLayer<Float>(
                        kernelSize: [3, 3], inputChannels: 32, outputChannels: 16, generator: &generator)
                    XCTAssertFalse(layer.readsRoundedInput(ofShape: input.shape), "Float (\(arithmetic))")
                    layer.precision = .bfloat16
                    XCTAssertTrue(layer.readsRoundedInput(ofShape: input.shape), "\(arithmetic)")
                    let y =
                        takesRounding
                        ? try layer.forward(rounded: BFloat16Activation(rounding: input), rectified: true)
                        : try layer.forward(input, rectified: true)
                    XCTAssertEqual(layer.keptInput.rounded != nil, takesRounding, "\(arithmetic)")
                    let dx = try XCTUnwrap(try layer.backward(dy))
                    results.append(bits(y.scalars) + bits(dx.scalars) + bits(layer.weight.gradient.scalars))
                }
                XCTAssertEqual(results[1], results[0], "\(arithmetic)")
            }
        }
    }

    /// A block whose second convolution follows a batch normalisation (conv–BN–ReLU–conv–BN–ReLU,
    /// a U-Net block with `--norm batch`) in a training pass that hands activations over rounded:
    /// no kernel stores the ReLU's output rounded, so it is rounded once before the second
    /// convolution, which reads and keeps that rounding, as the ReLU does, on every arithmetic.
    /// Output and gradients are the bits of the pass that keeps the activation in Float.
    func testAHandoverRoundsANormalisedActivationOnceBeforeTheConvolution() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        let input = randomTensor([2, 12, 10, 32], seed: 21).converted(to: Float.self)
        let dy = randomTensor([2, 12, 10, 32], seed: 22).converted(to: Float.self)
        // The batch, group and instance normalisations, each storing its ReLU output rounded.
        let norms: [(String, () throws -> any Layer<Float>)] = [
            ("batch", { try BatchNorm<Float>(channels: 32) }),
            ("group", { try GroupNorm<Float>(groups: 4, channels: 32) }),
            ("instance", { try InstanceNorm<Float>(channels: 32, affine: true) }),
        ]
        for (name, norm) in norms {
            for arithmetic in BFloat16Arithmetic.allCases {
                try checkHandover(name, norm, arithmetic, input: input, dy: dy)
            }
        }
    }

    /// A convolution, the normalisation `norm` makes and a ReLU, twice, in `arithmetic`: handing
    /// the activations over rounded gives the bits of the Float hand-over, with one rounding kept.
    private func checkHandover(
        _ name: String, _ norm: () throws -> any Layer<Float>, _ arithmetic: BFloat16Arithmetic, input: Tensor<Float>,
        dy: Tensor<Float>
    ) throws {
        try BFloat16Arithmetic.with(arithmetic) {
            var results: [[UInt32]] = []
            for handsOver in [false, true] {
                var generator = SeededGenerator(seed: 23)
                let convolutions = try (0..<2).map { _ in
                    try ConvolutionLayer<Float>(
                        kernelSize: [3, 3], inputChannels: 32, outputChannels: 32, generator: &generator)
                }
                for convolution in convolutions { convolution.precision = .bfloat16 }
                let relu = ActivationLayer<Float>(.relu)
                let block = SequentialLayer<Float>([
                    convolutions[0], try norm(), relu, convolutions[1], try norm(), ActivationLayer<Float>(.relu),
                ])
                let y = try block.forward(concatenating: [input], mode: .training, handingOverRounded: handsOver)
                let kept = convolutions[1].keptInput
                XCTAssertEqual(kept.tensor == nil, handsOver, "Float input let go of (\(name), \(arithmetic))")
                XCTAssertEqual(kept.rounded != nil, handsOver, "rounding kept (\(name), \(arithmetic))")
                XCTAssertEqual(relu.keptOutput == nil, handsOver, "\(name), \(arithmetic)")
                XCTAssertEqual(
                    relu.keptRounded.map { UnsafeRawPointer($0.storage.pointer) },
                    kept.rounded.map { UnsafeRawPointer($0.storage.pointer) }, "one rounding (\(name), \(arithmetic))")
                let dx = try XCTUnwrap(try block.backward(dy))
                results.append(
                    bits(y.scalars) + bits(dx.scalars) + block.parameters.flatMap { bits($0.gradient.scalars) })
            }
            XCTAssertEqual(results[1], results[0], "\(name), \(arithmetic)")
        }
    }

    private struct Step {
        var logits: [[Float]]
        var gradients: [(String, [Float])]
        var kept: (float: Int, bfloat16: Int)
        /// Bytes of the skips that decoder blocks kept as their input's second part, the storage
        /// of the encoder's ReLU output (counted once), where a joined input held a copy.
        var sharedSkips: Int
    }

    /// One bfloat16 training step of `configuration` (batch 4), with activations kept as `stores` says.
    private func step(
        _ configuration: UNetConfiguration, size: Int, supervision: Int, stores: Bool
    ) throws -> (Step, UNet<Float>) {
        let model = try UNet<Float>(configuration, seed: 9)
        if supervision > 1 { try model.enableDeepSupervision(outputs: supervision, seed: 3) }
        model.precision = .bfloat16
        model.storesActivationsInBFloat16 = stores
        let spatial = Array(repeating: size, count: configuration.spatialRank)
        let images = randomTensor([4] + spatial + [configuration.inputChannels], seed: 17).converted(to: Float.self)
        model.parameters.zeroGradients()
        let outputs = try model.forwardDeepSupervision(images, mode: .training)
        let kept = model.keptActivationBytes
        let sharedSkips = model.dec.compactMap { ($0.layers.first as? ConvolutionLayer<Float>)?.keptInput.parts?.last }
            .reduce(0) { $0 + $1.count * MemoryLayout<Float>.stride }
        // A fixed, non-trivial gradient per output.
        let gradients = outputs.enumerated().map { k, output in
            randomTensor(output.shape, seed: UInt64(30 + k)).converted(to: Float.self)
        }
        try model.backward(deepSupervision: gradients)
        let step = Step(
            logits: outputs.map(\.scalars),
            gradients: model.parameters.trainable.map { ($0.name, $0.gradient.scalars) },
            kept: kept, sharedSkips: sharedSkips)
        return (step, model)
    }

    private func checkSameStep(
        _ configuration: UNetConfiguration, size: Int = 32, supervision: Int = 1, label: String
    ) throws -> (float: Step, rounded: Step) {
        let (float, _) = try step(configuration, size: size, supervision: supervision, stores: false)
        let (rounded, model) = try step(configuration, size: size, supervision: supervision, stores: true)
        XCTAssertEqual(rounded.logits.map(bits), float.logits.map(bits), "logits (\(label))")
        XCTAssertEqual(rounded.gradients.count, float.gradients.count)
        for ((name, a), (_, b)) in zip(rounded.gradients, float.gradients) {
            XCTAssertEqual(bits(a), bits(b), "gradient of \(name) (\(label))")
        }
        XCTAssertEqual(float.kept.bfloat16, 0, "nothing is rounded when the Float form is asked for (\(label))")
        // Once the backward pass has run, nothing is kept.
        XCTAssertEqual(model.keptActivationBytes.float + model.keptActivationBytes.bfloat16, 0, label)
        print(
            "kept activations (\(label)): Float \(float.kept.float) bytes; with bfloat16 \(rounded.kept.float) + \(rounded.kept.bfloat16) bytes"
        )
        return (float, rounded)
    }

    func testUNetStepGivesTheSameBitsWithHalfTheKeptBytes() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        for arithmetic in BFloat16Arithmetic.allCases {
            try BFloat16Arithmetic.with(arithmetic) {
                for normalization in [NormalizationKind.none, .batch] {
                    var configuration = UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 2)
                    configuration.normalization = normalization
                    let label = "\(arithmetic), \(normalization)"
                    let (float, rounded) = try checkSameStep(configuration, label: label)
                    // Rounded: every block's inputs and ReLU outputs but the image (the first
                    // convolution, on 3 channels, runs in Float) and the last decoder level's
                    // output (the Float 1×1 head keeps it). Where the Float step keeps a
                    // decoder's input as its parts (rounded operands), the skip part is the
                    // encoder's ReLU output, which the rounded step keeps a second time inside
                    // the decoder's rounded input.
                    let total = rounded.kept.float + 2 * rounded.kept.bfloat16
                    let joined = float.kept.float + float.sharedSkips
                    XCTAssertEqual(total, joined, "the same tensors, in either form (\(label))")
                    XCTAssertEqual(
                        float.sharedSkips > 0, arithmetic == .roundedOperands, "parts kept in Float (\(label))")
                    XCTAssertLessThanOrEqual(
                        Double(rounded.kept.float + rounded.kept.bfloat16), 0.62 * Double(joined), label)
                }
            }
        }
    }

    /// Deep supervision: a decoder level whose output a (Float) head keeps keeps it in Float.
    func testDeepSupervisionKeepsTheHeadsInputsInFloat() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        let configuration = UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 3)
        let (plain, _) = try step(configuration, size: 32, supervision: 1, stores: true)
        let (_, supervised) = try checkSameStep(configuration, supervision: 3, label: "deep supervision")
        XCTAssertGreaterThan(supervised.kept.float, plain.kept.float, "the heads' inputs stay Float")
    }

    /// Volumes: the 3-D convolutions keep their inputs rounded, and so does the 2×2×2
    /// up-sampling, whose backward pass rounds its input (BFloat16ExactTiling.swift): one copy
    /// with the ReLU output it shares, on every arithmetic.
    func testVolumesKeepOnlyWhatTheirBackwardRounds() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        var configuration = UNetConfiguration(inputChannels: 1, classes: 2, baseWidth: 16, depth: 1)
        configuration.spatialRank = 3
        for arithmetic in BFloat16Arithmetic.allCases {
            try BFloat16Arithmetic.with(arithmetic) {
                let (float, rounded) = try checkSameStep(configuration, size: 8, label: "3-D, \(arithmetic)")
                XCTAssertGreaterThan(rounded.kept.bfloat16, 0)
                XCTAssertEqual(rounded.kept.float + 2 * rounded.kept.bfloat16, float.kept.float + float.sharedSkips)
                let model = try UNet<Float>(configuration, seed: 9)
                model.precision = .bfloat16
                model.storesActivationsInBFloat16 = true
                _ = try model.forward(
                    randomTensor([2, 8, 8, 8, 1], seed: 17).converted(to: Float.self), mode: .training)
                let kept = model.up[0].keptInput
                XCTAssertNil(kept.tensor, "the up-sampling's Float input let go of (\(arithmetic))")
                XCTAssertNotNil(kept.rounded, "the up-sampling's input kept rounded (\(arithmetic))")
                let relu = try XCTUnwrap(model.mid.layers.last as? ActivationLayer<Float>)
                XCTAssertEqual(
                    relu.keptRounded.map { UnsafeRawPointer($0.storage.pointer) },
                    kept.rounded.map { UnsafeRawPointer($0.storage.pointer) }, "one rounding (\(arithmetic))")
            }
        }
    }

    /// Evaluation and Float training keep nothing rounded.
    func testOnlyABFloat16TrainingPassRounds() throws {
        let configuration = UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 2)
        let model = try UNet<Float>(configuration, seed: 1)
        let images = randomTensor([2, 32, 32, 3], seed: 2).converted(to: Float.self)
        _ = try model.forward(images, mode: .training)
        XCTAssertEqual(model.keptActivationBytes.bfloat16, 0, "Float training")
        XCTAssertGreaterThan(model.keptActivationBytes.float, 0)
        model.precision = .bfloat16
        _ = try model.forward(images, mode: .evaluation)
        XCTAssertEqual(model.keptActivationBytes.float + model.keptActivationBytes.bfloat16, 0, "evaluation")
    }
}
