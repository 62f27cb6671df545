// A bfloat16 forward pass over a kept activation (an input given as its bfloat16 bits) read in
// place by the dot-product kernel (InPlaceForward.swift, `runBFloat16`: the interior of the
// unpadded bits plus padded border strips, stored around a window of the output) gives the bits
// of the padded copy: Float and rounded outputs, with and without the ReLU, on every tile kind
// of conv_bf16.c (16 output channels in quads, 32 in pairs of vectors with and without a step
// along the line, 48, 64 and a 64 + 16 split), wider kernels, one-sided padding, no padding,
// 3-D, one and two workers, one sample and several; so does an up-sampling over bits. A
// concatenation keeps its joined copy.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16InPlaceForwardTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the bfloat16 kernels never run here")
        BFloat16Arithmetic.force(.dotProducts)
    }

    override func tearDown() { BFloat16Arithmetic.force(nil) }

    /// The passes compared: kernel, channels, extents, padding.
    private let cases: [(kernel: [Int], cin: Int, cout: Int, spatial: [Int], padding: Padding)] = [
        // 16 output channels (quads), the tiles' rows a step of 16 and of 32 apart.
        ([3, 3], 16, 16, [20, 26], .same),
        ([3, 3], 32, 16, [19, 24], .same),
        // 32: pairs of vectors, a step of 32 and of 64 along the line, and none (16 in).
        ([3, 3], 32, 32, [19, 24], .same),
        ([3, 3], 64, 32, [17, 21], .same),
        ([3, 3], 16, 32, [18, 20], .same),
        // 48, 64, and 80 (a block of 64 then one of 16).
        ([3, 3], 16, 48, [17, 18], .same),
        ([3, 3], 32, 64, [16, 18], .same),
        ([3, 3], 16, 80, [16, 17], .same),
        // A 5-wide kernel, one-sided padding.
        ([5, 5], 16, 32, [40, 36], .same),
        ([3, 3], 16, 16, [18, 21], .explicit(before: [2, 0], after: [0, 1])),
        // No padding: the whole output is the interior.
        ([3, 3], 32, 32, [12, 14], .valid),
    ]

    func testInPlaceGivesThePaddedCopysBits() throws {
        for workers in [1, 2] {
            // Batch 1 deals (sample, task) pairs out, batch 4 whole samples per worker.
            for batch in [1, 4] {
                for (i, c) in cases.enumerated() {
                    try check(
                        c.kernel, c.cin, c.cout, c.spatial, c.padding, batch: batch, workers: workers,
                        seed: UInt64(i + 1))
                }
            }
            try check([3, 3, 3], 16, 16, [22, 22, 24], .same, batch: 2, workers: workers, seed: 20)
        }
    }

    /// The forward pass over the rounding of a random input, in place and from the padded copy:
    /// Float outputs and rounded ones, with and without the ReLU, bit for bit.
    private func check(
        _ kernel: [Int], _ cin: Int, _ cout: Int, _ spatial: [Int], _ padding: Padding, batch: Int, workers: Int,
        seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let weight = randomTensor(kernel + [cin, cout], seed: seed).converted(to: Float.self)
        let bias = randomTensor([cout], seed: seed + 1).converted(to: Float.self)
        let settings = { (inPlace: Bool) in
            ConvolutionSettings(workers: workers, precision: .bfloat16, readsInPlace: inPlace)
        }
        let copy = try Convolution(weight: weight, bias: bias, padding: padding, settings: settings(false))
        var inPlace = copy
        inPlace.settings = settings(true)
        let x = BFloat16Activation(
            rounding: randomTensor([batch] + spatial + [cin], seed: seed + 2).converted(to: Float.self))
        let label = "kernel \(kernel), \(cin)→\(cout), \(spatial), batch \(batch), \(workers) workers"
        XCTAssertNotNil(try plan(copy, input: x.shape), "no in-place plan: \(label)", file: file, line: line)
        for rectified in [false, true] {
            let expected = try copy.forward(rounded: x, rectified: rectified)
            let actual = try inPlace.forward(rounded: x, rectified: rectified)
            assertSameBits(
                actual.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern),
                "y, rectified \(rectified), \(label)", file: file, line: line)
            let rounded = { (conv: Convolution<Float>) in
                try conv.roundedForward(.rounded(x), rectified: rectified, kept: false).bits.map(UInt32.init)
            }
            assertSameBits(
                try rounded(inPlace), try rounded(copy), "rounded y, rectified \(rectified), \(label)", file: file,
                line: line)
        }
        XCTAssertEqual(KernelDispatch.lastUsed(.bfloat16Convolution), .avx512, label, file: file, line: line)
    }

    /// An up-sampling (2 × 2, stride 2: the scattered 1 × 1 pass, no padding) over bits reads
    /// them where they are: the whole output is its interior. Float and rounded outputs, 2-D and
    /// 3-D, one sample and several, one and two workers, against the copy, bit for bit.
    func testUpSamplingReadsTheBitsWhereTheyAre() throws {
        for (shape, cout, seed) in [
            ([1, 5, 6, 64], 32, UInt64(40)), ([3, 4, 7, 32], 16, 42), ([2, 3, 4, 5, 32], 16, 44),
        ] {
            let rank = shape.count - 2
            let weight = randomTensor(Array(repeating: 2, count: rank) + [cout, shape.last!], seed: seed)
                .converted(to: Float.self)
            let bias = randomTensor([cout], seed: seed + 1).converted(to: Float.self)
            let x = BFloat16Activation(rounding: randomTensor(shape, seed: seed + 2).converted(to: Float.self))
            for workers in [1, 2] {
                let up = { (inPlace: Bool) in
                    try TransposedConvolution(
                        weight: weight, bias: bias, stride: [2],
                        settings: ConvolutionSettings(workers: workers, precision: .bfloat16, readsInPlace: inPlace))
                }
                let label = "\(shape) → \(cout), \(workers) workers"
                XCTAssertTrue(try up(true).forwardTakesBits(shape), label)
                let geometry = try up(true).geometry(shape)
                let source = PaddedSource(
                    rounded: bits, batch: shape[0], inner: geometry.output, channels: shape.last!, before: [0, 0, 0],
                    after: [0, 0, 0], kernelWidth: 1)
                let plan = try XCTUnwrap(InPlaceForward(bfloat16: geometry.scatteredGeometry, source: source), label)
                XCTAssertTrue(plan.strips.isEmpty, label)
                for storesBits in [false, true] {
                    let result = { (inPlace: Bool) -> [UInt32] in
                        switch try up(inPlace).bitsForward(.rounded(x), storesBits: storesBits) {
                        case .float(let y): y.scalars.map(\.bitPattern)
                        case .rounded(let y): y.bits.map(UInt32.init)
                        }
                    }
                    assertSameBits(
                        try result(true), try result(false), "\(label), bits stored \(storesBits)", file: #filePath,
                        line: #line)
                }
            }
        }
    }

    func testPlansOnlyAnInputGivenAsItsBits() throws {
        let conv = try Convolution(weight: Tensor<Float>(shape: [3, 3, 16, 16]), padding: .same)
        XCTAssertNotNil(try plan(conv, input: [1, 16, 16, 16]))
        // Too small an interior (36 of 64 positions at 8²): the copy.
        XCTAssertNil(try plan(conv, input: [1, 8, 8, 16]))
        // No padding: the whole output is the interior, whatever its size.
        let valid = try Convolution(weight: Tensor<Float>(shape: [3, 3, 16, 16]), padding: .valid)
        let whole = try XCTUnwrap(try plan(valid, input: [1, 8, 8, 16]))
        XCTAssertEqual([whole.interior.oh, whole.interior.ow, whole.interiorOffset, whole.strips.count], [6, 6, 0, 0])
        // A concatenation of two tensors' bits keeps its joined copy.
        let g = try conv.geometry([1, 16, 16, 16])
        let part = ChannelPart(bits: bits, channels: 8)
        let joined = PaddedSource(
            parts: [part, part], batch: 1, inner: g.input, before: g.padBefore, after: g.padAfter, kernelWidth: 3)
        XCTAssertNil(InPlaceForward(bfloat16: geometry(g, joined), source: joined))
        // A Float input is rounded on the way: the padded copy does that.
        let source = PaddedSource(
            source: UnsafePointer(floats), batch: 1, inner: g.input, channels: 16, before: g.padBefore,
            after: g.padAfter, kernelWidth: 3)
        XCTAssertNil(InPlaceForward(bfloat16: geometry(g, source), source: source))
    }

    /// A source pointer for plans, which never read it.
    private let floats = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private let bits = UnsafeMutablePointer<UInt16>.allocate(capacity: 1)

    /// The in-place plan of `conv`'s bfloat16 forward pass on the bits of an input of shape `input`.
    private func plan(_ conv: Convolution<Float>, input: [Int]) throws -> InPlaceForward? {
        let g = try conv.geometry(input)
        let source = PaddedSource(
            rounded: bits, batch: g.batch, inner: g.input, channels: g.inChannels, before: g.padBefore,
            after: g.padAfter, kernelWidth: g.kernel[2])
        return InPlaceForward(bfloat16: geometry(g, source), source: source)
    }

    private func geometry(_ g: ConvGeometry, _ source: PaddedSource) -> dk_conv_geometry {
        dk_conv_geometry(
            hp: source.extents[1], wp: source.extents[2], output: g.output, kernel: g.kernel, cin: g.inChannels,
            cout: g.outChannels)
    }

    /// Fails with the first element whose bits differ.
    private func assertSameBits(
        _ actual: [UInt32], _ expected: [UInt32], _ label: String, file: StaticString, line: UInt
    ) {
        XCTAssertEqual(actual.count, expected.count, label, file: file, line: line)
        if let i = actual.indices.first(where: { actual[$0] != expected[$0] }) {
            XCTFail(
                "\(label): element \(i) has bits \(actual[i]), the padded copy gives \(expected[i])", file: file,
                line: line)
        }
    }
}
