// BFloat16MultiplyAddRates: the probe measures on a CPU with AVX512-BF16 and only there, its rates
// are those of a real core, and the verdict names the arithmetic the rates favour and what to set
// when it is not the one in use.

import XCTest

@testable import DiceKit

final class BFloat16MultiplyAddRatesTests: XCTestCase {
    func testMeasuredOnlyWithAVX512BF16() throws {
        let rates = BFloat16MultiplyAddRates.measure(iterations: 1 << 12)
        guard BFloat16KernelLevel.detected >= .avx512bf16 else {
            XCTAssertNil(rates, "a CPU without AVX512-BF16 has no dot-product rate")
            return
        }
        let measured = try XCTUnwrap(rates)
        // At most 128 multiply-adds per cycle at 6 GHz; the lower bound allows a debug build,
        // whose unoptimised loops keep the accumulators in memory.
        for rate in [measured.floatFMAs, measured.dotProducts] {
            XCTAssertGreaterThan(rate, 0.01)
            XCTAssertLessThan(rate, 800)
        }
        // The tile unit's rate exactly where its level is detected (granted, self-check passed):
        // at most 1024 multiply-adds per cycle at 6 GHz.
        XCTAssertEqual(measured.tileProducts != nil, BFloat16KernelLevel.detected == .amx)
        if let tiles = measured.tileProducts {
            XCTAssertGreaterThan(tiles, 0.01)
            XCTAssertLessThan(tiles, 6200)
        }
    }

    func testFavouredArithmeticAndVerdict() {
        let zen4Like = BFloat16MultiplyAddRates(dotProducts: 80, floatFMAs: 40)
        let intelLike = BFloat16MultiplyAddRates(dotProducts: 18, floatFMAs: 37)
        XCTAssertEqual(zen4Like.favoured, .dotProducts)
        XCTAssertEqual(intelLike.favoured, .roundedOperands)
        XCTAssertEqual(BFloat16MultiplyAddRates(dotProducts: 40, floatFMAs: 40).favoured, .roundedOperands)

        XCTAssertEqual(
            intelLike.verdict(for: .roundedOperands),
            "vdpbf16ps 18.0 multiply-adds/ns, Float FMAs 37.0 (ratio 0.49): favours rounded operands, the arithmetic in use"
        )
        XCTAssertEqual(
            zen4Like.verdict(for: .roundedOperands),
            "vdpbf16ps 80.0 multiply-adds/ns, Float FMAs 40.0 (ratio 2.00): favours dot products, not rounded operands in use; "
                + "try DICEKIT_BF16_ARITHMETIC=dot and compare the _bf16 keys of dicekit-bench")
        XCTAssertTrue(
            intelLike.verdict(for: .dotProducts).hasSuffix(
                "try DICEKIT_BF16_ARITHMETIC=rounded and compare the _bf16 keys of dicekit-bench"))
        XCTAssertTrue(zen4Like.verdict(for: .tiles).hasSuffix("(ratio 2.00); AMX tiles in use"))
        let sapphireLike = BFloat16MultiplyAddRates(dotProducts: 18, floatFMAs: 37, tileProducts: 1024)
        XCTAssertTrue(sapphireLike.verdict(for: .tiles).hasSuffix("(ratio 0.49), AMX tiles 1024.0; AMX tiles in use"))
    }

    /// The CLI's notice that bf16 runs at about float32's speed: only for rounded operands chosen
    /// automatically (not for a choice the user made, nor for the faster arithmetics).
    func testRoundedOperandsNotice() throws {
        let notice = try XCTUnwrap(BFloat16Arithmetic.roundedOperandsNotice(.roundedOperands, automatic: true))
        XCTAssertTrue(notice.hasPrefix("note: --precision bf16: ") && notice.contains("float32's speed"), notice)
        XCTAssertNil(BFloat16Arithmetic.roundedOperandsNotice(.roundedOperands, automatic: false))
        XCTAssertNil(BFloat16Arithmetic.roundedOperandsNotice(.dotProducts, automatic: true))
        XCTAssertNil(BFloat16Arithmetic.roundedOperandsNotice(.tiles, automatic: true))
        // Forcing an arithmetic is a choice made: no notice.
        BFloat16Arithmetic.with(.roundedOperands) { XCTAssertNil(BFloat16Arithmetic.roundedOperandsNotice) }
    }
}
