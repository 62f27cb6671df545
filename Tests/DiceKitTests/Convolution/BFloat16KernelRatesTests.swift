// BFloat16KernelRates: the forward kernel's rate is measured where a bfloat16 kernel is in use
// (dot products, or the tiles, forced here onto their software model on a CPU without AMX), the
// weight gradient's on the dot products, within what a core can do, and refused for shapes the
// kernels do not take and for the rounded-operand arithmetic, which has no bfloat16 kernel.

import XCTest

@testable import DiceKit

final class BFloat16KernelRatesTests: XCTestCase {
    override func tearDown() { BFloat16Arithmetic.force(nil) }

    func testMeasuredOnTheKernelInUse() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: no bfloat16 kernel to measure")
        for arithmetic: BFloat16Arithmetic in [.dotProducts, .tiles] {
            BFloat16Arithmetic.force(arithmetic)
            let rate = try XCTUnwrap(
                BFloat16KernelRates.measure(channels: 32, size: 12, repetitions: 2), "\(arithmetic)")
            // At most 1024 multiply-adds per cycle at 6 GHz (tiles); the lower bound allows a debug
            // build and the tiles' software model.
            XCTAssertGreaterThan(rate, 1e-4, "\(arithmetic)")
            XCTAssertLessThan(rate, 6200, "\(arithmetic)")
        }
        // The weight gradient on the dot products only (an odd width: the packed gradient's last pair).
        BFloat16Arithmetic.force(.dotProducts)
        let gradient = try XCTUnwrap(BFloat16KernelRates.measureWeightGradient(channels: 16, size: 11, repetitions: 2))
        XCTAssertGreaterThan(gradient, 1e-4)
        XCTAssertLessThan(gradient, 800)
        BFloat16Arithmetic.force(.tiles)
        XCTAssertNil(BFloat16KernelRates.measureWeightGradient(channels: 16, size: 11), "tiles: another kernel")
        BFloat16Arithmetic.force(.roundedOperands)
        XCTAssertNil(BFloat16KernelRates.measure(channels: 32, size: 12), "rounded operands: no bfloat16 kernel")
        XCTAssertNil(BFloat16KernelRates.measureWeightGradient(channels: 32, size: 12), "rounded operands")
    }

    func testRefusesShapesTheKernelsDoNotTake() {
        XCTAssertNil(BFloat16KernelRates.measureWeightGradient(channels: 24, size: 12))
        XCTAssertNil(BFloat16KernelRates.measure(channels: 24, size: 12))
        XCTAssertNil(BFloat16KernelRates.measure(channels: 0, size: 12))
        XCTAssertNil(BFloat16KernelRates.measure(channels: 16, size: 0))
    }
}
