// `Trainer` with `TrainingConfiguration.deepSupervision`: the heads are added and trained, the
// step's loss is the weighted sum over the outputs (checked against DeepSupervisionLoss on the
// same outputs), repeated steps lower it, and the level count is checked against the depth.

import XCTest

@testable import DiceKit

final class TrainerDeepSupervisionTests: XCTestCase {
    private let architecture = UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 3)

    func testTheStepLossIsTheWeightedSumAndRepeatedStepsLowerIt() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 6, configuration: .init(size: 32))
        let batch = try data.batches(size: 4).batch(0)
        for weighting in [DeepSupervisionWeighting.exp, .two, .same, .explicit([1, 0.3])] {
            var config = TrainingConfiguration()
            config.learningRate = 1e-2
            config.augmentation = .none
            config.deepSupervision = weighting
            if case .explicit = weighting { config.deepSupervisionLevels = 2 }
            let model = try UNet<Float>(architecture, seed: 2)
            let trainer = try Trainer(model: model, configuration: config)
            let outputs = if case .explicit = weighting { 2 } else { 3 }
            XCTAssertEqual(model.deepSupervisionOutputs, outputs)

            // The loss of the first step, computed beside the trainer from the same weights.
            let expected = try DeepSupervisionLoss(loss: config.loss.loss(classes: 2), weighting: weighting).evaluate(
                model.forwardDeepSupervision(batch.images, mode: .training),
                target: .labels(try LabelMap(shape: batch.labelShape, int32Labels: batch.labels)), gradient: false)
            let head = model.parameters["deep_supervision.1.weight"]!.value
            let first = try trainer.trainStep(batch)
            XCTAssertEqual(first, Double(expected.value), accuracy: 1e-6 * max(1, abs(first)), "\(weighting)")
            XCTAssertNotEqual(model.parameters["deep_supervision.1.weight"]!.value, head, "the heads train")
            var last = first
            for _ in 0..<6 { last = try trainer.trainStep(batch) }
            XCTAssertLessThan(last, first, "\(weighting): \(first) → \(last)")
        }
    }

    func testLevelsBeyondTheDepthAreRefused() throws {
        var config = TrainingConfiguration()
        config.deepSupervision = .exp
        config.deepSupervisionLevels = 4
        XCTAssertThrowsError(try Trainer(model: try UNet<Float>(architecture), configuration: config)) {
            XCTAssertTrue("\($0)".contains("2...3"), "\($0)")
        }
        config.deepSupervisionLevels = 1
        XCTAssertThrowsError(try Trainer(model: try UNet<Float>(architecture), configuration: config))
        config.deepSupervisionLevels = nil
        config.deepSupervision = .explicit([1, 0.5])
        XCTAssertThrowsError(try Trainer(model: try UNet<Float>(architecture), configuration: config)) {
            XCTAssertTrue("\($0)".contains("3 finite weights"), "\($0)")
        }
    }
}
