// Closed-form gradients of the clDice losses (through the soft skeleton's pooling), generalized
// Dice + focal and the focal loss's per-class α against central finite differences in Double
// (relative to the gradient's scale, 1e-6), 2-D and 3-D, both layouts, and the Float path against
// Double; the pooling's tie rule; a sample's gradient alone, in part of a batch and in the whole
// batch (near-flat probabilities, ties), bit for bit; and the one-line errors for bad options.

import Foundation
import XCTest

@testable import DiceKit

final class ClDiceGradientTests: XCTestCase {
    /// Random logits with `spatial` extents and `c` channels in `layout`, and labels in 0..<max(c, 2).
    func problem(spatial: [Int], channels c: Int, layout: Layout = .channelsLast, seed: UInt64) throws -> (
        Tensor<Double>, LabelMap
    ) {
        var generator = SeededGenerator(seed: seed)
        let n = 2
        let shape = layout == .channelsLast ? [n] + spatial + [c] : [n, c] + spatial
        let x = Tensor<Double>.normal(shape, standardDeviation: 2, generator: &generator)
        let count = n * spatial.reduce(1, *)
        let labels = (0..<count).map { _ in Int(generator.next() % UInt64(max(c, 2))) }
        return (x, try LabelMap(shape: [n] + spatial, labels: labels))
    }

    func check(
        _ loss: any SegmentationLoss, _ x: Tensor<Double>, _ target: SegmentationTarget<Double>, _ label: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let result = try loss.evaluate(x, target: target, gradient: true)
        XCTAssertTrue(result.value.isFinite, label, file: file, line: line)
        let numeric = try finiteDifferenceGradient(at: x, step: .relative(1e-6)) {
            try loss.evaluate($0, target: target, gradient: false).value
        }
        XCTAssertGreaterThan(numeric.scalars.map(abs).max()!, 0, "vacuous \(label)", file: file, line: line)
        XCTAssertLessThanOrEqual(scaledError(result.gradient!, numeric), 1e-6, label, file: file, line: line)
        let floatTarget: SegmentationTarget<Float>
        switch target {
        case .labels(let l): floatTarget = .labels(l)
        case .oneHot(let d): floatTarget = .oneHot(d.converted(to: Float.self))
        case .soft(let d): floatTarget = .soft(d.converted(to: Float.self))
        }
        let single = try loss.evaluate(x.converted(to: Float.self), target: floatTarget, gradient: true)
        XCTAssertEqual(
            Double(single.value), result.value, accuracy: 1e-5 * max(1, abs(result.value)), "Float \(label)",
            file: file, line: line)
        XCTAssertLessThanOrEqual(
            scaledError(single.gradient!.converted(to: Double.self), result.gradient!), 1e-4, "Float \(label)",
            file: file, line: line)
    }

    func testClDiceGradients2D() throws {
        for layout in [Layout.channelsLast, .channelsFirst] {
            let (x, labels) = try problem(spatial: [6, 7], channels: 3, layout: layout, seed: 11)
            try check(ClDiceLoss(activation: .softmax, layout: layout), x, .labels(labels), "softmax \(layout)")
            var loss = ClDiceLoss(activation: .sigmoid, iterations: 1, layout: layout)
            loss.excludeBackground = true
            loss.reduction = .none
            loss.smoothNumerator = 0.3
            loss.smoothDenominator = 2
            try check(loss, x, .labels(labels), "sigmoid, no background, none \(layout)")
            loss = ClDiceLoss(activation: .sigmoid, iterations: 0, layout: layout)
            loss.reduction = .sum
            try check(loss, x, .labels(labels), "iterations 0, sum \(layout)")
        }
    }

    func testClDiceGradients3DAndSoftTargets() throws {
        for layout in [Layout.channelsLast, .channelsFirst] {
            let (x, labels) = try problem(spatial: [4, 5, 4], channels: 2, layout: layout, seed: 12)
            try check(ClDiceLoss(activation: .sigmoid, layout: layout), x, .labels(labels), "3-D \(layout)")
            // Probabilities in (0, 1) against a soft target, no activation.
            var generator = SeededGenerator(seed: 13)
            let p = x.map { 1 / (1 + Foundation.exp(-$0)) }
            let soft = Tensor<Double>.uniform(x.shape, generator: &generator)
            try check(
                ClDiceLoss(activation: .none, iterations: 2, layout: layout), p, .soft(soft), "3-D soft \(layout)")
        }
    }

