// Training with a weight average (`TrainingConfiguration.weightAveraging`): every update of the
// weights updates the average (a skipped non-finite step does not); validation scores the average,
// best.safetensors and ema.safetensors hold it and load as models; last.safetensors keeps the
// trained weights and the average, and a resumed run equals an uninterrupted one bit for bit;
// a checkpoint whose average differs from the configuration's is refused with one line; BatchNorm
// statistics recomputed for the averaged weights (PyTorch's `update_bn`) are the mean of the batch
// statistics, go into the averaged model's files, and leave the average and the weights alone.

import XCTest

@testable import DiceKit

final class TrainerWeightAverageTests: XCTestCase {
    private let data = try! SegmentationDataset.syntheticPolyps(count: 12, seed: 3, configuration: .init(size: 32))

    private func configuration(epochs: Int, output: String?, decay: Double = 0.7) -> TrainingConfiguration {
        var config = TrainingConfiguration()
        config.epochs = epochs
        config.batchSize = 3
        config.learningRate = 3e-3
        config.outputDirectory = output
        config.weightAveraging = WeightAveraging(decay: decay, warmup: true)
        config.schedule = .constant // the cosine schedule's length depends on `epochs`
        return config
    }

    private func model() throws -> UNet<Float> {
        try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
    }

    func testEveryUpdateOfTheWeightsUpdatesTheAverageAndASkippedStepDoesNot() throws {
        let trainer = try Trainer(model: try model(), configuration: configuration(epochs: 1, output: nil))
        let mirror = try WeightAverage(WeightAveraging(decay: 0.7, warmup: true), of: trainer.model.parameters)
        let batches = try data.batches(size: 3)
        for i in 0..<3 {
            _ = try trainer.trainStep(batches.batch(i))
            mirror.update(from: trainer.model.parameters)
        }
        let average = try XCTUnwrap(trainer.weightAverage)
        XCTAssertEqual(average.updates, 3)
        XCTAssertEqual(average.parameters.all.map(\.value), mirror.parameters.all.map(\.value))
        XCTAssertNotEqual(
            average.parameters.trainable.map(\.value), trainer.model.parameters.trainable.map(\.value),
            "the average lags the weights")

        let good = batches.batch(0)
        let bad = SegmentationBatch(
            images: good.images.map { _ in Float.nan }, labels: good.labels, labelShape: good.labelShape,
            indices: good.indices)
        XCTAssertTrue(try trainer.trainStep(bad).isNaN)
        XCTAssertEqual(average.updates, 3, "a dropped update leaves the average alone")
        XCTAssertEqual(average.parameters.all.map(\.value), mirror.parameters.all.map(\.value))
    }

    func testValidationScoresTheAverageWhichTheModelFilesHold() throws {
        let dir = try temporaryDirectory(self).path
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        let trainer = try Trainer(model: try model(), configuration: configuration(epochs: 2, output: dir))
        let summary = try trainer.fit(training: training, validation: validation)
        let average = try XCTUnwrap(trainer.weightAverage)
        XCTAssertEqual(average.updates, 2 * 3)

        let ema = try SafetensorsFile.read(contentsOf: "\(dir)/ema.safetensors")
        XCTAssertEqual(ema.metadata["weights"], "ema")
        XCTAssertEqual(ema.metadata["ema_updates"], "6")
        XCTAssertEqual(ema.metadata["ema_decay"], "0.7")
        let averaged = try UNet<Float>.load(contentsOf: "\(dir)/ema.safetensors")
        XCTAssertEqual(averaged.parameters.all.map(\.value), average.parameters.all.map(\.value))
        // The last epoch's validation Dice is the averaged model's.
        var plain = TrainingConfiguration()
        plain.batchSize = 3
        let scored = try Trainer(model: averaged, configuration: plain).evaluate(validation)
        XCTAssertEqual(summary.epochs.last?.validationDice, scored.dice)
        XCTAssertEqual(summary.epochs.last?.validationLoss, scored.loss)

        let best = try SafetensorsFile.read(contentsOf: "\(dir)/best.safetensors")
        XCTAssertEqual(best.metadata["weights"], "ema")
        // last.safetensors: the trained weights (what UNet.load reads) and the average under "ema.".
        let checkpoint = try TrainingCheckpoint.read(contentsOf: "\(dir)/last.safetensors")
        XCTAssertEqual(checkpoint.averagedWeights?.metadata["updates"], "6")
        XCTAssertEqual(checkpoint.averagedWeights?.names.count, trainer.model.parameters.all.count)
        let trained = try UNet<Float>.load(contentsOf: "\(dir)/last.safetensors")
        XCTAssertEqual(trained.parameters.all.map(\.value), trainer.model.parameters.all.map(\.value))
        XCTAssertNotEqual(trained.parameters.trainable.map(\.value), averaged.parameters.trainable.map(\.value))
    }

