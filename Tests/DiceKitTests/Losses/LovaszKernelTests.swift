// The Lovász extension's C kernel (Sources/CDiceKitKernels/lovasz/lovasz_extension.c: radix sort,
// value and signed slopes) against the Swift loop it replaces, bit for bit.

import XCTest

@testable import DiceKit

/// The Float Lovász losses with the C kernel against the Swift sort and extension: the same value
/// and gradient bits, with ties (logits on a coarse grid), errors ≤ 0, an ignore label, per image
/// and over the batch, odd sizes, and at every instruction-set level this CPU runs.
final class LovaszKernelTests: XCTestCase {
    func testKernelIsBitIdenticalToTheSwiftLoop() throws {
        var generator = SeededGenerator(seed: 71)
        for (shape, variant, perImage, ignore, grid) in [
            ([2, 9, 7, 1], LovaszVariant.hinge, false, false, false), ([3, 5, 13, 1], .hinge, true, false, true),
            ([2, 11, 3, 3], .hinge, false, false, true), ([1, 17, 19, 4], .softmax, false, false, false),
            ([3, 7, 5, 3], .softmax, true, true, true), ([2, 13, 1, 1], .hinge, true, true, false),
            ([1, 1, 1, 2], .softmax, false, false, false),
        ] as [([Int], LovaszVariant, Bool, Bool, Bool)] {
            var x = Tensor<Float>.normal(shape, standardDeviation: 2, generator: &generator)
            // A coarse grid gives many equal errors (ties by position) and errors of exactly 0.
            if grid { x = Tensor(uncheckedShape: shape, storage: x.scalars.map { ($0 * 2).rounded() / 2 }) }
            let c = shape.last!
            let positions = shape.dropLast().reduce(1, *)
            let classes = c == 1 ? 2 : c
            // With `ignore`, the label `classes` marks ignored positions.
            let labels = try LabelMap(
                shape: Array(shape.dropLast()),
                labels: (0..<positions).map { _ in Int(generator.next() % UInt64(classes + (ignore ? 1 : 0))) })
            var loss = LovaszLoss(variant: variant, perImage: perImage)
            loss.ignoreIndex = ignore ? classes : nil
            var swiftLoop = loss
            swiftLoop.kernelEnabled = false
            let slow = try swiftLoop.evaluate(x, target: .labels(labels), gradient: true)
            for isa in InstructionSet.available {
                let fast = try KernelDispatch.withInstructionSet(isa) {
                    try loss.evaluate(x, target: .labels(labels), gradient: true)
                }
                let what = "\(shape) \(variant) per image \(perImage) \(isa)"
                XCTAssertEqual(fast.value.bitPattern, slow.value.bitPattern, what)
                XCTAssertEqual(
                    fast.gradient!.scalars.map(\.bitPattern), slow.gradient!.scalars.map(\.bitPattern), what)
                XCTAssertGreaterThan(fast.value, 0, what)
            }
        }
    }

    func testNonFiniteLogitsGiveTheSameErrorAsTheSwiftLoop() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            var scalars = [Float](repeating: 0.5, count: 2 * 5)
            scalars[7] = bad
            let x = try Tensor<Float>(shape: [2, 5, 1], scalars: scalars)
            let labels = try LabelMap(shape: [2, 5], labels: (0..<10).map { $0 % 2 })
            var swiftLoop = LovaszLoss(variant: .hinge)
            swiftLoop.kernelEnabled = false
            let messages = [LovaszLoss(variant: .hinge), swiftLoop].map { lossErrorMessage($0, x, .labels(labels)) }
            XCTAssertEqual(messages[0], messages[1])
            XCTAssertTrue(messages[0].contains("element 7"), messages[0])
            XCTAssertFalse(messages[0].contains("\n"), messages[0])
        }
    }
}
