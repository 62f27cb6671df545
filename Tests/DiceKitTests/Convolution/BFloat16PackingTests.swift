// The dot-product kernels' weight packings (dk_bf16_pack_weight_rows and
// dk_bf16_pack_weight_flipped_rows, split between workers by BFloat16WeightCache.Packing): every
// element lands where dk_bf16.h says, as the round-to-nearest-even bfloat16 of its weight, with
// the vector blocks (channels in multiples of 16), the scalar loops (other even counts) and the
// quad layout (16 channels), for any number of workers.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16PackingTests: XCTestCase {
    /// Weights with ties to even, subnormals, infinities and NaNs among random values.
    private func weights(_ count: Int, seed: UInt64) -> [Float] {
        var values = randomTensor([count], seed: seed).converted(to: Float.self).scalars
        let specials: [Float] = [
            Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x0000_0001),
            -.infinity, .nan, Float(bitPattern: 0x7F7F_FFFF), -0.0,
        ]
        for (i, v) in specials.enumerated() where 5 * i < count { values[5 * i] = v }
        return values
    }

    /// Index of element (k, c) of a [K × n] kernel in the row-pair packing, or the quad packing
    /// when `quads` (dk_bf16.h).
    private func index(_ k: Int, _ c: Int, columns n: Int, quads: Bool) -> Int {
        quads ? (((k / 4) * 2 + c / 8) * 16 + 2 * (c % 8) + (k % 4) / 2) * 2 + k % 2 : (k / 2) * n * 2 + 2 * c + k % 2
    }

    private func check(
        taps kernel: [Int], cin: Int, cout: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) {
        let taps = kernel.reduce(1, *)
        let w = weights(taps * cin * cout, seed: seed)
        let bits = BFloat16.bits(w) // the rounding, tested in BFloat16Tests; here, where each lands
        var g = dk_conv_geometry(
            hp: kernel[1] + 2, wp: kernel[2] + 2, output: [1, 3, 3], kernel: kernel, cin: cin, cout: cout)
        for workers in [1, 2, 3] {
            var forward = [UInt16](repeating: 0xDEAD, count: w.count)
            var flipped = forward
            w.withUnsafeBufferPointer { pw in
                BFloat16WeightCache.Packing.forward.pack(&g, pw.baseAddress!, into: &forward, workers: workers)
                BFloat16WeightCache.Packing.flipped.pack(&g, pw.baseAddress!, into: &flipped, workers: workers)
            }
            let forwardQuads = cout == 16 && kernel[2] * cin % 4 == 0
            var expected = [UInt16](repeating: 0, count: w.count)
            for k in 0..<(taps * cin) {
                for c in 0..<cout { expected[index(k, c, columns: cout, quads: forwardQuads)] = bits[k * cout + c] }
            }
            XCTAssertEqual(forward, expected, "forward, \(workers) workers", file: file, line: line)
            let flippedQuads = cin == 16 && kernel[2] * cout % 4 == 0
            for row in 0..<(taps * cout) {
                let (t, co) = row.quotientAndRemainder(dividingBy: cout)
                for ci in 0..<cin {
                    expected[index(row, ci, columns: cin, quads: flippedQuads)] =
                        bits[((taps - 1 - t) * cin + ci) * cout + co]
                }
            }
            XCTAssertEqual(flipped, expected, "flipped, \(workers) workers", file: file, line: line)
        }
    }

    /// Both channel counts multiples of 16 (the vector blocks), rows split unevenly.
    func testVectorBlocks() {
        check(taps: [1, 3, 3], cin: 32, cout: 48, seed: 9100)
        check(taps: [1, 1, 1], cin: 64, cout: 32, seed: 9101)
    }

    /// Output channels that are even but not a multiple of 16: the scalar loops.
    func testScalarLoops() {
        check(taps: [1, 3, 3], cin: 32, cout: 6, seed: 9110)
        check(taps: [1, 3, 3], cin: 18, cout: 34, seed: 9111)
    }

    /// 16 channels on either side: the quad packing of the 16-channel kernel.
    func testQuadLayouts() {
        check(taps: [1, 3, 3], cin: 32, cout: 16, seed: 9120)
        check(taps: [1, 3, 3], cin: 16, cout: 32, seed: 9121)
        check(taps: [3, 3, 3], cin: 16, cout: 16, seed: 9122)
    }
}
