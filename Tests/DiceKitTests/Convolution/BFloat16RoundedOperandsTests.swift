// The rounded-operand arithmetic of bfloat16 convolutions (BFloat16RoundedOperands.swift): the
// forward pass, input gradient and weight gradient equal, bit for bit, the Float path given
// x, W and dy rounded to bfloat16 (so the rounding happens exactly where the bfloat16 kernels
// round, and nowhere else), on the direct kernels or, where the Float path takes it, Winograd;
// the bias gradient equals the Float path's on the unrounded dy. The
// Float path's own correctness is tested elsewhere, so these cases carry the bfloat16 bound
// of BFloat16ConvolutionTests over to this arithmetic. Also: the rounded kernel is kept per
// kernel value, and a bad DICEKIT_BF16_ARITHMETIC is a usage error; the widening of kept
// bfloat16 activations into the kernels' padded copies is exact on every level.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16RoundedOperandsTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.roundedOperands)
    }

    override func tearDown() {
        BFloat16Arithmetic.force(nil)
    }

    private func rounded(_ t: Tensor<Float>) -> Tensor<Float> { t.map { BFloat16.rounded($0) } }

    private func check(
        input: [Int], kernel: [Int], cout: Int, padding: Padding, workers: Int? = nil, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let cin = input.last!
        let x = randomTensor(input, seed: seed).converted(to: Float.self)
        let w = randomTensor(kernel + [cin, cout], seed: seed + 1).converted(to: Float.self)
        let b = randomTensor([cout], seed: seed + 2).converted(to: Float.self)
        let float = ConvolutionSettings(workers: workers)
        let bf16 = try Convolution(
            weight: w, bias: b, padding: padding, settings: ConvolutionSettings(workers: workers, precision: .bfloat16))
        let reference = try Convolution(weight: rounded(w), bias: b, padding: padding, settings: float)
        let plain = try Convolution(weight: w, bias: b, padding: padding, settings: float)
        let y = try bf16.forward(x)
        XCTAssertEqual(y.scalars, try reference.forward(rounded(x)).scalars, "forward", file: file, line: line)
        XCTAssertNotEqual(y.scalars, try plain.forward(x).scalars, "forward: no rounding", file: file, line: line)
        let dy = randomTensor(y.shape, seed: seed + 3).converted(to: Float.self)
        let grads = try bf16.backward(input: x, outputGradient: dy)
        let expected = try reference.backward(input: rounded(x), outputGradient: rounded(dy))
        XCTAssertEqual(grads.input!.scalars, expected.input!.scalars, "∂x", file: file, line: line)
        XCTAssertEqual(grads.weight.scalars, expected.weight.scalars, "∂w", file: file, line: line)
        XCTAssertEqual(
            grads.bias!.scalars, try plain.backward(input: x, outputGradient: dy).bias!.scalars, "∂b (Float)",
            file: file, line: line)
    }

    func testSixteenChannelsSamePadding() throws {
        try check(input: [2, 9, 10, 16], kernel: [3, 3], cout: 16, padding: .same, seed: 1400)
    }

    /// Two samples per worker (each worker pads its own), odd width, 48 output channels.
    func testWorkersOwnTheirSamples() throws {
        try check(input: [4, 7, 9, 32], kernel: [3, 3], cout: 48, padding: .same, workers: 2, seed: 1410)
    }

    /// Fewer samples than two per worker: the batch padded whole, chunks dealt out. Its even
    /// output (18 × 22) takes Winograd F(2×2, 3×3) on the rounded operands, its three passes, as
    /// the Float path given them does (checked below to differ from the direct kernels' bits; the
    /// weight gradient rounds dy as its transform reads it).
    func testBatchPaddedWhole() throws {
        try check(input: [3, 20, 24, 16], kernel: [3, 3], cout: 32, padding: .valid, workers: 2, seed: 1420)
        try checkWinogradRan(input: [3, 20, 24, 16], kernel: [3, 3], cout: 32, padding: .valid, seed: 1420)
    }

    func testThreeDimensional() throws {
        try check(input: [1, 4, 5, 6, 16], kernel: [3, 3, 3], cout: 32, padding: .same, seed: 1430)
    }

    /// Even extents in 3-D: F(2×2×2, 3×3×3) on the rounded operands, the weight gradient's dy
    /// rounded in the depth's sums and differences of planes as they are read.
    func testThreeDimensionalWinograd() throws {
        try check(input: [2, 4, 6, 6, 16], kernel: [3, 3, 3], cout: 16, padding: .same, workers: 2, seed: 1460)
        try checkWinogradRan(input: [2, 4, 6, 6, 16], kernel: [3, 3, 3], cout: 16, padding: .same, seed: 1460)
    }

    /// The bfloat16 forward pass and weight gradient differ from the direct kernels' bits (so
    /// Winograd ran: `check` compares them with the Float path, which runs it too).
    private func checkWinogradRan(
        input: [Int], kernel: [Int], cout: Int, padding: Padding, seed: UInt64, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let x = randomTensor(input, seed: seed).converted(to: Float.self)
        let w = randomTensor(kernel + [input.last!, cout], seed: seed + 1).converted(to: Float.self)
        var settings = ConvolutionSettings(workers: 2, precision: .bfloat16)
        let winograd = try Convolution(weight: w, padding: padding, settings: settings)
        settings.allowsWinograd = false
        let direct = try Convolution(weight: w, padding: padding, settings: settings)
        let y = try winograd.forward(x)
        XCTAssertNotEqual(y.scalars, try direct.forward(x).scalars, "Winograd forward ran", file: file, line: line)
        let dy = randomTensor(y.shape, seed: seed + 3).converted(to: Float.self)
        XCTAssertNotEqual(
            try winograd.backward(input: x, outputGradient: dy).weight.scalars,
            try direct.backward(input: x, outputGradient: dy).weight.scalars, "Winograd weight gradient ran",
            file: file, line: line)
    }

    /// Small images with many channels: the weight gradient of whole-batch blocks, which reads a
    /// rounded copy of the whole dy.
    func testSmallImageWeightGradientBlocks() throws {
        try check(input: [3, 4, 5, 128], kernel: [3, 3], cout: 64, padding: .same, workers: 2, seed: 1440)
    }

    /// A 2×2 stride-2 transposed convolution (the exact-tiling passes): y, ∂x and ∂w those of the
    /// Float path on rounded operands; its bias gradient the Float sum of the unrounded dy. Its
    /// input given as its bfloat16 rounding (a kept activation), which this arithmetic widens
    /// instead of reading the bits (`backwardReadsRoundedInput`): the same ∂x and ∂w.
    func testTransposedConvolution() throws {
        let x = randomTensor([3, 9, 11, 48], seed: 1450).converted(to: Float.self)
        let w = randomTensor([2, 2, 64, 48], seed: 1451).converted(to: Float.self)
        let b = randomTensor([64], seed: 1452).converted(to: Float.self)
        var bf16 = try TransposedConvolution(weight: w, bias: b, stride: [2])
        bf16.settings = ConvolutionSettings(workers: 2, precision: .bfloat16)
        var reference = try TransposedConvolution(weight: rounded(w), bias: b, stride: [2])
        reference.settings = ConvolutionSettings(workers: 2)
        var plain = try TransposedConvolution(weight: w, bias: b, stride: [2])
        plain.settings = ConvolutionSettings(workers: 2)
        let y = try bf16.forward(x)
        XCTAssertEqual(y.scalars, try reference.forward(rounded(x)).scalars, "forward")
        XCTAssertNotEqual(y.scalars, try plain.forward(x).scalars, "forward: no rounding")
        let dy = randomTensor(y.shape, seed: 1453).converted(to: Float.self)
        let grads = try bf16.backward(input: x, outputGradient: dy)
        let expected = try reference.backward(input: rounded(x), outputGradient: rounded(dy))
        XCTAssertEqual(grads.input!.scalars, expected.input!.scalars, "∂x")
        XCTAssertEqual(grads.weight.scalars, expected.weight.scalars, "∂w")
        XCTAssertEqual(grads.bias!.scalars, try plain.backward(input: x, outputGradient: dy).bias!.scalars, "∂b")
        XCTAssertFalse(bf16.backwardReadsRoundedInput(x.shape))
        let fromBits = ConvolutionKernels.transposedBackward(
            try bf16.geometry(x.shape), rounded: BFloat16Activation(rounding: x), weight: w, outputGradient: dy,
            inputGradient: true, settings: bf16.settings, bfloat16Weights: bf16.packings)
        XCTAssertEqual(fromBits.input?.scalars, grads.input!.scalars, "∂x from bits")
        XCTAssertEqual(fromBits.weight.scalars, grads.weight.scalars, "∂w from bits")
    }

    /// Three input channels (a first layer) stay Float, as with the dot-product kernels.
    func testOtherShapesStayFloat() throws {
        let x = randomTensor([2, 8, 8, 3], seed: 1460).converted(to: Float.self)
        let w = randomTensor([3, 3, 3, 16], seed: 1461).converted(to: Float.self)
        let float = try Convolution(weight: w, padding: .same)
        let bf16 = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        XCTAssertEqual(try float.forward(x).scalars, try bf16.forward(x).scalars)
    }

    /// dk_bf16_to_f32, which widens a kept activation into the padded copies, gives every one of
    /// the 65536 bfloat16 values (NaN payloads, infinities, subnormals, −0) as itself on every
    /// level, with a tail shorter than a vector.
    func testWideningIsExactOnEveryLevel() throws {
        let bits = (0..<65536 + 7).map { UInt16(truncatingIfNeeded: $0 &* 40503) }
        defer { try? KernelDispatch.force(nil) }
        for isa in InstructionSet.available {
            try KernelDispatch.force(isa)
            var widened = [Float](repeating: 1, count: bits.count)
            dk_bf16_to_f32(bits, &widened, bits.count)
            XCTAssertEqual(widened.map(\.bitPattern), bits.map { UInt32($0) << 16 }, "\(isa)")
        }
    }

    func testRoundedKernelIsKeptAndReplacedWithTheKernel() throws {
        var conv = try Convolution(
            weight: randomTensor([3, 3, 16, 32], seed: 1470).converted(to: Float.self), padding: .same,
            settings: ConvolutionSettings(precision: .bfloat16))
        let x = randomTensor([2, 6, 7, 16], seed: 1471).converted(to: Float.self)
        XCTAssertEqual(conv.bfloat16Weights.count, 0)
        let first = try conv.forward(x)
        XCTAssertEqual(conv.bfloat16Weights.count, 1, "the rounded kernel is kept")
        _ = try conv.backward(input: x, outputGradient: first)
        XCTAssertEqual(conv.bfloat16Weights.count, 1, "the input gradient uses the same rounded kernel")
        conv.weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= -1 } }
        XCTAssertEqual(conv.bfloat16Weights.count, 0, "a new kernel value empties the cache")
        let negated = try conv.forward(x)
        XCTAssertNotEqual(negated.scalars, first.scalars)
    }

    /// The arithmetic in use follows `force` and `with`, and `with` restores the previous one.
    func testForcingAndRestoring() {
        XCTAssertEqual(BFloat16Arithmetic.current, .roundedOperands)
        BFloat16Arithmetic.with(.dotProducts) { XCTAssertEqual(BFloat16Arithmetic.current, .dotProducts) }
        XCTAssertEqual(BFloat16Arithmetic.current, .roundedOperands)
        XCTAssertTrue(BFloat16Arithmetic.selection.contains("forced"), BFloat16Arithmetic.selection)
        BFloat16Arithmetic.force(nil)
        XCTAssertFalse(BFloat16Arithmetic.selection.contains("forced"), BFloat16Arithmetic.selection)
    }

    func testBadEnvironmentValueIsAUsageError() throws {
        let result = try runDicekit(
            [
                "eval", "--checkpoint", fixtureURL("metrics/weights.safetensors").path,
                "--data", fixtureURL("metrics").path, "--precision", "bf16",
            ], environment: [BFloat16Arithmetic.environmentVariable: "fast"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("'fast'") && result.stderr.contains("dot, rounded or amx"), result.stderr)
    }

    /// `dicekit check` names the arithmetic, and the environment chooses it (amx only where the
    /// AMX level is in use; elsewhere the variable is ignored there and refused by
    /// `--precision bf16`, AMXTileKernelTests).
    func testCheckReportsTheArithmetic() throws {
        for choice in BFloat16Arithmetic.allCases where choice != .tiles || BFloat16Arithmetic.tilesAvailable {
            let result = try runDicekit(
                ["check", "--size", "32", "--sgemm-size", "64"],
                environment: [BFloat16Arithmetic.environmentVariable: choice.rawValue])
            XCTAssertEqual(result.status, 0, result.stderr)
            let object = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
            XCTAssertEqual(object["bf16_arithmetic"] as? String, choice.rawValue)
            XCTAssertTrue(result.stderr.contains(BFloat16Arithmetic.environmentVariable), result.stderr)
        }
    }
}
