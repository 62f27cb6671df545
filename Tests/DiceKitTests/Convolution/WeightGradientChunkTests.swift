// The weight gradient of small images, split by (segment, 64-channel) blocks, runs each block's
// tiles over a few output lines of one sample at a time (dk_conv_weight_grad_block_f32's
// `lines`, sized from L2 by ConvBlocking.weightGradientBlockLines). Every dw element still sums its
// terms in (sample, line, position) order, so any chunk gives the bits of one pass over the
// batch: checked on every direct level, for chunks of 1, 2 and 3 lines (ragged last chunks),
// against the whole batch in one pass (lines ≤ 0) and against the lowered path in Double. The
// input read spread (positions cin + 16 floats apart, as DirectConvolution pads it at the AVX2
// level: dk_conv_spread_position_floats) gives the same bits as read unspread on every level,
// tiles across kernel columns included.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class WeightGradientChunkTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2: the direct kernels never run here")
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    /// dW of a 3×3, padding-1 convolution of `x` [N, H, W, Cin] with output gradient `dy`
    /// [N, H, W, Cout] from the block kernel, `lines` lines per chunk: every block at once, or
    /// with `byChannelBlock` one call per 64 output channels (each then reading a contiguous
    /// copy of its channels of dy). With `spread`, the input is padded with its positions
    /// cin + 16 floats apart.
    private func blockGradient(
        _ x: [Float], _ dy: [Float], shape: [Int], cout: Int, lines: Int, byChannelBlock: Bool = false,
        spread: Bool = false
    ) -> [Float] {
        let (n, h, w, cin) = (shape[0], shape[1], shape[2], shape[3])
        var g = dk_conv_geometry(hp: h + 2, wp: w + 2, output: [1, h, w], kernel: [1, 3, 3], cin: cin, cout: cout)
        var dW = [Float](repeating: 0, count: 9 * cin * cout)
        x.withUnsafeBufferPointer { xs in
            let padded = PaddedSource(
                source: xs.baseAddress!, batch: n, inner: [1, h, w], channels: cin,
                before: [0, 1, 1], after: [0, 1, 1], kernelWidth: 3)
            let positionFloats = spread ? cin + 16 : cin
            padded.withSpreadBatch(workers: 2, positionFloats: positionFloats) { xp, sampleFloats in
                dy.withUnsafeBufferPointer { dyp in
                    dW.withUnsafeMutableBufferPointer { dwp in
                        let blocks = byChannelBlock ? Array(stride(from: 0, to: cout, by: 64)) : [0]
                        for c0 in blocks {
                            let c1 = byChannelBlock ? min(cout, c0 + 64) : cout
                            dk_conv_weight_grad_block_f32(
                                &g, xp, sampleFloats, positionFloats, dyp.baseAddress!, n, dwp.baseAddress!, 0, 3,
                                Int32(c0), Int32(c1), lines)
                        }
                    }
                }
            }
        }
        return dW
    }

    func testLineChunksGiveTheBitsOfOnePass() throws {
        let shape = [3, 5, 7, 32]
        let cout = 80
        let x = randomTensor(shape, seed: 900)
        let dy = randomTensor([3, 5, 7, cout], seed: 901)
        let w = randomTensor([3, 3, 32, cout], seed: 902)
        // Segments 0..<3 of the kernel (ky = 0, 1, 2 for a 2-D 3×3 kernel): the whole dW.
        let reference = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(allowsDirect: false))
        let expected = try reference.backward(input: x, outputGradient: dy, computeInputGradient: false).weight
        let scale = expected.scalars.map(abs).max() ?? 1
        let (xf, dyf) = (x.converted(to: Float.self).scalars, dy.converted(to: Float.self).scalars)
        for isa in InstructionSet.available.filter({ $0 >= .avx2 }) {
            try KernelDispatch.force(isa)
            let whole = blockGradient(xf, dyf, shape: shape, cout: cout, lines: 0)
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa)
            var worst = 0.0
            for i in 0..<whole.count { worst = max(worst, abs(Double(whole[i]) - expected.scalars[i])) }
            XCTAssertLessThanOrEqual(worst, 2e-6 * scale, "\(isa): max error \(worst) of scale \(scale)")
            for lines in [1, 2, 3, 5, 9] {
                XCTAssertEqual(
                    blockGradient(xf, dyf, shape: shape, cout: cout, lines: lines), whole, "\(isa), \(lines) lines")
                // Blocks of 64 and 16 channels, narrower than dy's 80: read from contiguous copies.
                XCTAssertEqual(
                    blockGradient(xf, dyf, shape: shape, cout: cout, lines: lines, byChannelBlock: true), whole,
                    "\(isa), \(lines) lines, by channel block")
            }
        }
    }

    func testSpreadInputGivesTheBitsOfThePaddedOne() throws {
        // 32 and 64 channels: positions spread to 48 and 80 floats; tiles of 6 rows (AVX2, and
        // AVX-512's 64-channel blocks) and of 24 (AVX-512's 16-channel rest) cross kernel columns.
        for (cin, seed) in [(32, 910), (64, 920)] {
            let shape = [2, 4, 6, cin]
            let cout = 80
            let (x, dy) = (
                randomTensor(shape, seed: UInt64(seed)), randomTensor([2, 4, 6, cout], seed: UInt64(seed + 1))
            )
            let (xf, dyf) = (x.converted(to: Float.self).scalars, dy.converted(to: Float.self).scalars)
            for isa in InstructionSet.available.filter({ $0 >= .avx2 }) {
                try KernelDispatch.force(isa)
                // What DirectConvolution pads: spread at AVX2 only (dk_convolution.h).
                XCTAssertEqual(dk_conv_spread_position_floats(Int32(cin)), isa == .avx2 ? cin + 16 : cin, "\(isa)")
                let padded = blockGradient(xf, dyf, shape: shape, cout: cout, lines: 0)
                for lines in [0, 3] {
                    for byChannelBlock in [false, true] {
                        XCTAssertEqual(
                            blockGradient(
                                xf, dyf, shape: shape, cout: cout, lines: lines, byChannelBlock: byChannelBlock,
                                spread: true), padded, "\(isa), \(cin) channels, \(lines) lines")
                    }
                }
            }
        }
    }
}
