// The trainer with every objective beyond the Dice family: two epochs of `fit` run and write a
// finite training loss, repeated steps on one batch lower the loss, and `dicekit train --loss`
// accepts the new names.

import XCTest

@testable import DiceKit

final class TrainerLossKindTests: XCTestCase {
    let kinds: [LossKind] = [.focal, .diceFocal, .lovaszSoftmax, .lovaszHinge, .wasserstein, .mcc, .diceHausdorff]

    func testEveryNewObjectiveTrainsTwoEpochs() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 8, seed: 5, configuration: .init(size: 32))
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        for kind in kinds {
            var config = TrainingConfiguration()
            config.epochs = 2
            config.batchSize = 3
            config.loss = kind
            let model = try UNet<Float>(
                UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
            let summary = try Trainer(model: model, configuration: config).fit(
                training: training, validation: validation)
            XCTAssertEqual(summary.epochs.count, 2, kind.rawValue)
            XCTAssertTrue(
                summary.epochs.allSatisfy { $0.trainLoss.isFinite && $0.validationLoss?.isFinite == true },
                kind.rawValue)
        }
    }

    func testRepeatedStepsLowerEveryNewObjective() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 6, configuration: .init(size: 32))
        let batch = try data.batches(size: 4).batch(0)
        for kind in kinds {
            var config = TrainingConfiguration()
            config.learningRate = 1e-2
            config.augmentation = .none
            config.loss = kind
            let model = try UNet<Float>(
                UNetConfiguration(inputChannels: 3, classes: 3, baseWidth: 4, depth: 2), seed: 2)
            let trainer = try Trainer(model: model, configuration: config)
            let first = try trainer.trainStep(batch)
            var last = first
            for _ in 0..<6 { last = try trainer.trainStep(batch) }
            XCTAssertLessThan(last, first, "\(kind.rawValue): \(first) → \(last)")
        }
    }

    func testTrainCommandAcceptsTheNewNames() throws {
        let dir = try temporaryDirectory(self).path
        let train = try runDicekit([
            "train", "--count", "6", "--size", "32", "--depth", "2", "--base", "4",
            "--epochs", "2", "--batch-size", "3", "--loss", "lovasz-softmax", "--out", dir,
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("\"loss\": \"lovasz-softmax\""), train.stdout)
        let bad = try runDicekit(["train", "--loss", "lovasz"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("lovasz-softmax|lovasz-hinge|wasserstein|mcc"), bad.stderr)
    }
}
