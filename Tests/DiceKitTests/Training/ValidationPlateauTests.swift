// The rules that watch the validation Dice: the plateau schedule against PyTorch's
// ReduceLROnPlateau (Fixtures/training/plateau.json, Scripts/make_plateau_fixtures.py), early
// stopping against Keras's EarlyStopping rule on hand-made histories, and both through the
// built tool: the rates a run logs are the rule's, a resumed run equals an uninterrupted one,
// and early stopping ends a run, records it and refuses a resume that would stop at once.

import XCTest

@testable import DiceKit

final class ValidationPlateauTests: XCTestCase {
    private struct Case: Decodable {
        let name: String
        let base: Double
        let dice: [Double?]
        let rates: [Double]
        let patience: Int
        let factor: Double
        let threshold: Double
        let cooldown: Int
        let minimumRate: Double

        enum CodingKeys: String, CodingKey {
            case name, base, dice, rates, patience, factor, threshold, cooldown
            case minimumRate = "min_lr"
        }
    }

    private struct Fixture: Decodable { let cases: [Case] }

    /// Epochs whose foreground Dice is `dice` (nil: not validated).
    private func history(_ dice: [Double?]) -> [EpochMetrics] {
        dice.enumerated().map { i, value in
            EpochMetrics(
                epoch: i + 1, trainLoss: 1, validationDice: value.map { [0.9, $0] } ?? [], learningRate: 1e-3,
                seconds: 1, imagesPerSecond: 1)
        }
    }

