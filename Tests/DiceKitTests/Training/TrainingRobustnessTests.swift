// Plots, logs and checkpoints that survive any value and any interruption: curves.svg with
// 1e300, NaN and ±∞ losses, tick labels at 0.25 steps, the log-scale loss axis, null in JSON
// read back as NaN, the one-file training checkpoint, leftovers of killed writes, and a
// diverging Trainer.

import Foundation
import XCTest

@testable import DiceKit

final class TrainingRobustnessTests: XCTestCase {
    private func epoch(_ n: Int, loss: Double, validationLoss: Double? = 0.5, dice: [Double] = [0.9, 0.6])
        -> EpochMetrics
    {
        EpochMetrics(
            epoch: n, trainLoss: loss, validationLoss: validationLoss, validationDice: dice, validationIoU: dice,
            learningRate: 1e-3, seconds: 1, imagesPerSecond: 10)
    }

    func testCurvesDrawAnyFiniteOrNonFiniteValue() {
        let losses: [Double] = [0.9, 8e37, 1e300, .greatestFiniteMagnitude, .nan, .infinity, -.infinity, 0.2, -3, 0]
        let epochs = losses.enumerated().map {
            epoch(
                $0.offset + 1, loss: $0.element, validationLoss: $0.element,
                dice: [.nan, $0.element])
        }
        for run in [
            epochs, Array(epochs.prefix(4)), [epoch(1, loss: .nan, validationLoss: nil, dice: [])],
            [epoch(1, loss: 1e300)],
        ] {
            let svg = CurvePlot.svg(run)
            XCTAssertEqual(balancedTags(svg), "svg", "well-formed")
            XCTAssertFalse(svg.contains("nan") || svg.contains("inf"), "every coordinate and label is finite")
        }
        // Only positive finite losses: a log axis spanning them, 1e300 included.
        let huge = CurvePlot.svg(Array(epochs.prefix(4)))
        XCTAssertTrue(huge.contains("log scale") && huge.contains(">1e+300<") && huge.contains(">0.1<"), huge)
        // A NaN breaks the line into two segments rather than dropping the points around it.
        let gap = CurvePlot.svg([
            epoch(1, loss: 1), epoch(2, loss: 0.5), epoch(3, loss: .nan), epoch(4, loss: 0.3), epoch(5, loss: 0.2),
        ])
        let trainPath = gap.split(separator: "\n").first { $0.contains("stroke=\"#1f77b4\" stroke-width") }!
        XCTAssertEqual(trainPath.filter { $0 == "M" }.count, 2, String(trainPath))
    }

    func testTickLabelsShowTheirStep() {
        XCTAssertEqual(
            [0, 0.25, 0.5, 0.75, 1, 1.25].map { CurvePlot.label($0, step: 0.25) },
            ["0", "0.25", "0.5", "0.75", "1", "1.25"])
        XCTAssertEqual([0.1, 0.3, 0.7000000000000001].map { CurvePlot.label($0, step: 0.1) }, ["0.1", "0.3", "0.7"])
        XCTAssertEqual(CurvePlot.label(-0.0, step: 0.5), "0")
        XCTAssertEqual(CurvePlot.label(2e30, step: 1e30), "2e+30")
        let range = CurvePlot.niceRange(0, 1.2, includeZero: true)
        XCTAssertEqual(range.2, 0.25)
        let linear = CurvePlot.Axis.linear(range.0, range.1, step: range.2)
        XCTAssertEqual(linear.ticks.map(\.label), ["0", "0.25", "0.5", "0.75", "1", "1.25"])
        XCTAssertFalse(CurvePlot.Axis.forLoss([0.3, -0.1]).logarithmic, "a loss ≤ 0 keeps the linear axis")
        let log = CurvePlot.Axis.forLoss([0.9, 0.2, .nan])
        XCTAssertTrue(log.logarithmic)
        XCTAssertEqual(log.ticks.map(\.label).sorted { Double($0)! < Double($1)! }, ["0.1", "0.2", "0.5", "1"])
        XCTAssertEqual(log.fraction(0.1), 0)
        XCTAssertEqual(log.fraction(1), 1)
        XCTAssertEqual(log.fraction(.nan), 0)
        XCTAssertEqual(log.fraction(1e300), 1, "clamped")
        let wide = CurvePlot.Axis.forLoss([1e-3, 1e300])
        XCTAssertLessThanOrEqual(wide.ticks.count, 8)
    }

    func testNonFiniteFiguresAreWrittenAsNullAndReadBack() throws {
        let metrics = EpochMetrics(
            epoch: 4, trainLoss: .nan, validationLoss: .infinity, validationDice: [0.5, .nan, -.infinity],
            validationIoU: [0.25, .nan, .nan], learningRate: 1e300, seconds: .infinity, imagesPerSecond: .nan)
        let line = metrics.json.encoded
        XCTAssertTrue(line.contains("\"train_loss\":null") && line.contains("\"val_loss\":null"), line)
        XCTAssertFalse(line.contains("nan") || line.contains("inf"), line)
        let back = try XCTUnwrap(EpochMetrics(jsonLine: line))
        XCTAssertEqual(back.epoch, 4)
        XCTAssertTrue(back.trainLoss.isNaN)
        XCTAssertNil(back.validationLoss, "null val_loss reads as absent")
        XCTAssertEqual(back.validationDice.count, 3)
        XCTAssertEqual(back.validationDice[0], 0.5)
        XCTAssertTrue(back.validationDice[1].isNaN && back.validationDice[2].isNaN)
        XCTAssertEqual(back.learningRate, 1e300)
        // Doubles come back bit for bit.
        var generator = SeededGenerator(seed: 9)
        for _ in 0..<200 {
            let x = Double(Float.random(in: 0..<1, using: &generator)) / 3
            XCTAssertEqual(EpochMetrics(jsonLine: epoch(1, loss: x).json.encoded)?.trainLoss, x)
        }
        let summary = TrainingSummary(epochs: [metrics], diverged: "training diverged", skippedSteps: 2, seconds: .nan)
        let object = try JSONSerialization.jsonObject(with: Data(summary.json.prettyEncoded.utf8)) as! [String: Any]
        XCTAssertTrue(object["seconds"] is NSNull)
        XCTAssertEqual(object["skipped_steps"] as? Int, 2)
        XCTAssertEqual(object["diverged"] as? String, "training diverged")
        XCTAssertEqual(ProgressReporter.duration(1e300), "--:--")
    }

