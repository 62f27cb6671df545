// Goldens from MONAI 1.6, PyTorch autograd and the seed article's TensorFlow functions, made by
// Scripts/make_loss_fixtures.py and Scripts/make_cross_entropy_fixtures.py (see their headers
// for the producing code). Each case runs in
// Double (tolerance 1e-10, relative) and Float (1e-5, relative to the tensor's scale), in the
// case's own layout and converted to the other one.

import Foundation
import XCTest

@testable import DiceKit

final class LossFixtureTests: XCTestCase {
    struct Case {
        let name: String
        let options: [String: Any]
        let source: String
        let doubleTolerance: Double?
    }

    /// The cases of both manifests: Scripts/make_loss_fixtures.py's and, for the weighted
    /// cross-entropy, Scripts/make_cross_entropy_fixtures.py's.
    func cases() throws -> [Case] {
        try ["losses/cases.json", "losses/cross_entropy_cases.json"].flatMap { manifest in
            let data = try Data(contentsOf: fixtureURL(manifest))
            let list = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
            return list.map {
                Case(
                    name: $0["name"] as! String, options: $0["options"] as! [String: Any],
                    source: $0["source"] as! String, doubleTolerance: $0["doubleTolerance"] as? Double)
            }
        }
    }

    func target<T: BLASScalar>(_ c: Case, layoutChange: (Tensor<T>) throws -> Tensor<T>) throws -> SegmentationTarget<T>
    {
        let kind = c.options["target"] as! String
        switch kind {
        case "labels":
            let array = try NPY.read(contentsOf: fixtureURL("losses/\(c.name)_target.npy").path)
            return .labels(try LabelMap(shape: array.shape, labels: array.integers()))
        case "soft": return .soft(try layoutChange(loadTensor("\(c.name)_target.npy")))
        default: return .oneHot(try layoutChange(loadTensor("\(c.name)_target.npy")))
        }
    }

    func check<T: BLASScalar>(_ type: T.Type, tolerance: Double) throws {
        let all = try cases()
        XCTAssertGreaterThanOrEqual(all.count, 30)
        for c in all {
            let baseLoss = makeLoss(c.options)
            // A few MONAI goldens carry float32 rounding (see the manifest's "reason").
            let tolerance = T.self == Double.self ? max(tolerance, c.doubleTolerance ?? 0) : tolerance
            for swapLayout in [false, true] {
                var loss = baseLoss
                let from = baseLoss.layout
                let to: Layout = swapLayout ? (from == .channelsLast ? .channelsFirst : .channelsLast) : from
                loss.layout = to
                let change: (Tensor<T>) throws -> Tensor<T> = { try $0.converted(from: from, to: to) }
                let x: Tensor<T> = try change(loadTensor("\(c.name)_pred.npy"))
                let expectedLoss: Tensor<T> = try loadTensor("\(c.name)_loss.npy")
                let expectedGrad: Tensor<T> = try change(loadTensor("\(c.name)_grad.npy"))
                let result = try loss.evaluate(x, target: target(c, layoutChange: change), gradient: true)
                let label = "\(c.name) [\(c.source), \(T.self), \(to.rawValue)]"
                XCTAssertEqual(result.loss.shape, expectedLoss.shape, label)
                if result.loss.shape == expectedLoss.shape {
                    XCTAssertLessThanOrEqual(
                        scaledError(result.loss, expectedLoss), tolerance,
                        "loss \(label): \(result.loss.scalars) vs \(expectedLoss.scalars)")
                }
                let g = result.gradient!
                XCTAssertFalse(g.scalars.contains { !$0.isFinite }, "non-finite gradient \(label)")
                XCTAssertLessThanOrEqual(scaledError(g, expectedGrad), tolerance, "gradient \(label)")
            }
        }
    }

    func testGoldensDouble() throws { try check(Double.self, tolerance: 1e-10) }
    func testGoldensFloat() throws { try check(Float.self, tolerance: 1e-5) }

    /// The level a forced `isa` runs `loss` at: a weighted cross-entropy has no AVX-512 body and
    /// runs the AVX2 variant there (dice_dispatch.c).
    static func level(_ isa: InstructionSet, for loss: DiceLoss) -> InstructionSet {
        let weighted =
            loss.crossEntropyWeight > 0 && (loss.crossEntropyClassWeights != nil || loss.labelSmoothing != 0)
        return weighted && isa == .avx512 ? .avx2 : isa
    }

