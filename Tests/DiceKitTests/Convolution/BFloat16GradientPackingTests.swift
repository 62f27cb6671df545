// The weight gradients' packings of the output gradient (dk_bf16.h): in pairs of rows for the
// dot products (dk_bf16_pack_gradient) and on the padded grid for the tiles
// (dk_bf16_pack_gradient_grid), from Floats, and from their bfloat16 bits as they are (the
// `_bits` forms, which read a kept activation): every element lands where dk_bf16.h says, and
// both forms give the same bits, with the vector loops (channels in multiples of 16) and the
// scalar ones.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16GradientPackingTests: XCTestCase {
    /// A sample of `output` (D, H, W) positions on a padded grid of hp × wp per plane, 3 × 3 × 3
    /// kernel, `cout` channels.
    private func geometry(output: [Int], hp: Int, wp: Int, cout: Int) -> dk_conv_geometry {
        dk_conv_geometry(hp: hp, wp: wp, output: output, kernel: [3, 3, 3], cin: 16, cout: cout)
    }

    /// dy with ties to even, subnormals, infinities and NaNs, and its bfloat16 bits.
    private func gradient(_ g: dk_conv_geometry, seed: UInt64) -> (values: [Float], bits: [UInt16]) {
        let values = BFloat16PackingTests.weights(Int(g.od * g.oh * g.ow) * Int(g.cout), seed: seed)
        return (values, BFloat16.bits(values))
    }

    /// Asserts that the packing from Floats (`fromValues`) and the one from bits (`fromBits`), each
    /// into a buffer of `expected`'s size filled with other values first, both give `expected`.
    private func assertBothForms(
        _ expected: [UInt16], _ label: String, line: UInt = #line,
        fromValues: (UnsafeMutablePointer<UInt16>) -> Void, fromBits: (UnsafeMutablePointer<UInt16>) -> Void
    ) {
        for (form, fill) in [("from Floats", UInt16(0xDEAD)), ("from bits", 0xBEEF)] {
            var actual = [UInt16](repeating: fill, count: expected.count)
            actual.withUnsafeMutableBufferPointer {
                form == "from bits" ? fromBits($0.baseAddress!) : fromValues($0.baseAddress!)
            }
            let wrong = actual.indices.filter { actual[$0] != expected[$0] }
            XCTAssertTrue(
                wrong.isEmpty,
                "\(form), \(label): \(wrong.count) of \(actual.count) elements differ, the first at \(wrong.first ?? 0)",
                line: line)
        }
    }

    /// Rows x and x + 1 of each output line in pairs: element ((l·⌈ow/2⌉ + x/2)·cout + co)·2 + x mod 2
    /// holds dy[l][x][co], zero past an odd width.
    func testRowPairs() {
        for (output, cout) in [([2, 3, 5], 32), ([1, 4, 6], 48), ([2, 3, 5], 6)] {
            var g = geometry(output: output, hp: output[1] + 2, wp: output[2] + 2, cout: cout)
            let (values, bits) = gradient(g, seed: 9200 + UInt64(cout))
            let (lines, ow, half) = (output[0] * output[1], output[2], (output[2] + 1) / 2)
            var expected = [UInt16](repeating: 0, count: lines * half * cout * 2)
            for l in 0..<lines {
                for x in 0..<ow {
                    for co in 0..<cout {
                        expected[((l * half + x / 2) * cout + co) * 2 + x % 2] = bits[(l * ow + x) * cout + co]
                    }
                }
            }
            assertBothForms(expected, "\(output) × \(cout)") {
                dk_bf16_pack_gradient(&g, values, $0)
            } fromBits: {
                dk_bf16_pack_gradient_bits(&g, bits, $0)
            }
        }
    }

    /// The padded grid (x < wp, line < hp, plane < od) in pairs of positions, up to
    /// dk_conv_tile_grid_length: element (p/2)·cout·2 + 2·co + p mod 2 holds dy[q][co] for grid
    /// position p on output position q, zero off the output grid.
    func testGrid() {
        for (output, hp, wp, cout) in [([2, 3, 5], 5, 7, 32), ([1, 4, 6], 6, 8, 16), ([2, 3, 5], 5, 7, 6)] {
            var g = geometry(output: output, hp: hp, wp: wp, cout: cout)
            let (values, bits) = gradient(g, seed: 9210 + UInt64(cout))
            let length = dk_conv_tile_grid_length(&g)
            XCTAssertGreaterThanOrEqual(length, (output[0] - 1) * hp * wp + (output[1] - 1) * wp + output[2])
            var expected = [UInt16](repeating: 0, count: length * cout)
            for p in 0..<length {
                let (x, line, plane) = (p % wp, p / wp % hp, p / (wp * hp))
                guard x < output[2], line < output[1], plane < output[0] else { continue }
                let q = (plane * output[1] + line) * output[2] + x
                for co in 0..<cout { expected[p / 2 * cout * 2 + 2 * co + p % 2] = bits[q * cout + co] }
            }
            assertBothForms(expected, "\(output) × \(cout) on \(hp) × \(wp)") {
                dk_bf16_pack_gradient_grid(&g, values, $0)
            } fromBits: {
                dk_bf16_pack_gradient_grid_bits(&g, bits, $0)
            }
        }
    }
}
