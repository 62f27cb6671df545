// The dot-product weight-gradient kernel (dk_conv_weight_grad_bf16, conv_bf16.c) takes one of
// two orders of work from the geometry's weight block (a quarter of L2): each sample in turn in
// chunks of lines, the sums reloaded from dW at each chunk, or, where a sample is one chunk,
// register passes that keep a tile's sums across a group of samples. Both add every product
// into each dW element in the same order (samples, lines, pairs of positions), so they must
// give the same bits, whatever the chunk or the group and with dW zeroed or accumulated into.
// The weight blocks below pick each order on any CPU.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16WeightGradientPassesTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the bfloat16 kernels never run here")
    }

    /// 5 samples of 8 × 8 positions, 3 × 3 × 128 kernel rows and 96 output channels (a 64-channel
    /// block and a 32-channel one): 704 bytes of a chunk per position, 8 KiB of a sample's
    /// 64-channel gradient block.
    func testRegisterPassesInGroupsGiveTheChunkedBits() {
        let (samples, side, cin, cout) = (5, 8, 128, 96)
        var g = dk_conv_geometry(
            hp: side + 2, wp: side + 2, output: [1, side, side], kernel: [1, 3, 3], cin: cin, cout: cout)
        let xqStride = 2 * (side + 2) * (side + 2) * cin
        let dyStride = side * (side / 2) * cout * 2
        var generator = SeededGenerator(seed: 1400)
        let xq = randomBits(samples * xqStride, &generator)
        let dyp = randomBits(samples * dyStride, &generator)
        let start = (0..<(9 * cin * cout)).map { _ in Float.random(in: -1...1, using: &generator) }
        let rows = 9 * cin
        for accumulate in [false, true] {
            // Chunks of 2 lines (a weight block of 4 KiB: 17 positions in three quarters of it),
            // then whole samples in register passes over groups of 1, 2 (2 + 2 + 1) and all 5
            // samples (half a weight block holding 1, 2 and 5 samples' gradient blocks).
            var results: [[Float]] = []
            for weightBlock in [4 << 10, 16 << 10, 32 << 10, 95 << 10] {
                g.weight_block = weightBlock
                var dW = accumulate ? start : [Float](repeating: .nan, count: start.count)
                dk_conv_weight_grad_bf16(
                    &g, xq, xqStride, dyp, dyStride, samples, &dW, 0, rows, 0, Int32(cout), accumulate ? 1 : 0)
                results.append(dW)
            }
            XCTAssertFalse(results.contains { $0.contains { $0.isNaN } }, "dW not written")
            for (i, weightBlock) in ["16 KiB", "32 KiB", "95 KiB"].enumerated() {
                XCTAssertEqual(
                    results[i + 1].map(\.bitPattern), results[0].map(\.bitPattern),
                    "weight block \(weightBlock), accumulate \(accumulate)")
            }
        }
    }

    /// `count` bfloat16 bit patterns of values in [−1, 1].
    private func randomBits(_ count: Int, _ generator: inout SeededGenerator) -> [UInt16] {
        (0..<count).map { _ in
            UInt16(truncatingIfNeeded: Float.random(in: -1...1, using: &generator).bitPattern >> 16)
        }
    }
}
