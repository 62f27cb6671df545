// `--precision` of `dicekit eval` (train and predict parse it the same way, PrecisionOption.swift):
// bf16 evaluates (close to float32, or equal where no convolution qualifies), with a notice where
// it runs in float32 or at float32's speed, and a wrong value is a usage error that names it.
// `train` and `eval` record what ran: the precision and, with bf16, the arithmetic.

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
        XCTAssertEqual(f["precision"] as? String, "float32")
        XCTAssertNil(f["bf16_arithmetic"])
        XCTAssertEqual(b["precision"] as? String, expectedArithmetic == nil ? "float32" : "bf16")
        XCTAssertEqual(b["bf16_arithmetic"] as? String, expectedArithmetic?.rawValue)
    }

    /// The arithmetic a `--precision bf16` subprocess runs: nil on a CPU without bfloat16, else
    /// the environment's choice or the automatic one.
    private var expectedArithmetic: BFloat16Arithmetic? {
        guard ComputePrecision.bfloat16Available else { return nil }
        let environment = ProcessInfo.processInfo.environment[BFloat16Arithmetic.environmentVariable]
        return environment.flatMap(BFloat16Arithmetic.init(rawValue:)) ?? .automatic
    }

    func testTrainingRecordsThePrecisionThatRan() throws {
        let root = try temporaryDirectory(self).path
        for precision in ["float32", "bf16"] {
            let result = try runDicekit([
                "train", "--count", "6", "--size", "32", "--depth", "1", "--base", "16", "--epochs", "1",
                "--batch-size", "2", "--no-augment", "--precision", precision, "--out", "\(root)/\(precision)",
            ])
            XCTAssertEqual(result.status, 0, result.stderr)
            let summary = try XCTUnwrap(
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: "\(root)/\(precision)/summary.json")))
                    as? [String: Any])
            let configuration = try XCTUnwrap(summary["configuration"] as? [String: Any])
            let arithmetic = precision == "bf16" ? expectedArithmetic : nil
            XCTAssertEqual(configuration["precision"] as? String, arithmetic == nil ? "float32" : "bf16", precision)
            XCTAssertEqual(configuration["bf16_arithmetic"] as? String, arithmetic?.rawValue, precision)
            let first = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("training a U-Net") })
            XCTAssertTrue(
                first.contains("loss dice-ce, " + (arithmetic.map { "bf16 on \($0))" } ?? "float32)")), String(first))
        }
    }

    func testEveryEpochRecordsItsPrecisionAcrossAResume() throws {
        let root = try temporaryDirectory(self).path
        let run = [
            "train", "--count", "6", "--size", "32", "--depth", "1", "--base", "16", "--batch-size", "2",
            "--no-augment", "--out", "\(root)/run",
        ]
        XCTAssertEqual(try runDicekit(run + ["--epochs", "2"]).status, 0)
        let resumed = try runDicekit(
            run + ["--epochs", "3", "--precision", "bf16", "--resume", "\(root)/run/last.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let third: ComputePrecision = expectedArithmetic == nil ? .float : .bfloat16
        let lines = try String(contentsOfFile: "\(root)/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.map { EpochMetrics(jsonLine: String($0))?.precision }, [.float, .float, third])
        let history = try TrainingCheckpoint.read(contentsOf: "\(root)/run/last.safetensors").history
        XCTAssertEqual(history.map(\.precision), [.float, .float, third])
        // `dicekit info` lists them in order of first use.
        let info = try runDicekit(["info", "\(root)/run/last.safetensors"])
        XCTAssertEqual(info.status, 0, info.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
        let precisions = try XCTUnwrap((object["history"] as? [String: Any])?["precisions"] as? [String])
        XCTAssertEqual(precisions, third == .float ? ["float32"] : ["float32", "bf16"])
        // A line without the key (written before it existed) reads as not recorded.
        let old = #"{"epoch":1,"train_loss":0.5,"val_loss":null,"val_dice":[],"val_iou":[],"lr":0.001}"#
        XCTAssertNil(try XCTUnwrap(EpochMetrics(jsonLine: old)).precision)
    }

    func testUnknownPrecisionIsAUsageError() throws {
        let result = try eval(["--precision", "fp8"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("fp8") && result.stderr.contains("bf16"), result.stderr)
        XCTAssertTrue(result.stdout.isEmpty, result.stdout)
    }
}
