// `dicekit eval`: its JSON values against MONAI (Fixtures/metrics, see EvaluationMetricsTests),
// and the refusal of the synthetic-only options with real data.

import XCTest

@testable import DiceKit

final class CLIEvalTests: XCTestCase {
    func testEvalReportsMONAIValues() throws {
        let golden = try MetricsGolden()
        for batchSize in ["2", "7"] {
            let result = try runDicekit([
                "eval", "--checkpoint", fixtureURL("metrics/weights.safetensors").path,
                "--data", fixtureURL("metrics").path, "--batch-size", batchSize,
            ])
            XCTAssertEqual(result.status, 0, result.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(json["images"] as? Int, 7)
            let dice = try XCTUnwrap(json["dice"] as? [Double])
            let iou = try XCTUnwrap(json["iou"] as? [Double])
            XCTAssertEqual(dice.count, 3)
            XCTAssertEqual(iou.count, 3)
            for c in 0..<3 {
                XCTAssertEqual(dice[c], golden.dice[c], accuracy: 1e-6, "dice \(c)")
                XCTAssertEqual(iou[c], golden.iou[c], accuracy: 1e-6, "IoU \(c)")
            }
            XCTAssertEqual(
                try XCTUnwrap(json["dice_foreground"] as? Double), (golden.dice[1] + golden.dice[2]) / 2, accuracy: 1e-6
            )
            XCTAssertEqual(
                try XCTUnwrap(json["iou_foreground"] as? Double), (golden.iou[1] + golden.iou[2]) / 2, accuracy: 1e-6)
        }
    }

    func testSyntheticOnlyOptionsAreRefusedWithRealData() throws {
        for option in ["--count", "--size", "--seed"] {
            let result = try runDicekit([
                "eval", "--checkpoint", fixtureURL("metrics/weights.safetensors").path,
                "--data", fixtureURL("metrics").path, option, "16",
            ])
            XCTAssertEqual(result.status, 2, "\(option): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 2, "the error and the pointer to --help: \(result.stderr)")
            XCTAssertTrue(lines.first?.contains("\(option) applies only to --data synthetic") == true, result.stderr)
            XCTAssertTrue(result.stdout.isEmpty, result.stdout)
        }
    }
}
