// Stochastic weight averaging in a training run (`TrainingConfiguration.stochasticWeightAveraging`):
// the average is the equal average of the weights at the ends of the epochs from the start on
// (checked against a mirror fed by a run of the same steps without it), the epochs after the
// start take SWALR's rate, validation scores the trained weights before the start and the average
// from it, swa.safetensors holds the average, and a run resumed before or after the start equals
// an uninterrupted one bit for bit; a stop asked for during the statistics pass and validation
// ends the run at that finished epoch.

import XCTest

@testable import DiceKit

final class TrainerStochasticWeightAverageTests: XCTestCase {
    private let data = try! SegmentationDataset.syntheticPolyps(count: 12, seed: 3, configuration: .init(size: 32))

    private func configuration(epochs: Int, output: String?) -> TrainingConfiguration {
        var config = TrainingConfiguration()
        config.epochs = epochs
        config.batchSize = 3
        config.learningRate = 3e-3
        config.outputDirectory = output
        config.schedule = .constant
        config.stochasticWeightAveraging = StochasticWeightAveraging(
            start: 2, learningRate: 1e-3, annealEpochs: 1, anneal: .linear, recomputesStatistics: false)
        return config
    }

    private func model() throws -> UNet<Float> {
        try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
    }

    func testTheAverageIsTheMeanOfTheEpochEndWeightsAndTheRateAnneals() throws {
        let root = try temporaryDirectory(self).path
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        let trainer = try Trainer(model: try model(), configuration: configuration(epochs: 4, output: "\(root)/swa"))
        let summary = try trainer.fit(training: training, validation: validation)
        XCTAssertEqual(summary.epochs.map(\.learningRate), [3e-3, 3e-3, 1e-3, 1e-3])
        let average = try XCTUnwrap(trainer.weightAverage)
        XCTAssertEqual(average.updates, 3)

        // The same steps without an average, epoch by epoch (the rate of epochs 3 and 4 given by
        // hand), feed a mirror with the weights at the ends of epochs 2, 3 and 4.
        var plain = configuration(epochs: 2, output: "\(root)/plain")
        plain.stochasticWeightAveraging = nil
        let mirror = try WeightAverage(.equal, of: try model().parameters)
        for epochs in 2...4 {
            plain.epochs = epochs
            plain.learningRate = epochs == 2 ? 3e-3 : 1e-3
            let reference = try Trainer(model: try model(), configuration: plain)
            if epochs > 2 { try reference.resume(fromCheckpoint: "\(root)/plain/last.safetensors") }
            _ = try reference.fit(training: training, validation: validation)
            mirror.update(from: reference.model.parameters)
        }
        XCTAssertEqual(average.parameters.all.map(\.value), mirror.parameters.all.map(\.value))

        // swa.safetensors holds the average; the last epoch's validation scored it.
        let file = try SafetensorsFile.read(contentsOf: "\(root)/swa/swa.safetensors")
        XCTAssertEqual(file.metadata["weights"], "swa")
        XCTAssertEqual(file.metadata["swa_updates"], "3")
        XCTAssertEqual(file.metadata["swa_start"], "2")
        XCTAssertEqual(file.metadata["swa_lr"], "0.001")
        XCTAssertEqual(file.metadata["swa_anneal"], "linear")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(root)/swa/ema.safetensors"))
        let averaged = try UNet<Float>.load(contentsOf: "\(root)/swa/swa.safetensors")
        XCTAssertEqual(averaged.parameters.all.map(\.value), average.parameters.all.map(\.value))
        var scoring = TrainingConfiguration()
        scoring.batchSize = 3
        XCTAssertEqual(
            summary.epochs.last?.validationDice,
            try Trainer(model: averaged, configuration: scoring).evaluate(validation).dice)
        // Epoch 1 scored the trained weights: the plain run's first epoch has the same scores.
        let plainHistory = try TrainingCheckpoint.read(contentsOf: "\(root)/plain/last.safetensors").history
        XCTAssertEqual(summary.epochs.first?.validationDice, plainHistory.first?.validationDice)
        XCTAssertEqual(summary.epochs.first?.validationLoss, plainHistory.first?.validationLoss)
        XCTAssertNotEqual(summary.epochs.last?.validationLoss, plainHistory.last?.validationLoss)
    }