    func testCompoundGradients() throws {
        let (x, labels) = try problem(spatial: [6, 5], channels: 3, seed: 14)
        try check(DiceClDiceLoss(activation: .softmax, alpha: 0.3), x, .labels(labels), "dice-cldice softmax")
        try check(
            DiceClDiceLoss(activation: .sigmoid, iterations: 2, excludeBackground: true, reduction: .sum), x,
            .labels(labels), "dice-cldice sigmoid")
        try check(GeneralizedDiceFocalLoss(activation: .softmax), x, .labels(labels), "generalized-dice-focal")
        var gdf = GeneralizedDiceFocalLoss(
            activation: .sigmoid, weighting: .simple, gamma: 1.5, classWeights: [1, 2], excludeBackground: true,
            batch: true, reduction: .sum)
        gdf.generalizedDiceWeight = 0.4
        gdf.focalWeight = 1.6
        try check(gdf, x, .labels(labels), "generalized-dice-focal sigmoid")
        var focal = FocalLoss(activation: .sigmoid)
        focal.classAlpha = [0.2, 0.5, 0.8]
        try check(focal, x, .labels(labels), "focal sigmoid class alpha")
        focal.normalized = true
        try check(focal, x, .labels(labels), "focal sigmoid class alpha normalized")
        focal = FocalLoss(activation: .softmax, gamma: 1.5)
        focal.classAlpha = [0.3, 1, 2]
        try check(focal, x, .labels(labels), "focal softmax class alpha")
    }

    /// A sample's gradient does not depend on the batch: the mean over 4 samples against the
    /// halves (× 2/4, a data-parallel rank's share) and single samples (× 1/4), bit for bit, for
    /// logits like an initial network's (near-flat probabilities, many exact ties in the pooling).
    func testGradientOfASampleDoesNotDependOnTheBatch() throws {
        var generator = SeededGenerator(seed: 44)
        let (n, side, c) = (4, 24, 2)
        // Logits on a grid of 2⁻¹², within ±2⁻⁸ of each other: probabilities within 0.4 % of ½, ties everywhere.
        let logits = (0..<(n * side * side * c)).map { _ in Float(Int(generator.next() % 33) - 16) / 4096 }
        let labels = (0..<(n * side * side)).map { ($0 % side) / 3 % 2 == 0 ? 1 : 0 }
        let x = try Tensor<Float>(shape: [n, side, side, c], scalars: logits)
        let loss = ClDiceLoss(activation: .softmax)
        let whole = try XCTUnwrap(
            loss.evaluate(x, target: .labels(try LabelMap(shape: [n, side, side], labels: labels)), gradient: true)
                .gradient
        ).scalars
        let (pixels, elements) = (side * side, side * side * c)
        for subset in [[0, 2], [1, 3], [0], [3]] {
            let part = try Tensor<Float>(
                shape: [subset.count, side, side, c],
                scalars: subset.flatMap { logits[($0 * elements)..<(($0 + 1) * elements)] })
            let partLabels = try LabelMap(
                shape: [subset.count, side, side],
                labels: subset.flatMap { labels[($0 * pixels)..<(($0 + 1) * pixels)] })
            let share = Float(subset.count) / Float(n)
            let gradient = try XCTUnwrap(loss.evaluate(part, target: .labels(partLabels), gradient: true).gradient)
            let expected = subset.flatMap { whole[($0 * elements)..<(($0 + 1) * elements)] }
            XCTAssertEqual(gradient.scalars.map { share * $0 }, expected, "samples \(subset)")
        }
    }

