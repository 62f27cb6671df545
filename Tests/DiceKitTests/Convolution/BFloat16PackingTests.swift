// The dot-product kernels' weight packings (dk_bf16_pack_weight_channels and
// dk_bf16_pack_weight_flipped_channels, split between workers by BFloat16WeightCache.Packing):
// every element lands where dk_bf16.h says, as the round-to-nearest-even bfloat16 of its weight,
// with the vector blocks (channels in multiples of 16), the scalar loops (other even counts) and
// the quad layout (16 channels), for any number of workers, from the kernel in DiceKit's layout
// and in PyTorch's; the tile kernels' packings are the same from either layout too.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16PackingTests: XCTestCase {
    /// Weights with ties to even, subnormals, infinities and NaNs among random values (also the
    /// gradients of BFloat16GradientPackingTests).
    static func weights(_ count: Int, seed: UInt64) -> [Float] {
        var values = randomTensor([count], seed: seed).converted(to: Float.self).scalars
        let specials: [Float] = [
            Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x0000_0001),
            -.infinity, .nan, Float(bitPattern: 0x7F7F_FFFF), -0.0,
        ]
        for (i, v) in specials.enumerated() where 5 * i < count { values[5 * i] = v }
        return values
    }

    /// Index of element (k, c) of a [K × n] kernel in the row-pair packing (blocks of 64 columns,
    /// the last one n mod 64 wide, each [K/2][width][2]), or the quad packing when `quads` (dk_bf16.h).
    private func index(_ k: Int, _ c: Int, rows: Int, columns n: Int, quads: Bool) -> Int {
        if quads { return (((k / 4) * 2 + c / 8) * 16 + 2 * (c % 8) + (k % 4) / 2) * 2 + k % 2 }
        let block = c / 64 * 64
        return block * rows + ((k / 2) * Swift.min(64, n - block) + c - block) * 2 + k % 2
    }

    /// Fails with the number of elements that differ and the first of them.
    private func assertSame(
        _ actual: [UInt16], _ expected: [UInt16], _ what: String, file: StaticString, line: UInt
    ) {
        let wrong = actual.indices.filter { actual[$0] != expected[$0] }
        XCTAssertTrue(
            wrong.isEmpty,
            "\(what): \(wrong.count) of \(actual.count) elements differ, the first at \(wrong.first ?? 0)",
            file: file, line: line)
    }

    private func check(
        taps kernel: [Int], cin: Int, cout: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) {
        let taps = kernel.reduce(1, *)
        let w = Self.weights(taps * cin * cout, seed: seed)
        let bits = BFloat16.bits(w) // the rounding, tested in BFloat16Tests; here, where each lands
        var g = dk_conv_geometry(
            hp: kernel[1] + 2, wp: kernel[2] + 2, output: [1, 3, 3], kernel: kernel, cin: cin, cout: cout)
        // The same kernel in PyTorch's layout [cout, cin, taps].
        var pyTorch = [Float](repeating: 0, count: w.count)
        for t in 0..<taps {
            for ci in 0..<cin {
                for co in 0..<cout { pyTorch[(co * cin + ci) * taps + t] = w[(t * cin + ci) * cout + co] }
            }
        }
        if cin % 16 == 0, cout % 16 == 0 {
            for flipped: Int32 in [0, 1] {
                var fromDiceKit = [UInt16](repeating: 0, count: w.count)
                var fromPyTorch = [UInt16](repeating: 1, count: w.count)
                dk_bf16_pack_weight_tiles(&g, w, &fromDiceKit, flipped)
                dk_bf16_pack_weight_tiles_from(&g, pyTorch, 1, &fromPyTorch, flipped)
                assertSame(fromPyTorch, fromDiceKit, "tiles, flipped \(flipped)", file: file, line: line)
                // The vector form from PyTorch's layout, in two ranges of output channels.
                var vector = [UInt16](repeating: 2, count: w.count)
                dk_bf16_pack_weight_tiles_channels(&g, pyTorch, 1, &vector, flipped, 0, 16)
                dk_bf16_pack_weight_tiles_channels(&g, pyTorch, 1, &vector, flipped, 16, cout)
                assertSame(vector, fromDiceKit, "tiles, vector form, flipped \(flipped)", file: file, line: line)
            }
        }
        for (workers, layout) in [(1, false), (2, false), (3, false), (1, true), (2, true), (3, true)] {
            var forward = [UInt16](repeating: 0xDEAD, count: w.count)
            var flipped = forward
            (layout ? pyTorch : w).withUnsafeBufferPointer { pw in
                BFloat16WeightCache.Packing.forward.pack(
                    &g, pw.baseAddress!, pyTorchLayout: layout, into: &forward, workers: workers)
                BFloat16WeightCache.Packing.flipped.pack(
                    &g, pw.baseAddress!, pyTorchLayout: layout, into: &flipped, workers: workers)
            }
            let forwardQuads = cout == 16 && kernel[2] * cin % 4 == 0
            var expected = [UInt16](repeating: 0, count: w.count)
            for k in 0..<(taps * cin) {
                for c in 0..<cout {
                    expected[index(k, c, rows: taps * cin, columns: cout, quads: forwardQuads)] = bits[k * cout + c]
                }
            }
            assertSame(
                forward, expected, "forward, \(workers) workers, PyTorch's layout: \(layout)", file: file, line: line)
            let flippedQuads = cin == 16 && kernel[2] * cout % 4 == 0
            for row in 0..<(taps * cout) {
                let (t, co) = row.quotientAndRemainder(dividingBy: cout)
                for ci in 0..<cin {
                    expected[index(row, ci, rows: taps * cout, columns: cin, quads: flippedQuads)] =
                        bits[((taps - 1 - t) * cin + ci) * cout + co]
                }
            }
            assertSame(
                flipped, expected, "flipped, \(workers) workers, PyTorch's layout: \(layout)", file: file, line: line)
        }
    }

    /// Both channel counts multiples of 16 (the vector blocks), rows split unevenly; more than 64
    /// columns on either side: full 64-column blocks and a narrower last one. From PyTorch's
    /// layout, up to 27 taps in 16 × 16 blocks transposed in registers (a 3 × 3 × 3 kernel among
    /// them), more by gathers (5 × 7).
    func testVectorBlocks() {
        check(taps: [1, 3, 3], cin: 32, cout: 48, seed: 9100)
        check(taps: [1, 1, 1], cin: 64, cout: 32, seed: 9101)
        check(taps: [1, 3, 3], cin: 96, cout: 144, seed: 9102)
        check(taps: [3, 3, 3], cin: 32, cout: 48, seed: 9103)
        check(taps: [1, 5, 7], cin: 32, cout: 32, seed: 9104)
    }

    /// Output channels that are even but not a multiple of 16: the scalar loops, with more than 64
    /// columns too (a 2- and a 6-column last block).
    func testScalarLoops() {
        check(taps: [1, 3, 3], cin: 32, cout: 6, seed: 9110)
        check(taps: [1, 3, 3], cin: 18, cout: 34, seed: 9111)
        check(taps: [1, 3, 3], cin: 66, cout: 70, seed: 9112)
    }

    /// 16 channels on either side: the quad packing of the 16-channel kernel.
    func testQuadLayouts() {
        check(taps: [1, 3, 3], cin: 32, cout: 16, seed: 9120)
        check(taps: [1, 3, 3], cin: 16, cout: 32, seed: 9121)
        check(taps: [3, 3, 3], cin: 16, cout: 16, seed: 9122)
    }
}
