// The Float direct kernels' packed kernels kept between calls (BFloat16WeightCache.directPacked):
// made once per kernel value and per packing, the same bits as a packing made for the call,
// replaced when the kernel changes, never stale after an optimiser step, and split between the
// workers without changing a bit.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class DirectPackingCacheTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2 or AVX-512: the direct kernels never run here")
    }

    /// A Float convolution packs its kernel on the first forward pass and reads that packing
    /// after: the bits of a pass that packs for itself; a new kernel value starts a new cache.
    func testConvolutionKeepsItsPackedKernel() throws {
        var conv = try Convolution(
            weight: randomTensor([3, 3, 16, 32], seed: 2100).converted(to: Float.self),
            bias: randomTensor([32], seed: 2101).converted(to: Float.self), padding: .same)
        let x = randomTensor([2, 6, 7, 16], seed: 2102).converted(to: Float.self)
        XCTAssertEqual(conv.bfloat16Weights.directCount, 0)
        let first = try conv.forward(x)
        XCTAssertEqual(KernelDispatch.lastUsed(.convolution), InstructionSet.current)
        XCTAssertEqual(conv.bfloat16Weights.directCount, 1, "the packed kernel is kept")
        XCTAssertEqual(try conv.forward(x), first, "the kept packing gives the same bits")
        let g = try conv.geometry(x.shape)
        let uncached = ConvolutionKernels.forward(
            g, x: x, weight: conv.weight, bias: conv.bias, settings: conv.settings, bfloat16Weights: nil)
        XCTAssertEqual(uncached, first, "a packing made for the call")

        conv.weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= -0.5 } }
        XCTAssertEqual(conv.bfloat16Weights.directCount, 0, "a new kernel value, a new cache")
        let changed = try conv.forward(x)
        XCTAssertNotEqual(changed, first)
        XCTAssertEqual(changed, try Convolution(weight: conv.weight, bias: conv.bias, padding: .same).forward(x))
    }

    /// The rounded-operand arithmetic packs the rounded kernel, and a Float pass of the same
    /// kernel value its own: neither reads the other's.
    func testRoundedAndFloatPackingsAreKeptApart() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no bfloat16 level: the rounded operands never run here")
        BFloat16Arithmetic.force(.roundedOperands)
        defer { BFloat16Arithmetic.force(nil) }
        let w = randomTensor([3, 3, 16, 32], seed: 2110).converted(to: Float.self)
        let x = randomTensor([2, 6, 7, 16], seed: 2111).converted(to: Float.self)
        var conv = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        let rounded = try conv.forward(x)
        XCTAssertEqual(conv.bfloat16Weights.directCount, 1)
        conv.settings.precision = .float
        let float = try conv.forward(x)
        XCTAssertEqual(conv.bfloat16Weights.directCount, 2, "the Float kernel's packing beside the rounded one's")
        XCTAssertEqual(float, try Convolution(weight: w, padding: .same).forward(x))
        XCTAssertNotEqual(float, rounded, "operands that rounding changes")
        conv.settings.precision = .bfloat16
        XCTAssertEqual(try conv.forward(x), rounded)
    }

    /// An up-sampling run with rounded operands (whose exact tiling hands the rounded kernel to
    /// the Float passes) and then in Float, one value: the Float pass reads the Float kernel's
    /// packing, not the rounded one's.
    func testUpsamplingKeepsRoundedAndFloatPackingsApart() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no bfloat16 level: the rounded operands never run here")
        BFloat16Arithmetic.force(.roundedOperands)
        defer { BFloat16Arithmetic.force(nil) }
        let w = randomTensor([2, 2, 16, 32], seed: 2125).converted(to: Float.self)
        let x = randomTensor([2, 5, 6, 32], seed: 2126).converted(to: Float.self)
        var up = try TransposedConvolution(weight: w, stride: [2], settings: ConvolutionSettings(precision: .bfloat16))
        let rounded = try up.forward(x)
        XCTAssertEqual(up.packings.directCount, 1)
        up.settings.precision = .float
        let float = try up.forward(x)
        XCTAssertEqual(up.packings.directCount, 2, "the Float kernel's packing beside the rounded one's")
        XCTAssertEqual(float, try TransposedConvolution(weight: w, stride: [2]).forward(x))
        XCTAssertNotEqual(float, rounded)
    }

    /// A 2×2 stride-2 up-sampling keeps its transposed kernel (the scattered pass's packing)
    /// between forward passes, with the bits of a packing made for the call; assigning or
    /// mutating its weight starts a new cache.
    func testUpsamplingKeepsItsPackedKernel() throws {
        var up = try TransposedConvolution(
            weight: randomTensor([2, 2, 16, 32], seed: 2120).converted(to: Float.self),
            bias: randomTensor([16], seed: 2121).converted(to: Float.self), stride: [2])
        let x = randomTensor([2, 5, 6, 32], seed: 2122).converted(to: Float.self)
        let first = try up.forward(x)
        XCTAssertEqual(KernelDispatch.lastUsed(.convolution), InstructionSet.current)
        XCTAssertEqual(up.packings.directCount, 1, "the transposed kernel is kept")
        XCTAssertEqual(try up.forward(x), first)
        let uncached = ConvolutionKernels.transposedForward(
            try up.geometry(x.shape), input: x, weight: up.weight, bias: up.bias, settings: up.settings)
        XCTAssertEqual(uncached, first, "a packing made for the call")

        up.weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= -0.5 } }
        XCTAssertEqual(up.packings.directCount, 0, "a mutated kernel, a new cache")
        let changed = try up.forward(x)
        XCTAssertNotEqual(changed, first)
        XCTAssertEqual(changed, try TransposedConvolution(weight: up.weight, bias: up.bias, stride: [2]).forward(x))
        up.weight = randomTensor([2, 2, 16, 32], seed: 2123).converted(to: Float.self)
        XCTAssertEqual(up.packings.directCount, 0, "an assigned kernel, a new cache")
    }

    /// Layers that run evaluation passes (which keep their packings) between training steps
    /// give, after each step, the bits of fresh layers holding the stepped parameters.
    func testOptimiserStepInvalidatesTheKeptPackings() throws {
        var generator = SeededGenerator(seed: 2130)
        let conv = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: 16, outputChannels: 32, generator: &generator)
        let up = try TransposedConvolutionLayer<Float>(
            kernelSize: [2, 2], inputChannels: 32, outputChannels: 16, stride: [2], generator: &generator)
        let model = SequentialLayer<Float>([conv, up])
        let x = Tensor<Float>.normal([2, 6, 5, 16], generator: &generator)
        let optimizer = try SGD<Float>(learningRate: 0.5)
        var previous: Tensor<Float>?
        for _ in 0..<2 {
            let evaluated = try model.forward(x, mode: .evaluation)
            XCTAssertEqual(try model.forward(x, mode: .evaluation), evaluated)
            let y = try model.forward(x, mode: .training)
            _ = try model.backward(Tensor<Float>.normal(y.shape, generator: &generator))
            optimizer.step(model.parameters)
            for parameter in model.parameters { parameter.gradient = Tensor(shape: parameter.value.shape) }

            var other = SeededGenerator(seed: 1)
            let freshConv = try ConvolutionLayer<Float>(
                kernelSize: [3, 3], inputChannels: 16, outputChannels: 32, generator: &other)
            let freshUp = try TransposedConvolutionLayer<Float>(
                kernelSize: [2, 2], inputChannels: 32, outputChannels: 16, stride: [2], generator: &other)
            for (target, source) in zip(freshConv.parameters + freshUp.parameters, model.parameters) {
                target.value = source.value
            }
            let stepped = try model.forward(x, mode: .evaluation)
            XCTAssertNotEqual(stepped, evaluated, "the step moved the output")
            XCTAssertEqual(stepped, try SequentialLayer<Float>([freshConv, freshUp]).forward(x, mode: .evaluation))
            if let previous { XCTAssertNotEqual(stepped, previous) }
            previous = stepped
        }
    }

    /// The input gradient's flipped kernel, W'[t][co][ci] = W[taps − 1 − t][ci][co] in the packed
    /// layout (64-column blocks of ci), written in unit ranges, on every instruction-set level:
    /// 80 input channels (blocks of 64 and 16), 32 output channels, 3×3 taps.
    func testFlippedPackingIsTheFlippedKernel() throws {
        let (taps, cin, cout) = (9, 80, 32)
        let w = randomTensor([taps, cin, cout], seed: 2150).converted(to: Float.self).scalars
        let rows = taps * cout
        var expected = [Float](repeating: 0, count: w.count)
        for t in 0..<taps {
            for co in 0..<cout {
                for ci in 0..<cin {
                    let (first, width) = (ci / 64 * 64, ci < 64 ? 64 : 16)
                    expected[first * rows + (t * cout + co) * width + ci - first] =
                        w[((taps - 1 - t) * cin + ci) * cout + co]
                }
            }
        }
        defer { try? KernelDispatch.force(nil) }
        for isa in InstructionSet.available {
            try KernelDispatch.force(isa)
            var flipped = [Float](repeating: .nan, count: w.count)
            let units = taps * cin / 16
            for (u0, u1) in [(0, 7), (7, 8), (8, units)] {
                dk_conv_pack_weights_flipped(w, &flipped, taps, cin, cout, u0, u1)
            }
            XCTAssertEqual(flipped.map(\.bitPattern), expected.map(\.bitPattern), "\(isa)")
        }
    }

    /// Both packings made from the kernel in PyTorch's layout [cout, cin, taps] are those made
    /// from DiceKit's [taps, cin, cout], bit for bit, on every level: 3×3 kernels on 3, 16 and 80
    /// input channels (the flipped one on multiples of 16), 16 to 160 output channels; with
    /// AVX-512, also in blocks transposed in registers, in ranges of output channels.
    func testPackingsFromPyTorchLayoutAreTheSame() throws {
        defer { try? KernelDispatch.force(nil) }
        for isa in InstructionSet.available {
            try KernelDispatch.force(isa)
            for (cin, cout) in [(3, 16), (16, 32), (80, 48), (16, 160)] {
                let taps = 9
                let dicekit = randomTensor([3, 3, cin, cout], seed: 2160).converted(to: Float.self)
                let pyTorch = try WeightLayout.toPyTorch(dicekit).scalars
                let count = taps * cin * cout
                var g = dk_conv_geometry(hp: 8, wp: 8, output: [1, 6, 6], kernel: [1, 3, 3], cin: cin, cout: cout)
                var expected = [Float](repeating: .nan, count: count)
                var packed = [Float](repeating: .nan, count: count)
                dk_conv_pack_weights(&g, dicekit.scalars, &expected)
                let rows = taps * cin
                for (r0, r1) in [(0, rows / 3), (rows / 3, rows)] {
                    dk_conv_pack_weight_rows_pytorch(&g, pyTorch, &packed, r0, r1)
                }
                XCTAssertEqual(packed.map(\.bitPattern), expected.map(\.bitPattern), "\(isa) \(cin) → \(cout)")
                guard cin % 16 == 0 else { continue }
                let units = taps * cin / 16
                var flipped = [Float](repeating: .nan, count: count)
                var flippedFromPyTorch = [Float](repeating: .nan, count: count)
                dk_conv_pack_weights_flipped(dicekit.scalars, &flipped, taps, cin, cout, 0, units)
                for (u0, u1) in [(0, 1), (1, units)] {
                    dk_conv_pack_weights_flipped_pytorch(pyTorch, &flippedFromPyTorch, taps, cin, cout, u0, u1)
                }
                XCTAssertEqual(
                    flippedFromPyTorch.map(\.bitPattern), flipped.map(\.bitPattern), "\(isa) \(cin) → \(cout) flipped")
                // In blocks transposed in registers, in two ranges of output channels (AVX-512).
                guard dk_conv_packs_pytorch_blocks(taps, cin, cout) != 0 else { continue }
                var blocks = [Float](repeating: .nan, count: count)
                var flippedBlocks = [Float](repeating: .nan, count: count)
                for (c0, c1) in [(0, 16), (16, cout)] {
                    dk_conv_pack_weight_channels_pytorch(&g, pyTorch, &blocks, c0, c1)
                    dk_conv_pack_weights_flipped_channels_pytorch(pyTorch, &flippedBlocks, taps, cin, cout, c0, c1)
                }
                XCTAssertEqual(blocks.map(\.bitPattern), expected.map(\.bitPattern), "\(isa) \(cin) → \(cout) blocks")
                XCTAssertEqual(
                    flippedBlocks.map(\.bitPattern), flipped.map(\.bitPattern), "\(isa) \(cin) → \(cout) flipped blocks"
                )
            }
        }
    }

    /// A Float layer's training step on the direct kernels packs its parameter as it is (PyTorch's
    /// layout) for the forward pass and the input gradient, never converting it to DiceKit's, with
    /// the bits of a convolution given the converted kernel; a first layer's few-channel input
    /// gradient reads the converted kernel.
    func testFloatLayerPacksItsParameterAsItIs() throws {
        for (cin, converts) in [(16, false), (3, true)] {
            var generator = SeededGenerator(seed: 2170)
            let layer = try ConvolutionLayer<Float>(
                kernelSize: [3, 3], inputChannels: cin, outputChannels: 32, generator: &generator)
            layer.bias.value = randomTensor([32], seed: 2171).converted(to: Float.self)
            let x = randomTensor([2, 6, 7, cin], seed: 2172).converted(to: Float.self)
            let y = try layer.forward(x, mode: .training)
            let built = try XCTUnwrap(layer.cachedConvolution)
            let dy = randomTensor(y.shape, seed: 2173).converted(to: Float.self)
            let dx = try layer.backward(dy)
            XCTAssertEqual(built.kernel.holdsDicekitLayout, converts, "\(cin) input channels")
            XCTAssertEqual(built.bfloat16Weights.directCount, 1)

            let reference = try Convolution(
                weight: WeightLayout.fromPyTorch(layer.weight.value), bias: layer.bias.value, padding: .same)
            XCTAssertEqual(y, try reference.forward(x))
            let expected = try reference.backward(input: x, outputGradient: dy)
            XCTAssertEqual(dx, expected.input)
            XCTAssertEqual(layer.weight.gradient, try WeightLayout.toPyTorch(expected.weight))
        }
    }

    /// The packing split into row ranges (as the workers write it) is the whole packing, for a
    /// kernel of three channel blocks (64, 64, 32).
    func testRowRangesMakeTheWholePacking() {
        let (rows, cout) = (3 * 3 * 16, 160)
        let w = randomTensor([rows, cout], seed: 2140).converted(to: Float.self).scalars
        var g = dk_conv_geometry(hp: 8, wp: 8, output: [1, 6, 6], kernel: [1, 3, 3], cin: 16, cout: cout)
        var whole = [Float](repeating: .nan, count: rows * cout)
        var ranges = [Float](repeating: .nan, count: rows * cout)
        dk_conv_pack_weights(&g, w, &whole)
        for (r0, r1) in [(0, 50), (50, 51), (51, rows)] { dk_conv_pack_weight_rows(&g, w, &ranges, r0, r1) }
        XCTAssertEqual(ranges.map(\.bitPattern), whole.map(\.bitPattern))
        // Block 1 (channels 64..<128) of row 5 sits after block 0's rows × 64.
        XCTAssertEqual(whole[rows * 64 + 5 * 64 + 3], w[5 * cout + 67])
        // The last block is 32 wide.
        XCTAssertEqual(whole[rows * 128 + 7 * 32 + 31], w[7 * cout + 159])
    }
}