    func testPlateauRatesMatchPyTorchsReduceLROnPlateau() throws {
        let data = try Data(contentsOf: fixtureURL("training/plateau.json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        XCTAssertEqual(fixture.cases.count, 16)
        var reductions = 0
        for golden in fixture.cases {
            let rule = LearningRatePlateau(
                patience: golden.patience, factor: golden.factor, threshold: golden.threshold,
                cooldown: golden.cooldown, minimumLearningRate: golden.minimumRate)
            try rule.validate()
            let epochs = history(golden.dice)
            for k in epochs.indices {
                let rate = rule.learningRate(base: golden.base, after: Array(epochs[...k]))
                XCTAssertEqual(rate, golden.rates[k], accuracy: 1e-15 * golden.base, "\(golden.name) epoch \(k + 1)")
            }
            reductions += Set(golden.rates).count - 1
        }
        XCTAssertGreaterThan(reductions, 20, "the goldens reduce the rate")
    }

    func testEarlyStoppingFollowsKerasRule() throws {
        let rule = EarlyStopping(patience: 2)
        XCTAssertNil(rule.verdict(history([0.5, 0.6, 0.6])))
        let stop = try XCTUnwrap(rule.verdict(history([0.5, 0.6, 0.6, 0.59])))
        XCTAssertEqual(stop.bestEpoch, 2)
        XCTAssertEqual(stop.waited, 2)
        // An improvement resets the count; epochs without validation are passed over.
        XCTAssertNil(rule.verdict(history([0.5, 0.4, 0.55, 0.5])))
        XCTAssertNil(rule.verdict(history([0.5, 0.4, nil, nil, 0.6])))
        XCTAssertEqual(rule.verdict(history([0.5, 0.4, nil, 0.45]))?.bestEpoch, 1)
        // With a delta, a gain must exceed it: 0.505 and 0.509 are not better than 0.5 by > 0.01.
        let delta = EarlyStopping(patience: 2, minimumDelta: 0.01)
        XCTAssertEqual(delta.verdict(history([0.5, 0.505, 0.509]))?.waited, 2)
        XCTAssertNil(delta.verdict(history([0.5, 0.505, 0.52])))
        XCTAssertNil(rule.verdict([]))
        XCTAssertThrowsError(try EarlyStopping(patience: 0).validate())
        XCTAssertThrowsError(try EarlyStopping(patience: 1, minimumDelta: -1).validate())
        XCTAssertThrowsError(try LearningRatePlateau(factor: 1).validate())
        XCTAssertThrowsError(try LearningRatePlateau(patience: -1).validate())
    }

    private let run = [
        "train", "--count", "12", "--size", "32", "--depth", "2", "--base", "2", "--batch-size", "4",
        "--threads", "1",
    ]

    /// The epochs of `dir/metrics.jsonl`, timings zeroed.
    private func logged(_ dir: String) throws -> [EpochMetrics] {
        try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
            var metrics = try XCTUnwrap(EpochMetrics(jsonLine: String(line)), String(line))
            (metrics.seconds, metrics.imagesPerSecond, metrics.dataWaitFraction) = (0, 0, 0)
            return metrics
        }
    }

    func testAPlateauRunLogsTheRulesRatesAndResumesToTheSameRun() throws {
        let root = try temporaryDirectory(self).path
        let plateau = ["--schedule", "plateau", "--plateau-patience", "0", "--plateau-factor", "0.5", "--lr", "0.01"]
        let whole = try runDicekit(run + plateau + ["--epochs", "4", "--out", "\(root)/whole"])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let epochs = try logged("\(root)/whole")
        XCTAssertEqual(epochs.count, 4)
        let rule = LearningRatePlateau(patience: 0, factor: 0.5)
        for k in epochs.indices {
            XCTAssertEqual(
                epochs[k].learningRate, rule.learningRate(base: 0.01, after: Array(epochs[..<k])), "epoch \(k + 1)")
        }
        // Two epochs, then a resume to four: the same log, bit for bit.
        let first = try runDicekit(run + plateau + ["--epochs", "2", "--out", "\(root)/parts"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let rest = try runDicekit(
            run + plateau + ["--epochs", "4", "--out", "\(root)/parts", "--resume", "\(root)/parts/last.safetensors"])
        XCTAssertEqual(rest.status, 0, rest.stderr)
        XCTAssertEqual(try logged("\(root)/parts"), epochs)
    }

    func testEarlyStoppingEndsTheRunAndResumeNeedsALargerPatience() throws {
        let root = try temporaryDirectory(self).path
        // A delta of 1 makes every epoch after the first "no better": the run stops after 1 + 2.
        let stop = ["--early-stop", "2", "--early-stop-delta", "1"]
        let result = try runDicekit(run + stop + ["--epochs", "10", "--out", "\(root)/run"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("stopping early after epoch 3"), result.stderr)
        let summary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(root)/run/summary.json")))
                as? [String: Any])
        XCTAssertEqual(summary["epochs"] as? Int, 3)
        let record = try XCTUnwrap(summary["stopped_early"] as? [String: Int])
        XCTAssertEqual(record, ["epoch": 3, "best_epoch": 1, "patience": 2])
        XCTAssertEqual(try logged("\(root)/run").count, 3)

        let last = "\(root)/run/last.safetensors"
        let same = try runDicekit(["train", "--epochs", "10", "--resume", last] + stop)
        XCTAssertEqual(same.status, 1, same.stderr)
        XCTAssertTrue(same.stderr.contains("expected a larger patience"), same.stderr)
        let longer = try runDicekit([
            "train", "--epochs", "10", "--resume", last, "--early-stop", "4", "--early-stop-delta", "1",
        ])
        XCTAssertEqual(longer.status, 0, longer.stderr)
        XCTAssertTrue(longer.stderr.contains("stopping early after epoch 5"), longer.stderr)

        // A run that reaches its last epoch records no early stop.
        let full = try runDicekit(run + ["--early-stop", "5", "--epochs", "2", "--out", "\(root)/full"])
        XCTAssertEqual(full.status, 0, full.stderr)
        let fullSummary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(root)/full/summary.json")))
                as? [String: Any])
        XCTAssertTrue(fullSummary["stopped_early"] is NSNull)
    }

    func testMisusesAreOneLineUsageErrors() throws {
        for (arguments, expected) in [
            (["--val-fraction", "0", "--early-stop", "3"], "--early-stop watches the validation Dice"),
            (["--val-fraction", "0", "--schedule", "plateau"], "--schedule plateau watches the validation Dice"),
            (["--plateau-patience", "3"], "--plateau-patience applies to --schedule plateau"),
            (["--early-stop-delta", "0.1"], "--early-stop-delta 0.1 applies to --early-stop N"),
            (["--schedule", "plateau", "--plateau-factor", "1"], "plateau factor 1.0; expected a value in (0, 1)"),
            (["--early-stop", "0"], "--early-stop expects an integer in 1...100000"),
            (["--early-stop", "2", "--early-stop-delta", "-0.5"], "early-stopping delta -0.5"),
        ] {
            let result = try runDicekit(["train"] + arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }
}
