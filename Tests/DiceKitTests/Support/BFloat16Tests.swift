// Float → bfloat16 rounding: ties to even, subnormals, infinities, NaN and the largest values,
// and the vector loop (AVX-512) against a scalar reference over random bit patterns.

import XCTest

@testable import DiceKit

final class BFloat16Tests: XCTestCase {
    /// The reference rounding, written independently of the C code: nearest, ties to even on the
    /// 16 discarded bits; NaN made quiet.
    private func reference(_ bits: UInt32) -> UInt16 {
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(bits >> 16) | 0x0040 }
        let upper = bits >> 16
        let lower = bits & 0xFFFF
        if lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) { return UInt16(truncatingIfNeeded: upper + 1) }
        return UInt16(upper)
    }

    private func convert(_ bits: [UInt32]) -> [UInt16] { BFloat16.bits(bits.map { Float(bitPattern: $0) }) }

    func testEdgeValues() {
        let cases: [(UInt32, UInt16, String)] = [
            (0x3F80_0000, 0x3F80, "1"),
            (0x3F80_8000, 0x3F80, "tie 1 + 2⁻⁸ → even (down)"),
            (0x3F81_8000, 0x3F82, "tie → even (up)"),
            (0x3F80_8001, 0x3F81, "just above a tie"),
            (0x3F80_7FFF, 0x3F80, "just below a tie"),
            (0xBF81_8000, 0xBF82, "negative tie → even"),
            (0x0000_0001, 0x0000, "smallest subnormal → +0"),
            (0x0000_8000, 0x0000, "subnormal tie → even 0"),
            (0x0001_8000, 0x0002, "subnormal tie → even 2"),
            (0x0000_C000, 0x0001, "subnormal rounds up to the smallest bf16 subnormal"),
            (0x8000_C000, 0x8001, "negative subnormal"),
            (0x007F_FFFF, 0x0080, "largest subnormal → smallest normal"),
            (0x8000_0000, 0x8000, "−0"),
            (0x7F80_0000, 0x7F80, "+∞"),
            (0xFF80_0000, 0xFF80, "−∞"),
            (0x7F7F_0000, 0x7F7F, "largest bf16"),
            (0x7F7F_7FFF, 0x7F7F, "below the overflow tie"),
            (0x7F7F_8000, 0x7F80, "overflow tie → ∞ (even)"),
            (0x7F7F_FFFF, 0x7F80, "Float.greatestFiniteMagnitude → ∞"),
            (0xFF7F_FFFF, 0xFF80, "−Float.greatestFiniteMagnitude → −∞"),
            (0x7FC0_0000, 0x7FC0, "quiet NaN"),
            (0x7F80_0001, 0x7FC0, "signalling NaN, low payload → quiet, not ∞"),
            (0xFF80_0001, 0xFFC0, "negative signalling NaN"),
            (0x7FA0_0000, 0x7FE0, "NaN payload kept"),
            (0x7FFF_FFFF, 0x7FFF, "NaN with all payload bits: no carry into the sign"),
        ]
        // 16 copies each, so the vector loop sees every case too (and 3 more: the scalar tail).
        let input = cases.flatMap { Array(repeating: $0.0, count: 16) } + cases.prefix(3).map(\.0)
        let output = convert(input)
        for (i, value) in input.enumerated() {
            let expected = cases.first { $0.0 == value }!
            XCTAssertEqual(output[i], expected.1, "\(expected.2): 0x\(String(value, radix: 16)) at \(i)")
        }
        XCTAssertTrue(BFloat16.floats([0x7FC0])[0].isNaN)
        XCTAssertEqual(BFloat16.rounded(1 + 1.0 / 256), 1)
        XCTAssertEqual(BFloat16.floats([0x3F82]), [1 + 2.0 / 128])
    }

    func testVectorAgreesWithReference() {
        var generator = SeededGenerator(seed: 12)
        let count = 16 * 257 + 11
        let bits = (0..<count).map { _ in UInt32(truncatingIfNeeded: generator.next()) }
        let output = convert(bits)
        for i in 0..<count where output[i] != reference(bits[i]) {
            XCTFail(
                "0x\(String(bits[i], radix: 16)): 0x\(String(output[i], radix: 16)), expected 0x\(String(reference(bits[i]), radix: 16))"
            )
            return
        }
    }

    func testPrecisionParsing() throws {
        XCTAssertEqual(try ComputePrecision(parsing: "bf16"), .bfloat16)
        XCTAssertEqual(try ComputePrecision(parsing: "float32"), .float)
        XCTAssertThrowsError(try ComputePrecision(parsing: "fp8")) { error in
            XCTAssertTrue("\(error)".contains("fp8"), "\(error)")
        }
    }

    func testLevelDetection() throws {
        let sets = CPUInfo.current.instructionSets
        // The dispatch agrees with CPUInfo: AVX512-BF16 ⇔ at least the AVX512-BF16 level.
        XCTAssertEqual(BFloat16KernelLevel.detected >= .avx512bf16, sets.contains(.avx512bf16))
        if BFloat16KernelLevel.detected == .amx {
            // An AMX CPU: AVX512-BF16 can be forced (and is what runs until a tile kernel exists).
            try BFloat16KernelLevel.force(.avx512bf16)
            XCTAssertEqual(BFloat16KernelLevel.current, .avx512bf16)
            try BFloat16KernelLevel.force(nil)
        } else {
            XCTAssertThrowsError(try BFloat16KernelLevel.force(.amx), "AMX forced on a CPU without it")
        }
        // Forcing none turns bfloat16 requests into Float, with a one-line notice.
        try BFloat16KernelLevel.force(BFloat16KernelLevel.none)
        defer { try? BFloat16KernelLevel.force(nil) }
        XCTAssertFalse(ComputePrecision.bfloat16Available)
        XCTAssertEqual(ComputePrecision.bfloat16.effective, .float)
        let notice = try XCTUnwrap(ComputePrecision.bfloat16.fallbackNotice)
        XCTAssertFalse(notice.contains("\n"))
        XCTAssertNil(ComputePrecision.float.fallbackNotice)
    }
}
