// A channel concatenation read in place (dk_conv_geometry.xb: the forward kernels read the two
// parts in turn) gives the bits of the joined copy: the kernels directly, on every tile kind
// (grid and three-tap tiles, per-position tiles, K blocks of whole segments and of rows that
// straddle the two parts), at every level with direct kernels; and `Convolution.forward
// (concatenating:)` in place against the padded copy, 2-D and 3-D, one and two workers, one
// sample and several.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class TwoPartInputTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2: the direct kernels never run here")
    }

    override func tearDown() { try? KernelDispatch.force(nil) }

    private var levels: [InstructionSet] { InstructionSet.available.filter { $0 >= .avx2 } }

    /// Fails with the first element whose bits differ.
    private func assertSameBits(
        _ actual: [Float], _ expected: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.count, expected.count, label, file: file, line: line)
        if let i = actual.indices.first(where: { actual[$0].bitPattern != expected[$0].bitPattern }) {
            XCTFail(
                "\(label): element \(i) is \(actual[i]), the joined copy gives \(expected[i])", file: file, line: line)
        }
    }

    /// y of one 'same' pass of `kernel` (2-D, odd extents) over the concatenation of two parts of
    /// `channels` channels: the joined padded sample (one part), or the two padded parts (two).
    private func kernelForward(
        parts: [[Float]], channels: [Int], spatial: [Int], kernel: [Int], weight: [Float], cout: Int,
        weightBlock: Int, perPosition: Bool, joined: Bool
    ) -> [Float] {
        let pad = kernel.map { $0 / 2 }
        let (before, after) = ([0] + pad, [0] + pad)
        let inner = [1] + spatial
        let positions = spatial.reduce(1, *)
        let cin = channels.reduce(0, +)
        var y = [Float](repeating: .nan, count: positions * cout)
        let packed = ConvGeometry.allocateAligned(weight.count)
        defer { packed.deallocate() }
        parts[0].withUnsafeBufferPointer { a in
            parts[1].withUnsafeBufferPointer { b in
                let pieces = [
                    ChannelPart(source: a.baseAddress!, channels: channels[0]),
                    ChannelPart(source: b.baseAddress!, channels: channels[1]),
                ]
                let sources =
                    joined
                    ? [
                        PaddedSource(
                            parts: pieces, batch: 1, inner: inner, before: before, after: after, kernelWidth: kernel[1])
                    ]
                    : pieces.map {
                        PaddedSource(
                            parts: [$0], batch: 1, inner: inner, before: before, after: after, kernelWidth: kernel[1])
                    }
                var g = dk_conv_geometry(
                    hp: sources[0].extents[1], wp: sources[0].extents[2], output: [1] + spatial, kernel: [1] + kernel,
                    cin: cin, cout: cout)
                (g.weight_block, g.per_position) = (weightBlock, perPosition ? 1 : 0)
                dk_conv_pack_weights(&g, weight, packed)
                let buffers = sources.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.sampleCount + $0.slack) }
                defer { for buffer in buffers { buffer.deallocate() } }
                for (source, buffer) in zip(sources, buffers) {
                    source.pad(sample: 0, into: buffer)
                    (buffer + source.sampleCount).initialize(repeating: 0, count: source.slack)
                }
                if !joined { (g.xb, g.cin_a) = (UInt(bitPattern: buffers[1]), Int32(channels[0])) }
                y.withUnsafeMutableBufferPointer { yp in
                    dk_conv_forward_f32(&g, buffers[0], packed, nil, yp.baseAddress!, 0, positions)
                }
            }
        }
        return y
    }

    func testTheKernelsReadTwoPartsAsTheJoinedCopy() throws {
        // Three-tap grid tiles (16, 32 outputs), plain grid tiles (5 wide), per-position tiles
        // (48, 80 outputs; 16 with per_position), unequal parts.
        let cases: [(channels: [Int], cout: Int, kernel: [Int], perPosition: Bool)] = [
            ([16, 16], 16, [3, 3], false), ([32, 16], 32, [3, 3], false), ([16, 16], 16, [5, 5], false),
            ([16, 16], 16, [3, 3], true), ([32, 16], 48, [3, 3], false), ([48, 32], 80, [3, 3], false),
        ]
        let spatial = [9, 13]
        for isa in levels {
            try KernelDispatch.force(isa)
            for (i, c) in cases.enumerated() {
                let seed = UInt64(40 + 10 * i)
                let parts = c.channels.enumerated().map { k, channels in
                    randomTensor([1] + spatial + [channels], seed: seed + UInt64(k)).converted(to: Float.self).scalars
                }
                let weight = randomTensor(c.kernel + [c.channels.reduce(0, +), c.cout], seed: seed + 5)
                    .converted(to: Float.self).scalars
                // Whole segments, and (80 outputs) blocks of 16 kernel rows that straddle the parts.
                for weightBlock in c.cout >= 48 ? [0, 16 * 64 * 4] : [0] {
                    let run = { (joined: Bool) in
                        self.kernelForward(
                            parts: parts, channels: c.channels, spatial: spatial, kernel: c.kernel, weight: weight,
                            cout: c.cout, weightBlock: weightBlock, perPosition: c.perPosition, joined: joined)
                    }
                    assertSameBits(run(false), run(true), "\(isa) \(c), weight block \(weightBlock)")
                }
            }
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa)
        }
    }

    func testAConcatenationIsReadInPlaceWithTheCopysBits() throws {
        let plane: [(kernel: [Int], channels: [Int], cout: Int, spatial: [Int])] = [
            ([3, 3], [16, 16], 16, [20, 26]), ([3, 3], [32, 32], 32, [19, 24]), ([3, 3], [64, 64], 64, [17, 18]),
        ]
        for isa in levels {
            try KernelDispatch.force(isa)
            for workers in [1, 2] {
                for batch in [1, 3] {
                    // The volume once per level (two workers sharing its one sample).
                    let volume = workers == 2 && batch == 1 ? [([3, 3, 3], [16, 16], 16, [24, 24, 25])] : []
                    for (i, c) in (plane + volume).enumerated() {
                        let seed = UInt64(70 + 10 * i)
                        let cin = c.channels.reduce(0, +)
                        let weight = randomTensor(c.kernel + [cin, c.cout], seed: seed).converted(to: Float.self)
                        let bias = randomTensor([c.cout], seed: seed + 1).converted(to: Float.self)
                        let copy = try Convolution(
                            weight: weight, bias: bias, padding: .same,
                            settings: ConvolutionSettings(workers: workers, readsInPlace: false))
                        var inPlace = copy
                        inPlace.settings = ConvolutionSettings(workers: workers, readsInPlace: true)
                        let parts = c.channels.enumerated().map { k, channels in
                            randomTensor([batch] + c.spatial + [channels], seed: seed + 2 + UInt64(k))
                                .converted(to: Float.self)
                        }
                        // The joined input has an in-place plan (else the copy would meet itself).
                        let g = try copy.geometry([batch] + c.spatial + [cin])
                        XCTAssertTrue(g.joinsConcatenatedInput(settings: copy.settings), "\(c)")
                        XCTAssertNotNil(InPlaceForward(plan(g), source: joinedSource(g, parts: c.channels)), "\(c)")
                        for rectified in [false, true] {
                            let expected = try copy.forward(concatenating: parts, rectified: rectified)
                            let actual = try inPlace.forward(concatenating: parts, rectified: rectified)
                            assertSameBits(
                                actual.scalars, expected.scalars,
                                "\(isa) \(c), batch \(batch), \(workers) workers, rectified \(rectified)")
                        }
                    }
                }
            }
        }
    }

    /// A padded source of two parts of `parts` channels for `g` (the plan never reads it).
    private func joinedSource(_ g: ConvGeometry, parts: [Int]) -> PaddedSource {
        let dummy = UnsafePointer(UnsafeMutablePointer<Float>.allocate(capacity: 1))
        return PaddedSource(
            parts: parts.map { ChannelPart(source: dummy, channels: $0) }, batch: g.batch, inner: g.input,
            before: g.padBefore, after: g.padAfter, kernelWidth: g.kernel[2])
    }

    /// The kernels' geometry of `g`'s forward pass over its padded input.
    private func plan(_ g: ConvGeometry) -> dk_conv_geometry {
        dk_conv_geometry(
            hp: g.input[1] + g.padBefore[1] + g.padAfter[1], wp: g.input[2] + g.padBefore[2] + g.padAfter[2],
            output: g.output, kernel: g.kernel, cin: g.inChannels, cout: g.outChannels)
    }
}