    func testTrainingCheckpointIsOneFileThatModelLoadersAccept() throws {
        let dir = try temporaryDirectory(self).path
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
        var config = TrainingConfiguration()
        config.recordedOptions = ["size": "32", "data": "synthetic"]
        let trainer = try Trainer(model: model, configuration: config)
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 1, configuration: .init(size: 32))
        _ = try trainer.trainStep(try data.batches(size: 4).batch(0))
        try trainer.saveCheckpoint(to: "\(dir)/last.safetensors", epoch: 0) // epoch 0: refused on reading below
        XCTAssertThrowsError(try TrainingCheckpoint.read(contentsOf: "\(dir)/last.safetensors")) {
            XCTAssertTrue("\($0)".contains("'epoch' is '0'"), "\($0)")
        }
        var file = try SafetensorsFile.read(contentsOf: "\(dir)/last.safetensors")
        file.metadata["epoch"] = "1"
        file.metadata["dicekit.history"] = JSONValue.array([epoch(1, loss: 0.5).json]).encoded
        try file.write(to: "\(dir)/last.safetensors")
        let checkpoint = try TrainingCheckpoint.read(contentsOf: "\(dir)/last.safetensors")
        XCTAssertEqual(checkpoint.options, ["size": "32", "data": "synthetic"])
        XCTAssertEqual(checkpoint.optimizerState, trainer.optimizer.stateDict().safetensors)
        XCTAssertEqual(checkpoint.model.names, model.parameters.stateDict().names)
        // UNet.load skips the optimiser's tensors; the weights are the trained ones.
        let loaded = try UNet<Float>.load(contentsOf: "\(dir)/last.safetensors")
        XCTAssertEqual(loaded.parameters.stateDict().tensors, model.parameters.stateDict().tensors)
        // A model-only file is refused for resuming, naming last.safetensors.
        try trainer.saveModel(to: "\(dir)/best.safetensors", epoch: 1)
        XCTAssertFalse(
            try SafetensorsFile.read(contentsOf: "\(dir)/best.safetensors").names.contains {
                $0.hasPrefix("optimizer.")
            })
        XCTAssertThrowsError(try trainer.resume(fromCheckpoint: "\(dir)/best.safetensors")) {
            XCTAssertTrue("\($0)".contains("resume from last.safetensors"), "\($0)")
        }
        // A history that does not hold epochs 1…epoch is refused.
        file.metadata["epoch"] = "2"
        try file.write(to: "\(dir)/bad.safetensors")
        XCTAssertThrowsError(try TrainingCheckpoint.read(contentsOf: "\(dir)/bad.safetensors")) {
            XCTAssertTrue("\($0)".contains("expected 1…2"), "\($0)")
        }
    }

    func testLeftoversOfKilledWritesAreRemoved() throws {
        let dir = try temporaryDirectory(self).path
        let dead = "\(dir)/.last.safetensors.tmp-2147483646-12345" // no such process
        let mine = "\(dir)/.last.safetensors.tmp-\(getpid())-7" // a write of this process: kept
        let other = "\(dir)/.notes.tmp-x" // not one of ours
        for path in [dead, mine, other, "\(dir)/last.safetensors"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1])))
        }
        AtomicFile.removeLeftovers(in: dir)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
            [".last.safetensors.tmp-\(getpid())-7", ".notes.tmp-x", "last.safetensors"])
    }

    func testADivergingTrainerStopsBeforeTheUpdateAndWritesItsSummary() throws {
        let dir = try temporaryDirectory(self).path
        let model = try UNet<Float>(
            UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2, normalization: .none), seed: 1)
        let head = model.parameters["head.weight"]!
        head.value = head.value.map { _ in .nan }
        let before = model.parameters.stateDict()
        var config = TrainingConfiguration()
        config.epochs = 2
        config.batchSize = 4
        config.outputDirectory = dir
        let data = try SegmentationDataset.syntheticPolyps(count: 8, seed: 1, configuration: .init(size: 32))
        let trainer = try Trainer(model: model, configuration: config)
        XCTAssertThrowsError(try trainer.fit(training: data, validation: nil)) { error in
            guard let divergence = error as? TrainingDivergence else { return XCTFail("\(error)") }
            XCTAssertEqual(
                "\(divergence)",
                "training diverged at epoch 1, step 1: loss is nan; no checkpoint kept (no epoch finished, or no output directory)"
            )
            XCTAssertEqual(divergence.summary.epochs.count, 0)
        }
        XCTAssertEqual(trainer.optimizer.stepCount, 0, "no update")
        XCTAssertEqual(model.parameters.stateDict().encode(), before.encode())
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/summary.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/curves.svg"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/last.safetensors"))
        XCTAssertThrowsError(try NonFinitePolicy(name: "skip:0"))
        XCTAssertEqual(try NonFinitePolicy(name: "skip"), .skip(maxConsecutive: 10))
    }
}