    /// The C kernels' three instruction-set variants agree with each other and with Double.
    func testCKernelVariantsAgree() throws {
        var generator = SeededGenerator(seed: 7)
        for (shape, activation, layout) in [
            ([2, 37, 29, 4], DiceActivation.softmax, Layout.channelsLast),
            ([2, 3, 5, 7, 9], .softmax, .channelsFirst),
            ([3, 33, 17, 1], .sigmoid, .channelsLast),
            ([1, 21, 19, 3], .sigmoid, .channelsLast),
            ([2, 5, 40, 20], .softmax, .channelsFirst),
            ([2, 19, 13, 7], .softmax, .channelsLast),
            ([2, 23, 11, 2], .softmax, .channelsLast),
            ([2, 2, 17, 9], .sigmoid, .channelsFirst),
            ([2, 1, 37, 19], .sigmoid, .channelsFirst),
            // Channels-last counts with their own bodies (5, 6, 8), the generic one (10) and
            // three softmax channels: the AVX2 variant's table transposes.
            ([1, 9, 13, 5], .softmax, .channelsLast),
            ([1, 7, 11, 6], .sigmoid, .channelsLast),
            ([1, 5, 19, 8], .softmax, .channelsLast),
            ([1, 4, 23, 10], .softmax, .channelsLast),
            ([2, 11, 9, 3], .softmax, .channelsLast),
        ] {
            let x = Tensor<Float>.normal(shape, standardDeviation: 3, generator: &generator)
            let c = layout == .channelsLast ? shape.last! : shape[1]
            var spatial = shape
            spatial.remove(at: layout.channelAxis(rank: shape.count))
            let count = spatial.reduce(1, *)
            var labels = (0..<count).map { _ in Int(generator.next() % UInt64(max(c, 2))) }
            for i in stride(from: 0, to: count, by: 7) { labels[i] = 255 }
            let map = try LabelMap(shape: spatial, labels: labels)
            for option in 0..<6 {
                var loss = DiceLoss(activation: activation, layout: layout)
                loss.ignoreIndex = 255
                switch option {
                case 1: loss.squared = true
                case 2: loss.crossEntropyWeight = 0.7
                case 3:
                    loss.squared = true
                    loss.crossEntropyWeight = 1.1
                    loss.activation = .none
                case 4: // weighted cross-entropy: class weights (pos_weight for sigmoid), smoothing
                    loss.crossEntropyWeight = 0.9
                    loss.crossEntropyClassWeights = (0..<c).map { 0.25 + 0.5 * Double($0 % 4) }
                    if activation == .softmax { loss.labelSmoothing = 0.2 }
                case 5: // label smoothing alone (softmax), weights alone with squared statistics (sigmoid)
                    loss.crossEntropyWeight = 1.2
                    if activation == .softmax {
                        loss.labelSmoothing = 0.05
                    } else {
                        loss.squared = true
                        loss.crossEntropyClassWeights = (0..<c).map { 2 - 0.3 * Double($0 % 5) }
                    }
                default: break
                }
                // activation none: probabilities in (0, 1).
                let input =
                    loss.activation == .none
                    ? Tensor<Float>(uncheckedShape: x.shape, storage: x.scalars.map { 1 / (1 + Float.exp(-$0)) }) : x
                if loss.activation == .none { loss.crossEntropyWeight = 0 }
                let reference = try loss.evaluate(
                    input.converted(to: Double.self), target: .labels(map), gradient: true)
                for isa in InstructionSet.available {
                    try KernelDispatch.force(isa)
                    defer { try? KernelDispatch.force(nil) }
                    let r = try loss.evaluate(input, target: .labels(map), gradient: true)
                    let what = "isa \(isa) \(shape) option \(option)"
                    XCTAssertEqual(KernelDispatch.lastUsed(.loss), Self.level(isa, for: loss), what)
                    XCTAssertLessThanOrEqual(abs(Double(r.value) - reference.value) / abs(reference.value), 1e-5, what)
                    XCTAssertLessThanOrEqual(
                        scaledError(r.gradient!.converted(to: Double.self), reference.gradient!), 1e-5, what)
                }
            }
        }
    }

