// The focal loss's vector kernels (Sources/CDiceKitKernels/focal/focal_sigmoid_avx512.c and _avx2.c) against
// Double and the Swift loop they replace, at every instruction-set level this CPU runs, with label
// maps and with dense 0/1 targets (the region losses' overlapping targets).

import XCTest

@testable import DiceKit

/// The focal loss's vector kernels (Float, channels-last labels, C dividing 16) against Double and
/// against the Swift loop, including the scalar tail (position counts not a multiple of 16/C),
/// at every level.
final class FocalKernelTests: XCTestCase {
    func testKernelAgreesWithDoubleAndTheSwiftLoop() throws {
        var generator = SeededGenerator(seed: 61)
        for (shape, gamma, alpha, exclude) in [
            ([2, 9, 7, 4], 2.0, 0.25, false), ([3, 5, 13, 2], 0.0, nil, false),
            ([2, 11, 3, 1], 3.0, 0.75, false), ([1, 8, 8, 8], 1.0, nil, true),
            ([2, 3, 5, 16], 2.0, 0.5, false), ([1, 7, 9, 8], 8.0, 0.25, true), ([2, 5, 5, 2], 1.0, nil, true),
        ] as [([Int], Double, Double?, Bool)] {
            let x = Tensor<Float>.normal(shape, standardDeviation: 4, generator: &generator)
            let c = shape.last!
            let positions = shape.dropLast().reduce(1, *)
            let labels = try LabelMap(
                shape: Array(shape.dropLast()),
                labels: (0..<positions).map { _ in Int(generator.next() % UInt64(max(c, 2))) })
            var loss = FocalLoss(gamma: gamma, alpha: alpha)
            loss.excludeBackground = exclude
            if exclude { loss.classWeights = (1..<c).map { Double($0) / 3 } }
            try assertKernelAgrees(loss, x, .labels(labels), .labels(labels), "\(shape) γ \(gamma)")
        }
    }

    /// The dense-target loop: any C up to 16 (blocks of 8·C elements and a scalar tail of fewer
    /// than 8 positions), targets where several channels of a position are 1 (regions).
    func testDenseTargetKernelAgreesWithDoubleAndTheSwiftLoop() throws {
        var generator = SeededGenerator(seed: 67)
        for (shape, gamma, alpha, exclude) in [
            ([2, 9, 7, 3], 2.0, 0.25, false), ([3, 5, 13, 1], 0.0, nil, false), ([2, 11, 3, 5], 3.0, 0.75, false),
            ([1, 8, 8, 16], 1.0, nil, true), ([2, 4, 4, 2], 2.0, 0.5, true), ([1, 3, 1, 7], 8.0, nil, false),
        ] as [([Int], Double, Double?, Bool)] {
            let x = Tensor<Float>.normal(shape, standardDeviation: 4, generator: &generator)
            let t = try Tensor<Float>(
                shape: shape, scalars: (0..<x.count).map { _ in generator.next() % 3 == 0 ? 1 : 0 })
            var loss = FocalLoss(gamma: gamma, alpha: alpha)
            loss.excludeBackground = exclude
            if exclude { loss.classWeights = (1..<shape.last!).map { Double($0) / 3 } }
            try assertKernelAgrees(
                loss, x, .oneHot(t), .oneHot(t.converted(to: Double.self)), "dense \(shape) γ \(gamma)")
        }
    }

    /// `loss` (mean and sum) on Float at every level against Double and against the Swift loop.
    private func assertKernelAgrees(
        _ loss: FocalLoss, _ x: Tensor<Float>, _ target: SegmentationTarget<Float>,
        _ doubleTarget: SegmentationTarget<Double>, _ label: String
    ) throws {
        var loss = loss
        for reduction in [LossReduction.mean, .sum] {
            loss.reduction = reduction
            let reference = try loss.evaluate(x.converted(to: Double.self), target: doubleTarget, gradient: true)
            var swiftLoop = loss
            swiftLoop.kernelEnabled = false
            let slow = try swiftLoop.evaluate(x, target: target, gradient: true)
            for isa in InstructionSet.available {
                let fast = try KernelDispatch.withInstructionSet(isa) {
                    try loss.evaluate(x, target: target, gradient: true)
                }
                let what = "\(label) \(reduction) \(isa)"
                XCTAssertEqual(Double(fast.value), reference.value, accuracy: 2e-6 * abs(reference.value), what)
                XCTAssertLessThanOrEqual(
                    scaledError(fast.gradient!.converted(to: Double.self), reference.gradient!), 2e-6, what)
                XCTAssertLessThanOrEqual(scaledError(fast.gradient!, slow.gradient!), 2e-6, what)
            }
        }
    }
}
