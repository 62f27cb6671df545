// The softmax focal loss's AVX-512 kernel (Sources/CDiceKitKernels/focal/focal_softmax_avx512.c)
// against Double and the Swift loop it replaces, at every instruction-set level this CPU runs.

import XCTest

@testable import DiceKit

/// The softmax focal kernel (Float, channels-last labels, C ≤ 16, whole γ) on odd position counts
/// (the masked last step), C = 4 (the transposed path) with and without the background, class
/// weights and α, at every level.
final class FocalSoftmaxKernelTests: XCTestCase {
    func testKernelAgreesWithDoubleAndTheSwiftLoopAtEveryLevel() throws {
        var generator = SeededGenerator(seed: 67)
        for (shape, gamma, alpha, exclude) in [
            ([2, 9, 7, 4], 2.0, 0.25, false), ([3, 5, 13, 2], 0.0, nil, false),
            ([2, 11, 3, 3], 3.0, nil, true), ([1, 8, 8, 5], 1.0, 0.75, false),
            ([2, 3, 5, 16], 2.0, nil, false), ([1, 1, 17, 7], 8.0, nil, true), ([3, 4, 16, 4], 2.0, nil, true),
        ] as [([Int], Double, Double?, Bool)] {
            let x = Tensor<Float>.normal(shape, standardDeviation: 4, generator: &generator)
            let c = shape.last!
            let positions = shape.dropLast().reduce(1, *)
            let labels = try LabelMap(
                shape: Array(shape.dropLast()), labels: (0..<positions).map { _ in Int(generator.next() % UInt64(c)) })
            var loss = FocalLoss(activation: .softmax, gamma: gamma, alpha: alpha)
            loss.excludeBackground = exclude
            if exclude { loss.classWeights = (1..<c).map { Double($0) / 3 } }
            for reduction in [LossReduction.mean, .sum] {
                loss.reduction = reduction
                let reference = try loss.evaluate(x.converted(to: Double.self), target: .labels(labels), gradient: true)
                var swiftLoop = loss
                swiftLoop.kernelEnabled = false
                let slow = try swiftLoop.evaluate(x, target: .labels(labels), gradient: true)
                for isa in InstructionSet.available {
                    let fast = try KernelDispatch.withInstructionSet(isa) {
                        try loss.evaluate(x, target: .labels(labels), gradient: true)
                    }
                    let what = "\(shape) γ \(gamma) \(reduction) \(isa)"
                    XCTAssertEqual(Double(fast.value), reference.value, accuracy: 2e-6 * abs(reference.value), what)
                    XCTAssertEqual(Double(fast.value), Double(slow.value), accuracy: 2e-6 * abs(reference.value), what)
                    XCTAssertLessThanOrEqual(
                        scaledError(fast.gradient!.converted(to: Double.self), reference.gradient!), 2e-6, what)
                    XCTAssertLessThanOrEqual(scaledError(fast.gradient!, slow.gradient!), 2e-6, what)
                    if exclude {
                        let background = stride(from: 0, to: x.count, by: c).map { fast.gradient!.scalars[$0] }
                        XCTAssertEqual(Set(background), [0], "excluded channel's gradient, \(what)")
                    }
                }
            }
        }
    }

    func testNonFiniteLogitsGiveTheSameErrorAsTheSwiftLoop() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            var scalars = [Float](repeating: 0.5, count: 2 * 5 * 3)
            scalars[13] = bad
            let x = try Tensor<Float>(shape: [2, 5, 3], scalars: scalars)
            let labels = try LabelMap(shape: [2, 5], labels: (0..<10).map { $0 % 3 })
            var swiftLoop = FocalLoss(activation: .softmax)
            swiftLoop.kernelEnabled = false
            let messages = [FocalLoss(activation: .softmax), swiftLoop].map { lossErrorMessage($0, x, .labels(labels)) }
            XCTAssertEqual(messages[0], messages[1])
            XCTAssertTrue(messages[0].contains("element 13"), messages[0])
            XCTAssertFalse(messages[0].contains("\n"), messages[0])
        }
    }
}