    /// Every instruction-set variant reports a non-finite logit and a label out of range that lie
    /// inside its vector steps (not only in the per-position tail), in both layouts.
    func testCKernelVariantsReportBadInput() throws {
        var generator = SeededGenerator(seed: 9)
        for (shape, activation, layout) in [
            ([2, 16, 16, 4], DiceActivation.softmax, Layout.channelsLast),
            ([2, 16, 16, 3], .softmax, .channelsLast),
            ([2, 16, 16, 1], .sigmoid, .channelsLast),
            ([2, 2, 16, 16], .softmax, .channelsFirst),
        ] {
            let x = Tensor<Float>.normal(shape, generator: &generator)
            let c = layout == .channelsLast ? shape.last! : shape[1]
            var spatial = shape
            spatial.remove(at: layout.channelAxis(rank: shape.count))
            let labels = (0..<(x.count / c)).map { $0 % max(c, 2) }
            var high = labels
            high[133] = max(c, 2)
            let loss = DiceLoss(activation: activation, layout: layout)
            for isa in InstructionSet.available {
                try KernelDispatch.force(isa)
                defer { try? KernelDispatch.force(nil) }
                let what = "isa \(isa) \(shape)"
                for value in [Float.nan, .infinity, -.infinity] {
                    var bad = x
                    bad.storage[77] = value
                    assertError(
                        try loss.evaluate(bad, target: .labels(LabelMap(shape: spatial, labels: labels))),
                        contains: "prediction element 77 is \(value)", context: what)
                }
                assertError(
                    try loss.evaluate(x, target: .labels(LabelMap(shape: spatial, labels: high))),
                    contains: "label \(max(c, 2)) at element 133", context: what)
                XCTAssertEqual(KernelDispatch.lastUsed(.loss), isa, what)
            }
        }
    }

    /// The dense-target C kernels (one-hot and soft) in every instruction-set variant against Double.
    func testDenseCKernelVariantsAgree() throws {
        var generator = SeededGenerator(seed: 8)
        for (shape, activation, layout) in [
            ([2, 37, 29, 4], DiceActivation.softmax, Layout.channelsLast),
            ([2, 3, 9, 21], .softmax, .channelsFirst),
            ([1, 33, 17, 3], .sigmoid, .channelsLast),
            ([2, 19, 13, 5], .softmax, .channelsLast),
            ([2, 31, 7, 1], .sigmoid, .channelsLast),
            ([2, 23, 11, 2], .sigmoid, .channelsLast), // a region loss's target (RegionLoss)
            ([1, 7, 13, 19], .sigmoid, .channelsFirst), // a channel count without a specialised body
        ] {
            let x = Tensor<Float>.normal(shape, standardDeviation: 3, generator: &generator)
            let soft = Tensor<Float>.uniform(shape, generator: &generator)
            let oneHot = Tensor<Float>(uncheckedShape: shape, storage: soft.scalars.map { $0 > 0.6 ? 1 : 0 })
            let c = layout == .channelsLast ? shape.last! : shape[1]
            for option in 0..<6 {
                var loss = DiceLoss(activation: activation, layout: layout)
                var target = SegmentationTarget<Float>.oneHot(oneHot)
                var reference = SegmentationTarget<Double>.oneHot(oneHot.converted(to: Double.self))
                switch option {
                case 1:
                    target = .soft(soft)
                    reference = .soft(soft.converted(to: Double.self))
                case 2:
                    loss.squared = true
                    loss.crossEntropyWeight = 0.6
                case 3:
                    loss.crossEntropyWeight = 1.2
                    loss.reduction = .sum
                    target = .soft(soft)
                    reference = .soft(soft.converted(to: Double.self))
                case 4, 5: // weighted cross-entropy (pos_weight for sigmoid), one-hot then soft
                    loss.crossEntropyWeight = 0.8
                    loss.crossEntropyClassWeights = (0..<c).map { 0.3 + 0.6 * Double($0 % 3) }
                    if activation == .softmax { loss.labelSmoothing = 0.25 }
                    if option == 5 {
                        target = .soft(soft)
                        reference = .soft(soft.converted(to: Double.self))
                    }
                default: break
                }
                let expected = try loss.evaluate(x.converted(to: Double.self), target: reference, gradient: true)
                for isa in InstructionSet.available {
                    try KernelDispatch.force(isa)
                    defer { try? KernelDispatch.force(nil) }
                    let r = try loss.evaluate(x, target: target, gradient: true)
                    let what = "isa \(isa) \(shape) option \(option)"
                    XCTAssertEqual(KernelDispatch.lastUsed(.loss), Self.level(isa, for: loss), what)
                    XCTAssertLessThanOrEqual(abs(Double(r.value) - expected.value) / abs(expected.value), 1e-5, what)
                    XCTAssertLessThanOrEqual(
                        scaledError(r.gradient!.converted(to: Double.self), expected.gradient!), 1e-5, what)
                }
            }
        }
    }
}
