// Bad input to the focal, Lovász, Wasserstein Dice and MCC losses: one-line errors that name the
// value, never a trap; and edge cases with a defined value (no class present, all ignored).

import XCTest
@testable import DiceKit

final class LossFamilyErrorTests: XCTestCase {
    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func testErrorsNameTheValue() throws {
        var generator = SeededGenerator(seed: 51)
        let x = Tensor<Double>.normal([1, 3, 3, 3], generator: &generator)
        let labels = try LabelMap(shape: [1, 3, 3], labels: [0, 1, 2, 0, 1, 2, 0, 1, 2])
        let bad = try LabelMap(shape: [1, 3, 3], labels: [0, 1, 7, 0, 1, 2, 0, 1, 2])
        var nan = x; nan.storage[4] = .nan
        let cases: [(any SegmentationLoss, Tensor<Double>, DiceLossTarget<Double>, String)] = [
            (FocalLoss(), nan, .labels(labels), "prediction element 4 is nan"),
            (FocalLoss(), x, .labels(bad), "label 7 at element 2; expected 0..<3"),
            (FocalLoss(), x, .soft(Tensor(shape: [1, 3, 3, 3], repeating: 0.5)), "target element 0 is 0.5; expected 0 or 1"),
            (FocalLoss(activation: .none), x, .labels(labels), "needs logits"),
            (FocalLoss(gamma: -1), x, .labels(labels), "focal gamma is -1.0"),
            (LovaszLoss(variant: .softmax), x, .oneHot(Tensor(shape: [1, 3, 3, 3])), "takes integer labels"),
            (LovaszLoss(variant: .softmax), Tensor<Double>(shape: [1, 3, 3, 1]), .labels(try LabelMap(shape: [1, 3, 3], labels: Array(repeating: 1, count: 9))), "single channel"),
            (WassersteinDiceLoss(distanceMatrix: [0, 1, 1, 0]), x, .labels(labels), "4 entries; expected 3×3"),
            (WassersteinDiceLoss(distanceMatrix: [0, 1, 1, 1, 0.5, 1, 1, 1, 0]), x, .labels(labels), "entry [1, 1] is 0.5"),
            (WassersteinDiceLoss(distanceMatrix: WassersteinDiceLoss.uniformDistances(classes: 3)), x,
             .labels(try LabelMap(shape: [1, 3], labels: [0, 1, 2])), "label shape [1, 3] does not match"),
            (MCCLoss(), x, .oneHot(Tensor(shape: [1, 3, 3, 3], repeating: 2)), "target element 0 is 2.0; expected values in [0, 1]"),
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
        let ignored = try lovasz.evaluate(x, target: .labels(try LabelMap(shape: [2, 2, 2], labels: Array(repeating: 255, count: 8))), gradient: true)
        XCTAssertEqual(ignored.value, 0)
        XCTAssertTrue(ignored.gradient!.scalars.allSatisfy { $0 == 0 })
        // Only background present: the Lovász-softmax loss of that class alone; the focal loss is finite.
        let background = try LabelMap(shape: [2, 2, 2], labels: Array(repeating: 0, count: 8))
        XCTAssertTrue(try lovasz.evaluate(x, target: .labels(background), gradient: true).value.isFinite)
        XCTAssertTrue(try FocalLoss(activation: .softmax).evaluate(x, target: .labels(background), gradient: true).value.isFinite)
        // Saturated logits keep the focal loss and its gradient finite.
        let huge = Tensor<Float>(uncheckedShape: [1, 1, 2, 2], storage: [80, -80, 80, -80])
        let mask = try LabelMap(shape: [1, 1, 2], labels: [0, 0])
        for loss in [FocalLoss(gamma: 2, alpha: 0.25), FocalLoss(gamma: 0.5)] {
            let r = try loss.evaluate(huge, target: .labels(mask), gradient: true)
            XCTAssertTrue(r.value.isFinite && r.gradient!.scalars.allSatisfy(\.isFinite))
        }
        let r = try FocalLoss(activation: .softmax, gamma: 0.5).evaluate(huge, target: .labels(try LabelMap(shape: [1, 1, 2], labels: [0, 1])), gradient: true)
        XCTAssertTrue(r.value.isFinite && r.gradient!.scalars.allSatisfy(\.isFinite))
    }
}

/// The focal loss's AVX-512 kernel (Float, channels-last labels, C dividing 16) against Double and
/// against the Swift loop, including the scalar tail (position counts not a multiple of 16/C).
final class FocalKernelTests: XCTestCase {
    func testKernelAgreesWithDoubleAndTheSwiftLoop() throws {
        var generator = SeededGenerator(seed: 61)
        for (shape, gamma, alpha, exclude) in [([2, 9, 7, 4], 2.0, 0.25, false), ([3, 5, 13, 2], 0.0, nil, false),
                                               ([2, 11, 3, 1], 3.0, 0.75, false), ([1, 8, 8, 8], 1.0, nil, true),
                                               ([2, 3, 5, 16], 2.0, 0.5, false)] as [([Int], Double, Double?, Bool)] {
            let x = Tensor<Float>.normal(shape, standardDeviation: 4, generator: &generator)
            let c = shape.last!, positions = shape.dropLast().reduce(1, *)
            let labels = try LabelMap(shape: Array(shape.dropLast()), labels: (0..<positions).map { _ in Int(generator.next() % UInt64(max(c, 2))) })
            var loss = FocalLoss(gamma: gamma, alpha: alpha)
            loss.excludeBackground = exclude
            if exclude { loss.classWeights = (1..<c).map { Double($0) / 3 } }
            for reduction in [LossReduction.mean, .sum] {
                loss.reduction = reduction
                let reference = try loss.evaluate(x.converted(to: Double.self), target: .labels(labels), gradient: true)
                let fast = try loss.evaluate(x, target: .labels(labels), gradient: true)
                FocalLoss.kernelEnabled = false
                defer { FocalLoss.kernelEnabled = true }
                let slow = try loss.evaluate(x, target: .labels(labels), gradient: true)
                let what = "\(shape) γ \(gamma) \(reduction)"
                XCTAssertEqual(Double(fast.value), reference.value, accuracy: 2e-6 * abs(reference.value), what)
                XCTAssertLessThanOrEqual(scaledError(fast.gradient!.converted(to: Double.self), reference.gradient!), 2e-6, what)
                XCTAssertLessThanOrEqual(scaledError(fast.gradient!, slow.gradient!), 2e-6, what)
            }
        }
    }
}
