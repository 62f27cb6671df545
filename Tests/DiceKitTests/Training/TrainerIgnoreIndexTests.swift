// The trainer on data with unlabelled positions: the configuration's ignore index reaches the
// loss (with and without deep supervision) and the validation metrics, must agree with the data
// set's, and is refused where it cannot work, each with a one-line message.

import XCTest

@testable import DiceKit

final class TrainerIgnoreIndexTests: XCTestCase {
    /// Synthetic polyps of 32² with 2-pixel void borders (label 255).
    private func data(count: Int = 6) throws -> SegmentationDataset {
        try SegmentationDataset.syntheticPolyps(count: count, seed: 4, configuration: .init(size: 32))
            .withUnlabelledBorders(width: 1, ignoreIndex: 255)
    }

    private func model(depth: Int = 2) throws -> UNet<Float> {
        try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: depth), seed: 3)
    }

    func testValidationScoresLeaveTheIgnoredPositionsOut() throws {
        let data = try data()
        var config = TrainingConfiguration()
        config.ignoreIndex = 255
        let model = try model()
        let scores = try Trainer(model: model, configuration: config).evaluate(data, batchSize: 4)
        // The same figures by hand: per image and class present, 2·TP / (2·TP + FP + FN) over
        // the labelled positions only, averaged over the images where the class is present.
        let predicted = try Predictor.argmax(try model.forward(data.images, mode: .evaluation)).storage
        let s = 32 * 32
        for c in 0..<2 {
            var perImage = [Double]()
            for i in 0..<data.count {
                var (tp, fp, fn) = (0, 0, 0)
                for p in (i * s)..<((i + 1) * s) where data.labels[p] != 255 {
                    let (t, q) = (data.labels[p], predicted[p])
                    if t == Int32(c) && q == Int32(c) {
                        tp += 1
                    } else if q == Int32(c) {
                        fp += 1
                    } else if t == Int32(c) {
                        fn += 1
                    }
                }
                if tp + fn > 0 { perImage.append(Double(2 * tp) / Double(2 * tp + fp + fn)) }
            }
            XCTAssertEqual(
                scores.dice[c], perImage.reduce(0, +) / Double(perImage.count), accuracy: 1e-12, "class \(c)")
        }
        XCTAssertTrue(scores.loss.isFinite)
    }

    func testTrainingWithTheIgnoreIndexRunsWithAndWithoutDeepSupervision() throws {
        let data = try data(count: 8)
        for supervision in [nil, DeepSupervisionWeighting.exp] {
            var config = TrainingConfiguration()
            config.epochs = 2
            config.batchSize = 4
            config.ignoreIndex = 255
            config.loss = .diceFocal
            config.deepSupervision = supervision
            let summary = try Trainer(model: try model(depth: 3), configuration: config)
                .fit(training: data.subset([0, 1, 2, 3, 4, 5]), validation: data.subset([6, 7]))
            XCTAssertEqual(summary.epochs.count, 2)
            XCTAssertTrue(summary.epochs.allSatisfy { $0.trainLoss.isFinite && ($0.validationLoss ?? .nan).isFinite })
            XCTAssertTrue(summary.json.encoded.contains("\"ignore_index\":255"), summary.json.encoded)
        }
    }

    func testMismatchesAndUnsupportedObjectivesAreOneLineErrors() throws {
        let data = try data()
        let model = try model()
        let unset = try Trainer(model: model, configuration: TrainingConfiguration())
        assertError(try unset.evaluate(data), contains: "the data marks unlabelled positions with 255")
        var config = TrainingConfiguration()
        config.ignoreIndex = 254
        assertError(
            try Trainer(model: model, configuration: config).evaluate(data),
            contains: "the training configuration's ignore index is 254")
        config.ignoreIndex = 1
        assertError(
            try Trainer(model: model, configuration: config),
            contains: "ignore index 1 is one of the class indices 0..<2")
        config.ignoreIndex = 255
        for kind in LossKind.allCases where !kind.acceptsIgnoreIndex {
            config.loss = kind
            assertError(try config.validate(), contains: "--ignore-index with loss \(kind.rawValue)")
        }
        XCTAssertEqual(LossKind.allCases.filter { !$0.acceptsIgnoreIndex }, [.clDice, .diceClDice, .diceHausdorff])
    }
}
