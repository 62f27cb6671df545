// Median frequency balancing (`SegmentationSource.medianFrequencyWeights`, `dicekit train
// --class-weights auto`): the weights of a hand-worked example, the error for a class no sample
// contains, and the CLI's resolution on the training set, recorded as "auto" for resume.

import Foundation
import XCTest

@testable import DiceKit

final class ClassBalanceTests: XCTestCase {
    /// Two 4 × 4 samples: 12 background and 4 of class 1; 8 background and 8 of class 2.
    /// f = (20/32, 4/16, 8/16) = (0.625, 0.25, 0.5), median 0.5, w = (0.8, 2, 1).
    private func example() throws -> SegmentationDataset {
        let labels: [Int32] =
            [Int32](repeating: 0, count: 12) + [1, 1, 1, 1] + [Int32](repeating: 0, count: 8)
            + [Int32](repeating: 2, count: 8)
        return try SegmentationDataset(images: Tensor(shape: [2, 4, 4, 1]), labels: labels, classes: 3)
    }

    func testWeightsOfAHandWorkedExample() throws {
        let weights = try example().medianFrequencyWeights()
        XCTAssertEqual(weights.count, 3)
        for (w, expected) in zip(weights, [0.8, 2, 1]) { XCTAssertEqual(w, expected, accuracy: 1e-15) }
        // An even class count takes the mean of the middle two: f = (0.75, 0.25), median 0.5.
        let two = try SegmentationDataset(images: Tensor(shape: [1, 2, 2, 1]), labels: [0, 0, 0, 1], classes: 2)
        XCTAssertEqual(try two.medianFrequencyWeights(), [0.5 / 0.75, 2])
    }

    func testAClassNoSampleContainsIsAOneLineError() throws {
        let data = try SegmentationDataset(images: Tensor(shape: [1, 2, 2, 1]), labels: [0, 0, 1, 1], classes: 3)
        assertError(try data.medianFrequencyWeights(), contains: "class 2 occurs in none of the 1 training samples")
    }

    func testTrainResolvesAutoOnTheTrainingSetAndResumesWithIt() throws {
        let dir = try temporaryDirectory(self).path
        let data = try example()
        try NPY.write(data.images, to: "\(dir)/d.npy")
        try NPY.write(
            try NPYArray(integers: data.labels.map(Int.init), shape: data.labelShape, dtype: .uint8),
            to: "\(dir)/d_masks.npy")
        let command = [
            "train", "--data", "\(dir)/d.npy", "--depth", "1", "--base", "2", "--batch-size", "2",
            "--val-fraction", "0", "--threads", "1", "--no-augment", "--class-weights", "auto",
            "--ce-class-weights", "auto", "--out", "\(dir)/run",
        ]
        let first = try runDicekit(command + ["--epochs", "1"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("class weights by median frequency: 0.8, 2, 1"), first.stderr)
        func configuration() throws -> [String: Any] {
            let summary = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/run/summary.json"))
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: summary) as? [String: Any])
            return try XCTUnwrap(json["configuration"] as? [String: Any])
        }
        XCTAssertEqual(try configuration()["class_weights"] as? [Double], [0.8, 2, 1])
        XCTAssertEqual(try configuration()["ce_class_weights"] as? [Double], [0.8, 2, 1])
        // Resumed without the options: "auto" is taken from the checkpoint and resolved again.
        let resumed = try runDicekit(
            Array(command.prefix(14)) + ["--epochs", "2", "--resume", "\(dir)/run/last.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try configuration()["class_weights"] as? [Double], [0.8, 2, 1])
        // With the background excluded the Dice weights drop its entry.
        let excluded = try runDicekit(
            command.dropLast(4) + ["--exclude-background", "--epochs", "1", "--out", "\(dir)/excluded"])
        XCTAssertEqual(excluded.status, 0, excluded.stderr)
        let summary = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/excluded/summary.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: summary) as? [String: Any])
        XCTAssertEqual((json["configuration"] as? [String: Any])?["class_weights"] as? [Double], [2, 1])
        // A class that no training sample contains.
        let absent = try runDicekit(
            command.dropLast(2) + ["--classes", "4", "--epochs", "1", "--out", "\(dir)/absent"])
        XCTAssertEqual(absent.status, 1, absent.stderr)
        XCTAssertTrue(absent.stderr.contains("class 3 occurs in none of the 2 training samples"), absent.stderr)
        XCTAssertEqual(absent.stderr.split(separator: "\n").count, 1, absent.stderr)
    }
}
