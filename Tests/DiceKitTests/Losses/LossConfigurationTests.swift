// The typed loss configuration: each variant carries only its own hyper-parameters, the seed
// presets are factories whose ε replaces the smoothing, and the defaults have one source.

import XCTest

@testable import DiceKit

final class LossConfigurationTests: XCTestCase {
    func testVariantsFromNamesTakeOnlyTheirOwnHyperParameters() {
        for name in DiceVariant.Name.allCases {
            XCTAssertEqual(DiceVariant(name).name, name)
        }
        XCTAssertEqual(DiceVariant(.dice, alpha: 9, beta: 9, gamma: 9, weighting: .uniform), .dice)
        XCTAssertEqual(
            DiceVariant(.tversky, alpha: 0.2, gamma: 3), .tversky(alpha: 0.2, beta: DiceVariant.defaultTverskyBeta))
        XCTAssertEqual(DiceVariant(.focalTversky, beta: 0.9, gamma: 2), .focalTversky(alpha: 0.5, beta: 0.9, gamma: 2))
        XCTAssertEqual(DiceVariant(.generalized, alpha: 0.1, weighting: .simple), .generalized(weighting: .simple))
        XCTAssertEqual(DiceVariant.focalTversky(), .focalTversky(alpha: 0.5, beta: 0.5, gamma: 0.75))
        XCTAssertEqual(DiceVariant.generalized(), .generalized(weighting: .square))
        XCTAssertEqual(DiceVariant.Name(rawValue: "focal-tversky"), .focalTversky)
        XCTAssertEqual(SeedPreset.weighted(classWeights: [1, 2]).name.rawValue, "seed-weighted")
        XCTAssertEqual(SeedPreset.weighted(classWeights: [1, 2]).classWeights, [1, 2])
        XCTAssertNil(SeedPreset.basic.classWeights)
    }

    func testTrainerObjectivesReadTheLibraryDefaults() throws {
        let tversky = try XCTUnwrap(LossKind.tversky.loss(classes: 3) as? DiceLoss)
        XCTAssertEqual(tversky.variant, .tversky(alpha: 0.3, beta: 0.7))
        let focal = try XCTUnwrap(LossKind.focalTversky.loss(classes: 3) as? DiceLoss)
        XCTAssertEqual(focal.variant, .focalTversky(alpha: 0.3, beta: 0.7, gamma: DiceVariant.defaultFocalTverskyGamma))
        let generalized = try XCTUnwrap(LossKind.generalized.loss(classes: 3) as? DiceLoss)
        XCTAssertEqual(generalized.variant, .generalized(weighting: DiceVariant.defaultGeneralizedWeighting))
        XCTAssertEqual(generalized.smoothNumerator, DiceLoss.defaultSmoothing)
        XCTAssertEqual((LossKind.focal.loss(classes: 3) as? FocalLoss)?.gamma, FocalLoss.defaultGamma)
    }

    /// seed-multiclass (per class, mean over the batch, mean over the classes) is the MONAI form's
    /// mean over all pairs with ε as both smoothings: the preset's ε is what reaches the formula.
    func testSeedPresetEpsilonIsTheSmoothing() throws {
        var generator = SeededGenerator(seed: 77)
        let x = Tensor<Double>.normal([2, 3, 4, 3], generator: &generator)
        let labels = try LabelMap(shape: [2, 3, 4], labels: (0..<24).map { $0 % 3 })
        let preset = DiceLoss.seed(.multiclass, epsilon: 0.25, activation: .softmax)
        XCTAssertEqual(preset.preset, .multiclass)
        XCTAssertEqual(preset.epsilon, 0.25)
        XCTAssertNil(DiceLoss().preset)
        XCTAssertNil(DiceLoss().epsilon)
        var monai = DiceLoss(activation: .softmax)
        monai.smoothNumerator = 0.25
        monai.smoothDenominator = 0.25
        let a = try preset.evaluate(x, target: .labels(labels), gradient: true)
        let b = try monai.evaluate(x, target: .labels(labels), gradient: true)
        XCTAssertEqual(a.value, b.value, accuracy: 1e-14)
        XCTAssertLessThanOrEqual(scaledError(a.gradient!, b.gradient!), 1e-14)
        // The preset ignores the loss's own smoothing; with the default ε the value differs.
        var ignored = preset
        ignored.smoothNumerator = 3
        XCTAssertEqual(try ignored.evaluate(x, target: .labels(labels)).value, a.value)
        XCTAssertNotEqual(
            try DiceLoss.seed(.multiclass, activation: .softmax).evaluate(x, target: .labels(labels)).value, a.value)
    }
}
