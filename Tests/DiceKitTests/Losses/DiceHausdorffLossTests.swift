// DiceHausdorffLoss: its value is λ_dice·Dice + λ_hd·HausdorffDT of the two terms evaluated alone,
// its gradient against central differences in Double, and its one-line errors.

import XCTest

@testable import DiceKit

final class DiceHausdorffLossTests: XCTestCase {
    func testValueAndGradientAreTheWeightedTerms() throws {
        var generator = SeededGenerator(seed: 21)
        let x = Tensor<Double>.normal([2, 7, 6, 3], standardDeviation: 2, generator: &generator)
        let labels = try LabelMap(shape: [2, 7, 6], labels: (0..<84).map { ($0 / 5 + $0 / 19) % 3 })
        var loss = DiceHausdorffLoss(activation: .softmax, alpha: 1.5)
        loss.diceWeight = 0.7
        loss.hausdorffWeight = 0.25
        loss.dice.classWeights = [0.5, 1, 2]
        let result = try loss.evaluate(x, target: .labels(labels), gradient: true)
        let dice = try loss.dice.evaluate(x, target: .labels(labels), gradient: true)
        let hausdorff = try loss.hausdorff.evaluate(x, target: .labels(labels), gradient: true)
        XCTAssertEqual(result.value, 0.7 * dice.value + 0.25 * hausdorff.value, accuracy: 1e-14)
        XCTAssertGreaterThan(hausdorff.value, 0)
        let expected = 0.7 * dice.gradient! + 0.25 * hausdorff.gradient!
        XCTAssertLessThanOrEqual(scaledError(result.gradient!, expected), 1e-14)
        XCTAssertEqual(loss.hausdorff.alpha, 1.5)
        XCTAssertTrue(loss.hausdorff.excludeBackground, "MONAI's HausdorffDTLoss default")
        XCTAssertFalse(loss.dice.excludeBackground, "MONAI's DiceLoss default")
    }

    func testGradientMatchesCentralDifferences() throws {
        var generator = SeededGenerator(seed: 22)
        let labels = try LabelMap(shape: [2, 6, 5], labels: (0..<60).map { ($0 / 4 + $0 / 13) % 3 })
        for (activation, reduction) in [(DiceActivation.softmax, LossReduction.mean), (.sigmoid, .sum)] {
            let x = Tensor<Double>.normal([2, 6, 5, 3], standardDeviation: 2, generator: &generator)
            var loss = DiceHausdorffLoss(activation: activation, reduction: reduction)
            loss.hausdorffWeight = 0.4
            loss.dice.batch = true
            let result = try loss.evaluate(x, target: .labels(labels), gradient: true)
            try assertGradient(result.gradient, at: x, step: 1e-6, "\(activation) \(reduction)") {
                Double(try loss.evaluate($0, target: .labels(labels), gradient: false).value)
            }
        }
    }

    func testBadSettingsAreOneLineErrors() throws {
        let x = Tensor<Double>(shape: [1, 4, 4, 2])
        let labels = try LabelMap(shape: [1, 4, 4], labels: (0..<16).map { $0 % 2 })
        var negative = DiceHausdorffLoss(activation: .softmax)
        negative.hausdorffWeight = -1
        assertError(
            try negative.evaluate(x, target: .labels(labels), gradient: false), contains: "hausdorff weight is -1.0")
        let none = DiceHausdorffLoss(activation: .softmax, reduction: .none)
        assertError(
            try none.evaluate(x, target: .labels(labels), gradient: false),
            contains: "dice-hausdorff with reduction none")
        var layouts = DiceHausdorffLoss(activation: .softmax)
        layouts.hausdorff.layout = .channelsFirst
        assertError(try layouts.evaluate(x, target: .labels(labels), gradient: false), contains: "expected one layout")
        var alpha = DiceHausdorffLoss(activation: .softmax)
        alpha.hausdorff.alpha = .infinity
        assertError(try alpha.evaluate(x, target: .labels(labels), gradient: false), contains: "alpha is inf")
    }
}
