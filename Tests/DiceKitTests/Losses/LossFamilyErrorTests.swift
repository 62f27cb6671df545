// Bad input to the focal, Lovász, Wasserstein Dice and MCC losses: one-line errors that name the
// value, never a trap; and edge cases with a defined value (no class present, all ignored).

import XCTest

@testable import DiceKit

final class LossFamilyErrorTests: XCTestCase {
    func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch { return "\(error)" }
    }

    func testErrorsNameTheValue() throws {
        var generator = SeededGenerator(seed: 51)
        let x = Tensor<Double>.normal([1, 3, 3, 3], generator: &generator)
        let labels = try LabelMap(shape: [1, 3, 3], labels: [0, 1, 2, 0, 1, 2, 0, 1, 2])
        let bad = try LabelMap(shape: [1, 3, 3], labels: [0, 1, 7, 0, 1, 2, 0, 1, 2])
        var nan = x
        nan.storage[4] = .nan
        let cases: [(any SegmentationLoss, Tensor<Double>, SegmentationTarget<Double>, String)] = [
            (FocalLoss(), nan, .labels(labels), "prediction element 4 is nan"),
            (FocalLoss(), x, .labels(bad), "label 7 at element 2; expected 0..<3"),
            (
                FocalLoss(), x, .soft(Tensor(shape: [1, 3, 3, 3], repeating: 0.5)),
                "target element 0 is 0.5; expected 0 or 1"
            ),
            (FocalLoss(activation: .none), x, .labels(labels), "needs logits"),
            (FocalLoss(gamma: -1), x, .labels(labels), "focal gamma is -1.0"),
            (LovaszLoss(variant: .softmax), x, .oneHot(Tensor(shape: [1, 3, 3, 3])), "takes integer labels"),
            (
                LovaszLoss(variant: .softmax), Tensor<Double>(shape: [1, 3, 3, 1]),
                .labels(try LabelMap(shape: [1, 3, 3], labels: Array(repeating: 1, count: 9))), "single channel"
            ),
            (WassersteinDiceLoss(distanceMatrix: [0, 1, 1, 0]), x, .labels(labels), "4 entries; expected 3×3"),
            (
                WassersteinDiceLoss(distanceMatrix: [0, 1, 1, 1, 0.5, 1, 1, 1, 0]), x, .labels(labels),
                "entry [1, 1] is 0.5"
            ),
            (
                WassersteinDiceLoss(distanceMatrix: [Double](repeating: 0, count: 9)), x, .labels(labels),
                "distance matrix is all zeros"
            ),
            (
                WassersteinDiceLoss(distanceMatrix: WassersteinDiceLoss.uniformDistances(classes: 3)), x,
                .labels(try LabelMap(shape: [1, 3], labels: [0, 1, 2])), "label shape [1, 3] does not match"
            ),
            (
                MCCLoss(), x, .oneHot(Tensor(shape: [1, 3, 3, 3], repeating: 2)),
                "target element 0 is 2.0; expected values in [0, 1]"
            ),
        ]
        for (loss, input, target, expected) in cases {
            let text = message { _ = try loss.evaluate(input, target: target, gradient: true) }
            XCTAssertTrue(text.contains(expected), "\(type(of: loss)): \(text)")
            XCTAssertFalse(text.contains("\n"), text)
        }
    }

    func testDefinedEdgeCases() throws {
        var generator = SeededGenerator(seed: 52)
        let x = Tensor<Double>.normal([2, 2, 2, 3], generator: &generator)
        // Every position ignored: Lovász gives 0 with a zero gradient.
        var lovasz = LovaszLoss(variant: .softmax, perImage: true)
        lovasz.ignoreIndex = 255
        let ignored = try lovasz.evaluate(
            x, target: .labels(try LabelMap(shape: [2, 2, 2], labels: Array(repeating: 255, count: 8))), gradient: true)
        XCTAssertEqual(ignored.value, 0)
        XCTAssertTrue(ignored.gradient!.scalars.allSatisfy { $0 == 0 })
        // Only background present: the Lovász-softmax loss of that class alone; the focal loss is finite.
        let background = try LabelMap(shape: [2, 2, 2], labels: Array(repeating: 0, count: 8))
        XCTAssertTrue(try lovasz.evaluate(x, target: .labels(background), gradient: true).value.isFinite)
        XCTAssertTrue(
            try FocalLoss(activation: .softmax).evaluate(x, target: .labels(background), gradient: true).value.isFinite)
        // Saturated logits keep the focal loss and its gradient finite.
        let huge = Tensor<Float>(uncheckedShape: [1, 1, 2, 2], storage: [80, -80, 80, -80])
        let mask = try LabelMap(shape: [1, 1, 2], labels: [0, 0])
        for loss in [FocalLoss(gamma: 2, alpha: 0.25), FocalLoss(gamma: 0.5)] {
            let r = try loss.evaluate(huge, target: .labels(mask), gradient: true)
            XCTAssertTrue(r.value.isFinite && r.gradient!.scalars.allSatisfy(\.isFinite))
        }
        let r = try FocalLoss(activation: .softmax, gamma: 0.5).evaluate(
            huge, target: .labels(try LabelMap(shape: [1, 1, 2], labels: [0, 1])), gradient: true)
        XCTAssertTrue(r.value.isFinite && r.gradient!.scalars.allSatisfy(\.isFinite))
    }
}
