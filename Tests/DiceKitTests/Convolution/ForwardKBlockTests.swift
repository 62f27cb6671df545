// The forward pass of ≥ 48 output channels takes the packed kernel in K blocks of at most
// dk_conv_geometry.weight_block bytes per 64 output channels (ConvBlocking.weightBlock, a quarter
// of L2): whole segments when one fits, else rows of one segment. The accumulators go through the
// output between blocks in the same order, so every block size gives the bits of one block:
// checked on every direct level for one block, one and two segments per block, and row blocks
// (ragged at the end of a segment), with and without the bias and the ReLU of the output pass,
// and one block against the lowered path in Double.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class ForwardKBlockTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2: the direct kernels never run here")
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    /// y of a 3×3, padding-1 convolution of `x` [N, H, W, Cin] by `w` [3, 3, Cin, Cout] from the
    /// direct forward kernel with K blocks of `weightBlock` bytes.
    private func forward(
        _ x: [Float], _ w: [Float], bias: [Float]?, shape: [Int], cout: Int, weightBlock: Int, relu: Bool
    ) -> [Float] {
        let (n, h, width, cin) = (shape[0], shape[1], shape[2], shape[3])
        var g = dk_conv_geometry(
            hp: h + 2, wp: width + 2, output: [1, h, width], kernel: [1, 3, 3], cin: cin, cout: cout)
        (g.weight_block, g.relu) = (weightBlock, relu ? 1 : 0)
        let positions = h * width
        var y = [Float](repeating: .nan, count: n * positions * cout)
        let packed = ConvGeometry.allocateAligned(w.count)
        defer { packed.deallocate() }
        dk_conv_pack_weights(&g, w, packed)
        x.withUnsafeBufferPointer { xs in
            let padded = PaddedSource(
                source: xs.baseAddress!, batch: n, inner: [1, h, width], channels: cin,
                before: [0, 1, 1], after: [0, 1, 1], kernelWidth: 3)
            padded.withPaddedBatch(workers: 1) { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    for sample in 0..<n {
                        dk_conv_forward_f32(
                            &g, xp + sample * padded.sampleCount, packed, bias,
                            yp.baseAddress! + sample * positions * cout, 0, positions)
                    }
                }
            }
        }
        return y
    }

    func testEveryBlockSizeGivesTheBitsOfOneBlock() throws {
        // 80 output channels: a 64-channel block and a 16-channel one; 80 input channels: a
        // segment of 240 rows, 61 440 bytes per 64 channels.
        let shape = [2, 5, 7, 80]
        let cout = 80
        let x = randomTensor(shape, seed: 910)
        let w = randomTensor([3, 3, 80, cout], seed: 911)
        let b = randomTensor([cout], seed: 912)
        let (xf, wf, bf) = (
            x.converted(to: Float.self).scalars, w.converted(to: Float.self).scalars,
            b.converted(to: Float.self).scalars
        )
        let reference = try Convolution(
            weight: w, bias: b, padding: .same, settings: ConvolutionSettings(allowsDirect: false))
        let expected = try reference.forward(x).scalars
        let scale = expected.map(abs).max() ?? 1
        let segment = 240 * 64 * 4
        // One block; one segment; two segments (then one); rows of 16 (15 per segment); rows of 64
        // (64, 64, 64, 48 per segment).
        let blocks = [1 << 30, segment, 2 * segment, 16 * 64 * 4, 64 * 64 * 4]
        for isa in InstructionSet.available.filter({ $0 >= .avx2 }) {
            try KernelDispatch.force(isa)
            for relu in [false, true] {
                for bias in [nil, bf] {
                    let one = forward(xf, wf, bias: bias, shape: shape, cout: cout, weightBlock: blocks[0], relu: relu)
                    XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa)
                    var worst = 0.0
                    for i in 0..<one.count {
                        let value = (bias == nil ? expected[i] - b.scalars[i % cout] : expected[i])
                        worst = max(worst, abs(Double(one[i]) - (relu ? max(0, value) : value)))
                    }
                    XCTAssertLessThanOrEqual(worst, 2e-6 * scale, "\(isa), relu \(relu): max error \(worst)")
                    for block in blocks.dropFirst() {
                        let blocked = forward(
                            xf, wf, bias: bias, shape: shape, cout: cout, weightBlock: block, relu: relu)
                        let differing = zip(blocked, one).filter { $0.bitPattern != $1.bitPattern }.count
                        XCTAssertEqual(
                            differing, 0,
                            "\(isa), \(block)-byte blocks, relu \(relu), bias \(bias != nil): outputs differ")
                    }
                }
            }
        }
    }
}