    func testAResumedRunEqualsAnUninterruptedOneBitForBit() throws {
        let root = try temporaryDirectory(self).path
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        _ = try Trainer(model: try model(), configuration: configuration(epochs: 3, output: "\(root)/whole"))
            .fit(training: training, validation: validation)
        _ = try Trainer(model: try model(), configuration: configuration(epochs: 1, output: "\(root)/parts"))
            .fit(training: training, validation: validation)
        let resumed = try Trainer(model: try model(), configuration: configuration(epochs: 3, output: "\(root)/parts"))
        try resumed.resume(fromCheckpoint: "\(root)/parts/last.safetensors")
        XCTAssertEqual(resumed.weightAverage?.updates, 3)
        _ = try resumed.fit(training: training, validation: validation)
        for file in ["last", "ema", "best"] {
            let a = try SafetensorsFile.read(contentsOf: "\(root)/whole/\(file).safetensors")
            let b = try SafetensorsFile.read(contentsOf: "\(root)/parts/\(file).safetensors")
            XCTAssertEqual(a.names, b.names, file)
            XCTAssertTrue(a.names.contains { $0.hasPrefix("ema.") } == (file == "last"), file)
            for name in a.names {
                XCTAssertTrue(a.tensors[name] == b.tensors[name], "\(file): \(name) differs")
            }
        }
    }

