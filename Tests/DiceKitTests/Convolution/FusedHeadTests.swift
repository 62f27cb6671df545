// A 1×1 head applied in the stores of a bfloat16 forward pass on the dot products or the tiles
// (Convolution/FusedHead.swift, head_store.h; on the tiles the software model here, the tile
// unit's compilation in AMXTrapEmulationTests) gives the bits of the head run on the pass's output:
// 16 output channels (the quad-packed tile), 32, 48 and 64; 1 to 9 classes (a logit group of
// eight and one past it); with and without the ReLU and the head's bias; positions that end
// inside a tile; one image (tasks) and four (whole samples per worker); inputs given as Floats,
// as bits and joined with a skip. A U-Net's evaluation runs it in its last block.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class FusedHeadTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
    }

    private func random(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        randomTensor(shape, seed: seed).converted(to: Float.self)
    }

    /// The head's logits of `convolution`'s output, fused and run after it, with `headBias`
    /// (nil: none): [fused, separate] as bit patterns.
    private func logits(
        _ convolution: Convolution<Float>, _ head: Convolution<Float>, headBias: [Float]?, input: ForwardInput<Float>,
        rectified: Bool, classes: Int
    ) throws -> [[UInt32]] {
        // The head's kernel in DiceKit's layout [1, 1, features, classes], transposed to [classes, features].
        let features = head.weight.shape[2]
        let transposed = (0..<classes * features).map { head.weight.scalars[($0 % features) * classes + $0 / features] }
        let fused = try transposed.withUnsafeBufferPointer { pw in
            try (headBias ?? []).withUnsafeBufferPointer { pb in
                let bias = headBias == nil ? nil : pb.baseAddress
                return try convolution.forward(
                    input, rectified: rectified, head: FusedHead(weight: pw.baseAddress!, bias: bias, classes: classes))
            }
        }
        let separate = try head.forward(try convolution.forward(input, rectified: rectified))
        XCTAssertEqual(fused.shape, separate.shape)
        return [fused.scalars.map { $0.bitPattern }, separate.scalars.map { $0.bitPattern }]
    }

    /// Asserts equal bits, naming how many logits differ.
    private func assertSameBits(_ bits: [[UInt32]], _ label: String, line: UInt = #line) {
        let differing = zip(bits[0], bits[1]).filter { $0 != $1 }.count
        XCTAssertTrue(bits[0] == bits[1], "\(label): \(differing) of \(bits[1].count) logits differ", line: line)
    }

    func testFusedHeadGivesTheBitsOfTheHeadAfterThePass() throws {
        try checkFusedHead(.dotProducts)
    }

    func testFusedHeadOnTheTilesGivesTheBitsOfTheHeadAfterThePass() throws {
        try checkFusedHead(.tiles)
    }

    private func checkFusedHead(_ arithmetic: BFloat16Arithmetic) throws {
        try BFloat16Arithmetic.with(arithmetic) {
            var generator = SeededGenerator(seed: 90)
            for (features, classes, batch, size) in [
                (16, 2, 1, [7, 9]), (16, 9, 4, [5, 6]), (32, 2, 4, [9, 11]), (32, 3, 1, [6, 13]),
                (48, 1, 2, [5, 7]), (64, 5, 1, [4, 9]), (64, 8, 4, [3, 5]),
            ] {
                var convolution = try Convolution<Float>(
                    kernelSize: [3, 3], inputChannels: 32, outputChannels: features, padding: .same,
                    generator: &generator)
                convolution.bias = random([features], seed: 91)
                convolution.settings.precision = .bfloat16
                var head = try Convolution<Float>(
                    kernelSize: [1, 1], inputChannels: features, outputChannels: classes, generator: &generator)
                head.bias = random([classes], seed: 96)
                let x = random([batch] + size + [32], seed: 92)
                let shape = x.shape
                let label = "\(arithmetic): \(features) → \(classes), batch \(batch), \(size)"
                XCTAssertTrue(convolution.fusesHead(head, inputShape: shape), label)
                let tileCalls = dk_conv_tile_calls(0) + dk_conv_tile_calls(1)
                defer {
                    XCTAssertEqual(
                        dk_conv_tile_calls(0) + dk_conv_tile_calls(1) > tileCalls, arithmetic == .tiles,
                        "\(label): the tile kernel ran")
                }
                for rectified in [true, false] {
                    for bias: [Float]? in [head.bias!.scalars, nil] {
                        var separate = head
                        separate.bias = try bias.map { try Tensor(shape: [classes], scalars: $0) }
                        let bits = try logits(
                            convolution, separate, headBias: bias, input: .parts([x]), rectified: rectified,
                            classes: classes)
                        assertSameBits(bits, "\(label), ReLU \(rectified), bias \(bias != nil)")
                    }
                }
                // The input as bits, and joined with a skip given as bits.
                let rounded = BFloat16Activation(rounding: x)
                var bits = try logits(
                    convolution, head, headBias: head.bias!.scalars, input: .rounded(rounded), rectified: true,
                    classes: classes)
                assertSameBits(bits, "\(label), rounded input")
                let half = Array(shape.dropLast()) + [16]
                let skip = BFloat16Activation(rounding: random(half, seed: 93))
                bits = try logits(
                    convolution, head, headBias: head.bias!.scalars,
                    input: .joinedWithRounded(.float(random(half, seed: 94)), skip), rectified: true, classes: classes)
                assertSameBits(bits, "\(label), joined input")
            }
        }
    }

    func testWhereTheHeadIsNotFused() throws {
        var generator = SeededGenerator(seed: 95)
        var convolution = try Convolution<Float>(
            kernelSize: [3, 3], inputChannels: 32, outputChannels: 32, padding: .same, generator: &generator)
        convolution.settings.precision = .bfloat16
        let head = try Convolution<Float>(
            kernelSize: [1, 1], inputChannels: 32, outputChannels: 2, generator: &generator)
        let shape = [1, 8, 8, 32]
        XCTAssertTrue(BFloat16Arithmetic.with(.dotProducts) { convolution.fusesHead(head, inputShape: shape) })
        XCTAssertTrue(BFloat16Arithmetic.with(.tiles) { convolution.fusesHead(head, inputShape: shape) }, "AMX tiles")
        XCTAssertFalse(
            BFloat16Arithmetic.with(.roundedOperands) { convolution.fusesHead(head, inputShape: shape) },
            "rounded operands")
        BFloat16Arithmetic.with(.dotProducts) {
            var float = convolution
            float.settings.precision = .float
            XCTAssertFalse(float.fusesHead(head, inputShape: shape), "a Float pass")
            // A head of 16 classes runs on the direct kernels, not the few-channel one.
            let wide = try! Convolution<Float>(
                kernelSize: [1, 1], inputChannels: 32, outputChannels: 16, generator: &generator)
            XCTAssertFalse(convolution.fusesHead(wide, inputShape: shape), "16 classes")
            // More than 64 output channels: a tile holds 64.
            var broad = try! Convolution<Float>(
                kernelSize: [3, 3], inputChannels: 32, outputChannels: 80, padding: .same, generator: &generator)
            broad.settings.precision = .bfloat16
            let head80 = try! Convolution<Float>(
                kernelSize: [1, 1], inputChannels: 80, outputChannels: 2, generator: &generator)
            XCTAssertFalse(broad.fusesHead(head80, inputShape: shape), "80 channels")
        }
    }

    /// A U-Net's evaluation pass runs its head in the last block's stores, with the bits of the
    /// head run on the block's output; where the block's last pass (32 → 32) runs as Winograd
    /// with bfloat16 products on its own (the dot-product arithmetic), the fused pass, which runs
    /// on the dot-product kernels, gives other bits, of the same order.
    func testUNetEvaluationFusesItsHead() throws {
        for (base, classes, arithmetic) in [
            (16, 2, BFloat16Arithmetic.dotProducts), (32, 3, .dotProducts), (16, 2, .tiles), (32, 3, .tiles),
        ] {
            let winograd = base == 32 && arithmetic == .dotProducts && ConvolutionSettings.winogradRuns
            let model = try UNet<Float>(
                UNetConfiguration(inputChannels: 3, classes: classes, baseWidth: base, depth: 2), seed: 9)
            model.precision = .bfloat16
            let profile = LayerProfile()
            model.profile = profile
            let x = random([2, 16, 16, 3], seed: 10)
            // The evaluation pass of `forward`, without its release of what the layers kept.
            let fused = try BFloat16Arithmetic.with(arithmetic) {
                try model.forwardLayers(x, mode: .evaluation, supervised: false)[0]
            }
            XCTAssertEqual(profile.stages.last?.name, "dec.1+head")
            // The head ran in the stores: its own pass, which keeps its input, did not run.
            XCTAssertNil(model.head.keptInput.tensor, "\(arithmetic), base \(base): the head ran on its own")
            // The same layers with the head run on its own (the deep-supervision path hands nothing over).
            model.profile = nil
            let separate = try BFloat16Arithmetic.with(arithmetic) {
                try model.forwardLayers(x, mode: .evaluation, supervised: true)[0]
            }
            XCTAssertEqual(fused.shape, [2, 16, 16, classes])
            let what = "\(arithmetic), base \(base)"
            guard winograd else {
                XCTAssertEqual(fused.scalars.map(\.bitPattern), separate.scalars.map(\.bitPattern), what)
                continue
            }
            XCTAssertTrue(fused.scalars != separate.scalars, "\(what): Winograd ran on its own")
            let scale = separate.scalars.map(abs).max()!
            let worst = zip(fused.scalars, separate.scalars).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-2 * scale, what)
        }
    }
}
