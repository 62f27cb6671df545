// The bfloat16 packings a convolution or an up-sampling keeps (BFloat16WeightCache.swift): made
// once per kernel value, replaced when the kernel changes, never stale after an optimiser step;
// and the forward kernel's fused ReLU (the evaluation-mode epilogue) against max(0, ·) of the
// plain pass.

import XCTest

@testable import DiceKit

final class BFloat16WeightCacheTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the bfloat16 kernels never run here")
        BFloat16Arithmetic.force(.dotProducts)
    }

    override func tearDown() {
        BFloat16Arithmetic.force(nil)
    }

    private func convolution(seed: UInt64, workers: Int? = nil) throws -> Convolution<Float> {
        try Convolution(
            weight: randomTensor([3, 3, 16, 32], seed: seed).converted(to: Float.self),
            bias: randomTensor([32], seed: seed + 1).converted(to: Float.self), padding: .same,
            settings: ConvolutionSettings(workers: workers, precision: .bfloat16))
    }

    func testPackingsAreMadeOnceAndReplacedWithTheKernel() throws {
        var conv = try convolution(seed: 1300)
        let x = randomTensor([2, 6, 7, 16], seed: 1302).converted(to: Float.self)
        XCTAssertEqual(conv.bfloat16Weights.count, 0)
        let first = try conv.forward(x)
        XCTAssertEqual(conv.bfloat16Weights.count, 1, "the forward packing is kept")
        let cache = conv.bfloat16Weights
        XCTAssertEqual(try conv.forward(x), first, "the kept packing gives the same bits")
        XCTAssertTrue(conv.bfloat16Weights === cache)
        let dy = randomTensor(first.shape, seed: 1303).converted(to: Float.self)
        _ = try conv.backward(input: x, outputGradient: dy)
        XCTAssertEqual(conv.bfloat16Weights.count, 2, "the input gradient's flipped packing is kept too")
        // An in-place change of the kernel replaces the cache: the next pass packs the new kernel.
        conv.weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= -1 } }
        XCTAssertEqual(conv.bfloat16Weights.count, 0)
        let negated = try conv.forward(x)
        let fresh = try Convolution(
            weight: conv.weight, bias: conv.bias, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        XCTAssertEqual(negated, try fresh.forward(x))
        XCTAssertNotEqual(negated, first)
    }

    /// A 2×2 up-sampling's forward pass (the exact tiling's transposed pass) keeps its packing
    /// too: made on the first call, the same bits as a fresh value's after, replaced with the
    /// kernel. Inference and validation call an up-sampling many times with one kernel.
    func testUpsamplingKeepsItsPacking() throws {
        func upsampling(_ weight: Tensor<Float>, _ bias: Tensor<Float>) throws -> TransposedConvolution<Float> {
            try TransposedConvolution(
                weight: weight, bias: bias, stride: [2], settings: ConvolutionSettings(precision: .bfloat16))
        }
        var up = try upsampling(
            randomTensor([2, 2, 16, 32], seed: 1340).converted(to: Float.self),
            randomTensor([16], seed: 1341).converted(to: Float.self))
        let x = randomTensor([3, 5, 6, 32], seed: 1342).converted(to: Float.self)
        XCTAssertEqual(up.packings.count, 0)
        let first = try up.forward(x)
        XCTAssertEqual(first.shape, [3, 10, 12, 16])
        XCTAssertEqual(up.packings.count, 1, "the transposed pass's packing is kept")
        XCTAssertEqual(try up.forward(x), first, "the kept packing gives the same bits")
        XCTAssertEqual(up.packings.count, 1)
        XCTAssertEqual(first, try upsampling(up.weight, up.bias!).forward(x))
        up.weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= -1 } }
        XCTAssertEqual(up.packings.count, 0, "a new kernel, new packings")
        let negated = try up.forward(x)
        XCTAssertEqual(negated, try upsampling(up.weight, up.bias!).forward(x))
        XCTAssertNotEqual(negated, first)
    }

    /// After an optimiser step, a layer's forward and input gradient are a fresh layer's with the
    /// stepped weights, to the bit: no packing of the old weights survives the step.
    func testOptimiserStepInvalidatesThePackings() throws {
        var generator = SeededGenerator(seed: 1310)
        let layer = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: 16, outputChannels: 32, generator: &generator)
        layer.precision = .bfloat16
        let x = Tensor<Float>.normal([4, 8, 9, 16], generator: &generator)
        let y = try layer.forward(x, mode: .training)
        let dy = Tensor<Float>.normal(y.shape, generator: &generator)
        _ = try layer.backward(dy)
        try SGD<Float>(learningRate: 0.5).step(layer.parameters)
        let stepped = try layer.forward(x, mode: .training)
        let steppedGradient = try layer.backward(dy)

        var other = SeededGenerator(seed: 1)
        let fresh = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: 16, outputChannels: 32, generator: &other)
        fresh.precision = .bfloat16
        fresh.weight.value = layer.weight.value
        fresh.bias.value = layer.bias.value
        XCTAssertNotEqual(stepped, y, "the step moved the output")
        XCTAssertEqual(stepped, try fresh.forward(x, mode: .training))
        XCTAssertEqual(steppedGradient, try fresh.backward(dy))
        // Evaluation mode (the folded, rectified convolution) after a further step.
        _ = try layer.forward(x, mode: .evaluation)
        _ = try layer.forward(x, mode: .training)
        _ = try layer.backward(dy)
        try SGD<Float>(learningRate: 0.5).step(layer.parameters)
        fresh.weight.value = layer.weight.value
        fresh.bias.value = layer.bias.value
        XCTAssertEqual(try layer.forward(x, mode: .evaluation), try fresh.forward(x, mode: .evaluation))
    }

    /// The forward kernel's fused ReLU is max(0, ·) of the plain bfloat16 pass, bit for bit, with
    /// a NaN kept, for both work splits (per-worker samples, and the batch rounded whole).
    func testFusedReLUIsTheRectifiedPlainPass() throws {
        for (batch, workers) in [(4, 2), (1, 2)] {
            let conv = try convolution(seed: 1320, workers: workers)
            var x = randomTensor([batch, 7, 5, 16], seed: 1322).converted(to: Float.self)
            x.withUnsafeMutableBufferPointer { $0[16 * 9 + 3] = .nan }
            let plain = try conv.forward(x)
            let fused = try conv.forward(x, rectified: true)
            XCTAssertEqual(KernelDispatch.lastUsed(.bfloat16Convolution), .avx512)
            XCTAssertEqual(fused.shape, plain.shape)
            var nans = 0
            for (f, p) in zip(fused.scalars, plain.scalars) {
                if p.isNaN {
                    XCTAssertTrue(f.isNaN, "ReLU keeps a NaN")
                    nans += 1
                } else {
                    XCTAssertEqual(f.bitPattern, max(0, p).bitPattern)
                }
            }
            XCTAssertGreaterThan(nans, 0, "the NaN input reached the output")
            XCTAssertTrue(plain.scalars.contains { $0 < 0 }, "a test that rectifies something")
        }
    }

    /// A layer's convolution keeps its parameter in PyTorch's layout: a bfloat16 training step
    /// packs it as it is and never converts it to DiceKit's layout, with the same bits as a
    /// convolution given the converted kernel; so does a Float direct pass of the same value, and
    /// the public `weight` converts it.
    func testLayerPacksItsParameterAsItIs() throws {
        var generator = SeededGenerator(seed: 1330)
        let layer = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: 16, outputChannels: 32, generator: &generator)
        layer.bias.value = randomTensor([32], seed: 1331).converted(to: Float.self)
        layer.precision = .bfloat16
        let x = randomTensor([2, 6, 7, 16], seed: 1332).converted(to: Float.self)
        let y = try layer.forward(x, mode: .training)
        // The step's convolution (the layer lets it go when the backward pass ends).
        var built = try XCTUnwrap(layer.cachedConvolution)
        let dy = randomTensor(y.shape, seed: 1333).converted(to: Float.self)
        let dx = try layer.backward(dy)
        XCTAssertFalse(built.kernel.holdsDicekitLayout, "a bfloat16 step converted the kernel")
        XCTAssertEqual(built.bfloat16Weights.count, 2, "the forward and flipped packings")

        let reference = try Convolution(
            weight: WeightLayout.fromPyTorch(layer.weight.value), bias: layer.bias.value, padding: .same,
            settings: ConvolutionSettings(precision: .bfloat16))
        XCTAssertEqual(y, try reference.forward(x))
        let expected = try reference.backward(input: x, outputGradient: dy)
        XCTAssertEqual(dx, expected.input)
        XCTAssertEqual(layer.weight.gradient, try WeightLayout.toPyTorch(expected.weight))
        // The layer sums its bias gradient itself, in Double (`parallelChannelSums`: one chunk of
        // rows here, in row order), where the convolution sums in Float.
        var sums = [Double](repeating: 0, count: 32)
        for (i, value) in dy.scalars.enumerated() { sums[i % 32] += Double(value) }
        XCTAssertEqual(layer.bias.gradient.scalars, sums.map { Float($0) })
        let convolutionSums = try XCTUnwrap(expected.bias).scalars
        for (a, b) in zip(layer.bias.gradient.scalars, convolutionSums) {
            XCTAssertEqual(a, b, accuracy: 1e-5 * Swift.max(1, abs(b)), "the convolution's Float sums")
        }

        built.settings.precision = .float
        var float = reference
        float.settings.precision = .float
        XCTAssertEqual(try built.forward(x), try float.forward(x), "a Float direct pass packs the kernel as it is too")
        XCTAssertFalse(built.kernel.holdsDicekitLayout)
        XCTAssertEqual(built.weight, reference.weight)
        XCTAssertTrue(built.kernel.holdsDicekitLayout, "the public weight converts it")
    }
}