    func testACheckpointWithAnotherAverageIsRefused() throws {
        let dir = try temporaryDirectory(self).path
        _ = try Trainer(model: try model(), configuration: configuration(epochs: 1, output: dir))
            .fit(training: data, validation: nil)
        let path = "\(dir)/last.safetensors"
        var none = configuration(epochs: 2, output: nil)
        none.weightAveraging = nil
        var stochastic = none
        stochastic.stochasticWeightAveraging = StochasticWeightAveraging(start: 2)
        let cases: [(TrainingConfiguration, String)] = [
            (
                none,
                "holds a weight average (decay 0.7, statistics average, warmup true); the configuration has none"
            ),
            (
                configuration(epochs: 2, output: nil, decay: 0.9),
                "the configuration has decay 0.9, statistics average, warmup true"
            ),
            (
                stochastic,
                "the configuration has anneal cos, anneal_epochs 10, lr none, rule swa, start 2, statistics recompute"
            ),
        ]
        for (config, message) in cases {
            let trainer = try Trainer(model: try model(), configuration: config)
            XCTAssertThrowsError(try trainer.resume(fromCheckpoint: path)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        // A checkpoint of a run without an average, resumed with one.
        let noneDir = try temporaryDirectory(self).path
        none.outputDirectory = noneDir
        _ = try Trainer(model: try model(), configuration: none).fit(training: data, validation: nil)
        let trainer = try Trainer(model: try model(), configuration: configuration(epochs: 2, output: nil))
        XCTAssertThrowsError(try trainer.resume(fromCheckpoint: "\(noneDir)/last.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("holds no weight average"), "\(error)")
        }
        // An averaged tensor of another shape, and a malformed update count.
        var reshaped = try SafetensorsFile.read(contentsOf: path)
        reshaped.setTensor(Tensor<Float>(shape: [1]), named: "ema.down.0.0.bias")
        var recount = try SafetensorsFile.read(contentsOf: path)
        recount.metadata["ema.updates"] = "many"
        var negative = recount
        negative.metadata["ema.updates"] = "-3"
        for (bad, message) in [
            (reshaped, "the weight average's tensor 'ema.down.0.0.bias' has shape [1]; the model expects [4]"),
            (recount, "metadata 'ema.updates' is 'many'; expected an integer ≥ 0"),
            (negative, "x: metadata 'ema.updates' is '-3'; expected an integer ≥ 0"),
        ] {
            let trainer = try Trainer(model: try model(), configuration: configuration(epochs: 2, output: nil))
            XCTAssertThrowsError(try trainer.resume(from: TrainingCheckpoint(bad, path: "x"), path: "x")) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        // An average without its metadata.
        var file = try SafetensorsFile.read(contentsOf: path)
        file.metadata = file.metadata.filter { !$0.key.hasPrefix("ema.") }
        XCTAssertThrowsError(try TrainingCheckpoint(file, path: "x.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("has ema.* tensors only"), "\(error)")
        }
    }

    private func batchNormModel() throws -> UNet<Float> {
        var architecture = UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2)
        architecture.normalization = .batch
        return try UNet<Float>(architecture, seed: 1)
    }

    /// Every BatchNorm buffer of `model`, by name.
    private func statistics(_ model: UNet<Float>) -> [String: [Float]] {
        Dictionary(
            uniqueKeysWithValues: model.parameters.all.filter { $0.kind != .trainable }.map {
                ($0.name, $0.value.scalars)
            })
    }

    func testRecomputedStatisticsAreTheMeanOfTheBatchStatistics() throws {
        let model = try batchNormModel()
        var config = TrainingConfiguration()
        config.batchSize = 6
        let trainer = try Trainer(model: model, configuration: config)
        let weights = model.parameters.trainable.map(\.value)
        let momenta = model.batchNorms.map(\.momentum)
        let halves = [data.subset(Array(0..<6)), data.subset(Array(6..<12))]
        var parts: [[String: [Float]]] = []
        for half in halves {
            try trainer.recomputeBatchNormStatistics(on: half)
            parts.append(statistics(model))
        }
        try trainer.recomputeBatchNormStatistics(on: data) // the two halves as its two batches
        let whole = statistics(model)
        XCTAssertEqual(model.parameters.trainable.map(\.value), weights, "the weights do not change")
        XCTAssertEqual(model.batchNorms.map(\.momentum), momenta, "the momentum comes back")
        for (name, values) in whole {
            if name.hasSuffix("num_batches_tracked") {
                XCTAssertEqual(values, [2], name)
                continue
            }
            for (i, value) in values.enumerated() {
                let mean = (parts[0][name]![i] + parts[1][name]![i]) / 2
                XCTAssertEqual(value, mean, accuracy: 2e-6 * max(1, abs(mean)), "\(name)[\(i)]")
            }
        }
        XCTAssertNotEqual(parts[0], parts[1])
    }

    func testRecomputedStatisticsGoIntoTheAveragedModelOnly() throws {
        let dir = try temporaryDirectory(self).path
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        var config = configuration(epochs: 2, output: dir)
        config.weightAveraging?.recomputesStatistics = true
        let trainer = try Trainer(model: try batchNormModel(), configuration: config)
        let summary = try trainer.fit(training: training, validation: validation)
        let averaged = try UNet<Float>.load(contentsOf: "\(dir)/ema.safetensors")
        XCTAssertEqual(
            try SafetensorsFile.read(contentsOf: "\(dir)/ema.safetensors").metadata["ema_statistics"], "recompute")
        // The file's statistics are those a recomputation over the training set gives its weights.
        let saved = statistics(averaged)
        var plain = TrainingConfiguration()
        plain.batchSize = config.batchSize
        let check = try Trainer(model: averaged, configuration: plain)
        try check.recomputeBatchNormStatistics(on: training)
        XCTAssertEqual(statistics(averaged), saved)
        XCTAssertEqual(summary.epochs.last?.validationDice, try check.evaluate(validation).dice)
        // The average keeps the averaged statistics, the model its own.
        let average = try XCTUnwrap(trainer.weightAverage)
        let kept = Dictionary(
            uniqueKeysWithValues: average.parameters.all.filter { $0.kind == .buffer }.map {
                ($0.name, $0.value.scalars)
            })
        XCTAssertNotEqual(kept, saved.filter { !$0.key.hasSuffix("num_batches_tracked") })
        XCTAssertNotEqual(statistics(trainer.model), saved)
    }
}
