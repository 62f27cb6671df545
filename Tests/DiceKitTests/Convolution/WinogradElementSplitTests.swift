// Winograd passes split by elements (WinogradElementSplit.swift): the forward pass and input
// gradient give the bits of the split by tiles; the weight gradient gives the bits of one
// worker's split by tiles, whatever the worker count; the rounded-operand arithmetic's passes
// too; which passes split so; and that the automatic choice takes it where the rule says.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class WinogradElementSplitTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(InstructionSet.available.contains(.avx2), "no AVX2: Winograd never runs here")
        try KernelDispatch.force(InstructionSet.available.contains(.avx512) ? .avx512 : .avx2)
        Winograd4.force(false)
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
        BFloat16Arithmetic.force(nil)
        Winograd4.force(nil)
    }

    /// The forward pass, ∂x and ∂w of a 3×3 (3×3×3) convolution with bias over `input` to `cout`
    /// channels on `workers` workers, split as `split` says, in `precision`.
    private func passes(
        _ input: [Int], cout: Int, workers: Int, split: WinogradSplit, precision: ComputePrecision = .float,
        seed: UInt64
    ) throws -> [[Float]] {
        let x = randomTensor(input, seed: seed).converted(to: Float.self)
        let w = randomTensor(Array(repeating: 3, count: input.count - 2) + [input.last!, cout], seed: seed + 1)
        let b = randomTensor([cout], seed: seed + 2).converted(to: Float.self)
        var settings = ConvolutionSettings(workers: workers, precision: precision)
        settings.winogradSplit = split
        let conv = try Convolution(weight: w.converted(to: Float.self), bias: b, padding: .same, settings: settings)
        let y = try conv.forward(x)
        let dy = randomTensor(y.shape, seed: seed + 3).converted(to: Float.self)
        let gradients = try conv.backward(input: x, outputGradient: dy)
        return [y.scalars, gradients.input!.scalars, gradients.weight.scalars]
    }

    /// Split by elements on 2 and 3 workers against split by tiles: the forward pass's and input
    /// gradient's bits on as many workers, the weight gradient's bits on one worker; not the direct
    /// kernels' (Winograd ran). Chunks of tiles across samples, uneven chunks (3 workers), output
    /// panels in pairs and an odd one, input channels in runs of 12 and 4 left, volumes; each of
    /// at least 64 tiles, so that the input gradient runs Winograd too.
    private func assertSameBits(
        precision: ComputePrecision, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        for (input, cout) in [
            ([4, 8, 10, 32], 48), ([9, 6, 6, 16], 16), ([3, 8, 12, 48], 32), ([2, 4, 8, 12, 16], 32),
        ] {
            let seed = UInt64(9300 + input.reduce(cout, +))
            let one = try passes(input, cout: cout, workers: 1, split: .tiles, precision: precision, seed: seed)
            var direct = ConvolutionSettings(workers: 2, precision: precision)
            direct.allowsWinograd = false
            for workers in [2, 3] {
                let what = "\(input) → \(cout), \(workers) workers, \(precision)"
                let tiles = try passes(
                    input, cout: cout, workers: workers, split: .tiles, precision: precision, seed: seed)
                let elements = try passes(
                    input, cout: cout, workers: workers, split: .elements, precision: precision, seed: seed)
                XCTAssertTrue(elements[0] == tiles[0], "\(what): forward", file: file, line: line)
                XCTAssertTrue(elements[1] == tiles[1], "\(what): ∂x", file: file, line: line)
                XCTAssertTrue(elements[2] == one[2], "\(what): ∂w, one worker's", file: file, line: line)
                XCTAssertTrue(
                    elements[2] != tiles[2], "\(what): ∂w, not the workers' sums added", file: file, line: line)
            }
            let x = randomTensor(input, seed: seed).converted(to: Float.self)
            let w = randomTensor(Array(repeating: 3, count: input.count - 2) + [input.last!, cout], seed: seed + 1)
            let b = randomTensor([cout], seed: seed + 2).converted(to: Float.self)
            let plain = try Convolution(weight: w.converted(to: Float.self), bias: b, padding: .same, settings: direct)
            XCTAssertTrue(try plain.forward(x).scalars != one[0], "\(input): Winograd ran", file: file, line: line)
        }
    }

    func testSameBitsAsTheSplitByTiles() throws {
        try assertSameBits(precision: .float)
    }

    /// The rounded-operand arithmetic's passes (their input and kernel rounded, the output
    /// rounded to bfloat16 values, dy rounded as the weight gradient's transform reads it).
    func testRoundedOperandsToo() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.roundedOperands)
        try assertSameBits(precision: .bfloat16)
    }

    /// The evaluation-mode ReLU and a decoder's concatenated input, split by elements: the split
    /// by tiles' bits.
    func testRectifiedAndConcatenatedForward() throws {
        let x = randomTensor([4, 8, 8, 32], seed: 9350).converted(to: Float.self)
        let w = randomTensor([3, 3, 32, 48], seed: 9351).converted(to: Float.self)
        let b = randomTensor([48], seed: 9352).converted(to: Float.self)
        var settings = ConvolutionSettings(workers: 2)
        settings.winogradSplit = .tiles
        let tiles = try Convolution(weight: w, bias: b, padding: .same, settings: settings)
        settings.winogradSplit = .elements
        let elements = try Convolution(weight: w, bias: b, padding: .same, settings: settings)
        let parts = try x.splittingChannels([16, 16])
        XCTAssertTrue(
            try elements.forward(concatenating: parts, rectified: true).scalars
                == tiles.forward(concatenating: parts, rectified: true).scalars, "rectified, two parts")
    }

    /// By elements where the transformed kernel exceeds half of L2 and is at least twice a
    /// worker's chunk of transformed tiles and products.
    func testWhichPassesSplitByElements() {
        let blocking = ConvBlocking(l2: 2 << 20, l1Data: 48 << 10)
        func splits(_ cin: Int, _ cout: Int, tiles: Int, points: Int = 16) -> Bool {
            blocking.winogradSplitsElements(inChannels: cin, outChannels: cout, points: points, tilesPerWorker: tiles)
        }
        // 8² at a batch of 8 on 2 workers: 64 tiles a worker.
        XCTAssertTrue(splits(256, 256, tiles: 64), "4 MiB kernel, 2 MiB chunk")
        XCTAssertTrue(splits(512, 512, tiles: 64), "16 MiB kernel, 4 MiB chunk")
        XCTAssertFalse(splits(128, 256, tiles: 64), "2 MiB kernel, 1.5 MiB chunk")
        // 16²: 256 tiles a worker.
        XCTAssertFalse(splits(256, 256, tiles: 256), "4 MiB kernel, 8 MiB chunk")
        XCTAssertFalse(splits(64, 64, tiles: 4), "a kernel within half of L2")
        XCTAssertTrue(
            ConvBlocking(l2: 512 << 10).winogradSplitsElements(
                inChannels: 64, outChannels: 128, points: 16, tilesPerWorker: 8),
            "512 KiB kernel, 2 · 96 KiB chunks, L2 512 KiB")
        XCTAssertFalse(splits(128, 128, tiles: 96, points: 64), "3-D: 4 MiB kernel, 6 MiB chunk")
        XCTAssertTrue(splits(128, 128, tiles: 32, points: 64), "3-D: 4 MiB kernel, 2 MiB chunk")
    }

    /// The automatic choice: an 8² 256 → 256 layer at a batch of 8 on 2 workers splits by
    /// elements where the rule says (its weight gradient is then one worker's bits); a 16 → 16
    /// layer never does.
    func testTheAutomaticChoiceFollowsTheRule() throws {
        for (input, cout) in [([8, 8, 8, 256], 256), ([8, 8, 8, 16], 16)] {
            let seed = UInt64(9400 + input.last!)
            let automatic = try passes(input, cout: cout, workers: 2, split: .automatic, seed: seed)
            let one = try passes(input, cout: cout, workers: 1, split: .tiles, seed: seed)
            let rule = ConvBlocking.current.winogradSplitsElements(
                inChannels: input.last!, outChannels: cout, points: 16, tilesPerWorker: 64)
            XCTAssertEqual(automatic[2] == one[2], rule, "\(input) → \(cout): split by elements where the rule says")
        }
    }
}
