// Outputs that are not finite: `Predictor.requireFinite` names how many and the first (position,
// channel), and a trainer's `evaluate` counts such a batch's loss as NaN (a training run's
// validation) or, with `rejectsNonFiniteOutputs` (`dicekit eval`), throws.

import XCTest

@testable import DiceKit

final class NonFiniteOutputTests: XCTestCase {
    func testRequireFiniteNamesTheFirstValueAndTheCount() throws {
        var scores = Tensor<Float>(shape: [1, 2, 2, 3], repeating: 0.5)
        XCTAssertNoThrow(try Predictor.requireFinite(scores, of: "the logits"))
        scores[0, 0, 1, 1] = .nan // element 4: position 1, channel 1
        scores[0, 1, 1, 2] = -.infinity
        XCTAssertThrowsError(try Predictor.requireFinite(scores, of: "the logits")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("the logits are not finite: 2 of 12 values"), message)
            XCTAssertTrue(message.contains("the first nan at position 1, channel 1"), message)
        }
        scores[0, 0, 1, 1] = 0
        XCTAssertThrowsError(try Predictor.requireFinite(scores, of: "x")) { error in
            XCTAssertTrue("\(error)".contains("1 of 12 values, the first -inf at position 3, channel 2"), "\(error)")
        }
    }

    func testEvaluateCountsOrRejectsOutputsThatOverflow() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 2, seed: 3, configuration: .init(size: 16))
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 1), seed: 1)
        // Every kernel × 10²⁰: four layers deep the logits overflow Float.
        for parameter in model.parameters.all where parameter.name.hasSuffix("weight") {
            parameter.value = try Tensor(
                shape: parameter.value.shape, scalars: parameter.value.scalars.map { $0 * 1e20 })
        }
        let trainer = try Trainer(model: model, configuration: TrainingConfiguration())
        XCTAssertTrue(try trainer.evaluate(data).loss.isNaN)
        trainer.rejectsNonFiniteOutputs = true
        XCTAssertThrowsError(try trainer.evaluate(data)) { error in
            XCTAssertTrue("\(error)".contains("the model's logits are not finite"), "\(error)")
        }
        XCTAssertThrowsError(
            try trainer.evaluate(data, ensemble: try Ensemble([model, model], combination: .mean))
        ) { error in
            XCTAssertTrue("\(error)".contains("the ensemble's probabilities are not finite"), "\(error)")
        }
    }
}