    /// The pooling's tie rule: a constant image erodes and dilates to itself; the gradient of the
    /// erosion at a tie between the two axis minima is halved between them (torch.min), and the
    /// dilation sends it to the first maximum in row-major order (max_pool).
    func testTieRule() {
        let skeleton = SoftSkeleton(spatial: [3, 3], iterations: 0)!
        // erode at the centre of [[9, 1, 9], [1, 5, 9], [9, 9, 9]]: vertical min 1 (index 1),
        // horizontal min 1 (index 3): half to each.
        let image: [Double] = [9, 1, 9, 1, 5, 9, 9, 9, 9]
        var upstream = [Double](repeating: 0, count: 9)
        upstream[4] = 1
        var gradient = [Double](repeating: 0, count: 9)
        image.withUnsafeBufferPointer { v in
            upstream.withUnsafeBufferPointer { dy in
                gradient.withUnsafeMutableBufferPointer { dx in skeleton.erodeBackward(v, dy, into: dx) }
            }
        }
        XCTAssertEqual(gradient, [0, 0.5, 0, 0.5, 0, 0, 0, 0, 0])
        // dilate at the centre of a constant image: all to the first element of the window.
        let flat = [Double](repeating: 2, count: 9)
        gradient = [Double](repeating: 0, count: 9)
        flat.withUnsafeBufferPointer { v in
            upstream.withUnsafeBufferPointer { dy in
                gradient.withUnsafeMutableBufferPointer { dx in skeleton.dilateBackward(v, dy, into: dx) }
            }
        }
        XCTAssertEqual(gradient, [1, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// The separable winner search of the dilation's backward agrees with the cube scan
    /// (`cubeMaximum`, PyTorch's first maximum in row-major order) on images full of ties.
    func testSeparableDilationWinnersMatchTheCubeScan() {
        var generator = SeededGenerator(seed: 16)
        for spatial in [[5, 6], [4, 5, 3], [1, 4, 4]] {
            let skeleton = SoftSkeleton(spatial: spatial, iterations: 0)!
            let n = skeleton.count
            let image = (0..<n).map { _ in Double(generator.next() % 3) }
            let upstream = (0..<n).map { Double($0 + 1) }
            var separable = [Double](repeating: 0, count: n)
            var scan = separable
            image.withUnsafeBufferPointer { v in
                upstream.withUnsafeBufferPointer { dy in
                    separable.withUnsafeMutableBufferPointer { skeleton.dilateBackward(v, dy, into: $0) }
                }
                var q = 0
                for z in 0..<skeleton.depth {
                    for y in 0..<skeleton.height {
                        for x in 0..<skeleton.width {
                            scan[skeleton.cubeMaximum(v, z, y, x).1] += upstream[q]
                            q += 1
                        }
                    }
                }
            }
            XCTAssertEqual(separable, scan, "\(spatial)")
        }
    }

    /// A bar one pixel wide is its own skeleton; a filled 5×5 square inside a 7×9 image keeps its
    /// centre only (MONAI's `soft_skel(t, 3)` gives the same).
    func testSkeletonOfSimpleShapes() {
        let skeleton = SoftSkeleton(spatial: [7, 9], iterations: 3)!
        var bar = [Double](repeating: 0, count: 63)
        for x in 1..<8 { bar[3 * 9 + x] = 1 }
        var out = [Double](repeating: -1, count: 63)
        bar.withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { skeleton.skeleton(b, into: $0) } }
        XCTAssertEqual(out, bar)
        var square = [Double](repeating: 0, count: 63)
        for y in 1..<6 { for x in 2..<7 { square[y * 9 + x] = 1 } }
        square.withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { skeleton.skeleton(b, into: $0) } }
        var centre = [Double](repeating: 0, count: 63)
        centre[3 * 9 + 4] = 1
        XCTAssertEqual(out, centre)
    }

    /// Iterations beyond the image's diameter change nothing (and cost nothing: K is capped).
    func testIterationsBeyondTheDiameterChangeNothing() throws {
        let (x, labels) = try problem(spatial: [3, 4], channels: 2, seed: 17)
        let capped = try ClDiceLoss(activation: .softmax, iterations: 5).evaluate(
            x, target: .labels(labels), gradient: true)
        let huge = try ClDiceLoss(activation: .softmax, iterations: 1 << 40).evaluate(
            x, target: .labels(labels), gradient: true)
        XCTAssertEqual(capped.loss, huge.loss)
        XCTAssertEqual(capped.gradient, huge.gradient)
        let fewer = try ClDiceLoss(activation: .softmax, iterations: 4).evaluate(
            x, target: .labels(labels), gradient: false)
        XCTAssertEqual(fewer.loss, capped.loss)
    }

    func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch { return "\(error)" }
    }

    func testErrorsNameTheValue() throws {
        let (x, labels) = try problem(spatial: [4, 4], channels: 3, seed: 15)
        let target = SegmentationTarget<Double>.labels(labels)
        var negative = ClDiceLoss()
        negative.iterations = -1
        var zeroDenominator = ClDiceLoss()
        zeroDenominator.smoothDenominator = 0
        var classAlpha = FocalLoss()
        classAlpha.classAlpha = [1, 2]
        var both = FocalLoss(alpha: 0.25)
        both.classAlpha = [1, 2, 3]
        var gdf = GeneralizedDiceFocalLoss(activation: .softmax)
        gdf.focalWeight = -1
        let cases: [(any SegmentationLoss, Tensor<Double>, String)] = [
            (negative, x, "clDice iterations is -1; expected an integer ≥ 0"),
            (zeroDenominator, x, "clDice smooth-dr is 0.0; expected a finite number > 0"),
            (ClDiceLoss(), Tensor<Double>(shape: [2, 16, 3]), "1 spatial axes; expected 2 (images) or 3 (volumes)"),
            (DiceClDiceLoss(alpha: 1.5), x, "clDice alpha is 1.5; expected a number in [0, 1]"),
            (DiceClDiceLoss(reduction: .none), x, "dice-cldice with reduction none"),
            (classAlpha, x, "focal alpha has 2 values; expected 3"),
            (both, x, "focal alpha given both as one value and per class"),
            (gdf, x, "focal weight is -1.0; expected a finite number ≥ 0"),
            (
                GeneralizedDiceFocalLoss(activation: .softmax, reduction: .none), x,
                "generalized-dice-focal with reduction none"
            ),
        ]
        for (loss, input, expected) in cases {
            let text = message {
                _ = try loss.evaluate(
                    input,
                    target: input.rank == 3
                        ? .labels(try LabelMap(shape: [2, 16], labels: Array(repeating: 0, count: 32))) : target,
                    gradient: true)
            }
            XCTAssertTrue(text.contains(expected), "\(text) does not contain \(expected)")
            XCTAssertFalse(text.contains("\n"), text)
        }
    }
}
