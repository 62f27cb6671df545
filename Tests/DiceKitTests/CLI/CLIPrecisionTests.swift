// `--precision` of `dicekit eval` (train and predict parse it the same way, PrecisionOption.swift):
// bf16 evaluates (close to float32, or equal where no convolution qualifies), with a notice where
// it runs in float32 or at float32's speed, and a wrong value is a usage error that names it.

import XCTest

@testable import DiceKit

final class CLIPrecisionTests: XCTestCase {
    private func eval(_ extra: [String]) throws -> ToolResult {
        try runDicekit(
            [
                "eval", "--checkpoint", fixtureURL("metrics/weights.safetensors").path,
                "--data", fixtureURL("metrics").path,
            ] + extra)
    }

    func testBFloat16EvaluationIsCloseToFloat() throws {
        let float = try eval(["--precision", "float32"])
        let bf16 = try eval(["--precision", "bf16"])
        XCTAssertEqual(float.status, 0, float.stderr)
        XCTAssertEqual(bf16.status, 0, bf16.stderr)
        let f = try JSONSerialization.jsonObject(with: Data(float.stdout.utf8)) as! [String: Any]
        let b = try JSONSerialization.jsonObject(with: Data(bf16.stdout.utf8)) as! [String: Any]
        let fd = try XCTUnwrap(f["dice_foreground"] as? Double)
        let bd = try XCTUnwrap(b["dice_foreground"] as? Double)
        XCTAssertEqual(bd, fd, accuracy: 0.02)
        // The fallback notice appears exactly when the CPU has no bfloat16 dot product.
        XCTAssertEqual(bf16.stderr.contains("running in float32"), !ComputePrecision.bfloat16Available, bf16.stderr)
        // The speed notice appears exactly where the automatic arithmetic is rounded operands.
        let rounded =
            ComputePrecision.bfloat16Available && BFloat16Arithmetic.automatic == .roundedOperands
            && ProcessInfo.processInfo.environment[BFloat16Arithmetic.environmentVariable] == nil
        XCTAssertEqual(bf16.stderr.contains("at about float32's speed"), rounded, bf16.stderr)
        XCTAssertFalse(float.stderr.contains("float32's speed"), float.stderr)
    }

    func testUnknownPrecisionIsAUsageError() throws {
        let result = try eval(["--precision", "fp8"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("fp8") && result.stderr.contains("bf16"), result.stderr)
        XCTAssertTrue(result.stdout.isEmpty, result.stdout)
    }
}