    func testAResumedRunEqualsAnUninterruptedOneBitForBit() throws {
        let root = try temporaryDirectory(self).path
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        _ = try Trainer(model: try model(), configuration: configuration(epochs: 4, output: "\(root)/whole"))
            .fit(training: training, validation: validation)
        for first in [1, 3] { // before the start, and after it
            let dir = "\(root)/parts\(first)"
            _ = try Trainer(model: try model(), configuration: configuration(epochs: first, output: dir))
                .fit(training: training, validation: validation)
            let resumed = try Trainer(model: try model(), configuration: configuration(epochs: 4, output: dir))
            try resumed.resume(fromCheckpoint: "\(dir)/last.safetensors")
            XCTAssertEqual(resumed.weightAverage?.updates, first - 1)
            _ = try resumed.fit(training: training, validation: validation)
            for file in ["last", "swa", "best"] {
                let a = try SafetensorsFile.read(contentsOf: "\(root)/whole/\(file).safetensors")
                let b = try SafetensorsFile.read(contentsOf: "\(dir)/\(file).safetensors")
                XCTAssertEqual(a.names, b.names, file)
                for name in a.names {
                    XCTAssertTrue(a.tensors[name] == b.tensors[name], "\(first): \(file): \(name) differs")
                }
            }
        }
    }

    func testAnotherStartOnResumeIsRefused() throws {
        let dir = try temporaryDirectory(self).path
        _ = try Trainer(model: try model(), configuration: configuration(epochs: 1, output: dir))
            .fit(training: data, validation: nil)
        var other = configuration(epochs: 3, output: nil)
        other.stochasticWeightAveraging?.start = 3
        let trainer = try Trainer(model: try model(), configuration: other)
        XCTAssertThrowsError(try trainer.resume(fromCheckpoint: "\(dir)/last.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("start 2"), "\(error)")
            XCTAssertTrue(
                "\(error)".contains(
                    "the configuration has anneal linear, anneal_epochs 1, lr 0.001, rule swa, start 3"), "\(error)")
        }
    }

    func testAStopDuringValidationEndsTheRunAtThatEpoch() throws {
        let dir = try temporaryDirectory(self).path
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        var config = configuration(epochs: 3, output: dir)
        config.stochasticWeightAveraging?.start = 1
        let trainer = try Trainer(model: try model(), configuration: config)
        let summary = try trainer.fit(training: training, validation: StoppingSource(base: validation))
        XCTAssertTrue(summary.interrupted)
        XCTAssertEqual(summary.epochs.count, 1, "no step of epoch 2")
        XCTAssertNotNil(summary.epochs.first?.validationDice, "the validation that was asked to stop finished")
        XCTAssertEqual(try TrainingCheckpoint.read(contentsOf: "\(dir)/last.safetensors").epoch, 1)
        XCTAssertEqual(trainer.weightAverage?.updates, 1)
    }
}

/// A validation set whose reads ask the training loop to stop, as a Ctrl-C during validation.
private struct StoppingSource: SegmentationSource {
    let base: any SegmentationSource
    var count: Int { base.count }
    var spatialShape: [Int] { base.spatialShape }
    var channels: Int { base.channels }
    var classes: Int { base.classes }
    var ignoreIndex: Int? { base.ignoreIndex }

    func sample(at index: Int) throws -> SegmentationSample {
        InterruptFlag.request()
        return try base.sample(at: index)
    }

    func samples(_ indices: [Int]) throws -> SegmentationDataset {
        InterruptFlag.request()
        return try base.samples(indices)
    }
}
