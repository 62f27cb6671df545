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
    /// 64-channel gradient block, 288 KiB in a 64-channel block of dW. Chunks of 2 lines (a
    /// weight block of 4 KiB: 17 positions in three quarters of it); then, dW's block past three
    /// weight blocks, register passes over groups of 1, 2 (2 + 2 + 1) and all 5 samples (half a
    /// weight block holding 1, 2 and 5 samples' gradient blocks).
    func testRegisterPassesOverGradientBoundGroupsGiveTheChunkedBits() {
        checkSameBits(side: 8, cin: 128, cout: 96, weightBlocks: [4 << 10, 16 << 10, 32 << 10, 95 << 10])
    }

    /// 5 samples of 16 × 16 positions, 3 × 3 × 64 kernel rows and 64 output channels: 384 bytes of
    /// a chunk per position, 96 KiB a sample. Chunks of one line (a weight block of 1 KiB); then,
    /// dW's block (144 KiB) within three weight blocks, register passes over as many whole
    /// samples as a chunk holds: 2 (2 + 2 + 1) with 83 KiB, all 5 with 1 GiB.
    func testRegisterPassesOverChunkSizedGroupsGiveTheChunkedBits() {
        checkSameBits(side: 16, cin: 64, cout: 64, weightBlocks: [1 << 10, 83 << 10, 1 << 30])
    }

    /// The weight gradient of 5 random samples with each of `weightBlocks` (the first taking the
    /// chunks), dW zeroed and accumulated into: the same bits for every weight block.
    private func checkSameBits(
        side: Int, cin: Int, cout: Int, weightBlocks: [Int], file: StaticString = #filePath, line: UInt = #line
    ) {
        let samples = 5
        var g = dk_conv_geometry(
            hp: side + 2, wp: side + 2, output: [1, side, side], kernel: [1, 3, 3], cin: cin, cout: cout)
        let xqStride = 2 * (side + 2) * (side + 2) * cin
        let dyStride = side * (side / 2) * cout * 2
        var generator = SeededGenerator(seed: 1400)
        let xq = randomBits(samples * xqStride, &generator)
        let dyp = randomBits(samples * dyStride, &generator)
        let start = (0..<(9 * cin * cout)).map { _ in Float.random(in: -1...1, using: &generator) }
        for accumulate in [false, true] {
            let results = weightBlocks.map { weightBlock in
                g.weight_block = weightBlock
                var dW = accumulate ? start : [Float](repeating: .nan, count: start.count)
                dk_conv_weight_grad_bf16(
                    &g, xq, xqStride, dyp, dyStride, samples, &dW, 0, 9 * cin, 0, Int32(cout), accumulate ? 1 : 0)
                return dW.map(\.bitPattern)
            }
            XCTAssertFalse(
                results[0].contains { Float(bitPattern: $0).isNaN }, "dW not written", file: file, line: line)
            for (weightBlock, bits) in zip(weightBlocks, results).dropFirst() {
                XCTAssertEqual(
                    bits, results[0], "weight block \(weightBlock) bytes, accumulate \(accumulate)", file: file,
                    line: line)
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
