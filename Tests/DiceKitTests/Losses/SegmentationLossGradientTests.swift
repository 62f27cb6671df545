// Closed-form gradients of the focal, Dice + focal, Lovász, Wasserstein Dice and MCC losses
// against central finite differences in Double (relative to the gradient's scale, 1e-6), in both
// layouts, and the Float path against Double.

import XCTest

@testable import DiceKit

final class SegmentationLossGradientTests: XCTestCase {
    /// Random logits [2, 5, 4, C] (channels-last) and labels in 0..<max(C, 2).
    func problem(channels c: Int, seed: UInt64, ignore: Int? = nil) throws -> (Tensor<Double>, LabelMap) {
        var generator = SeededGenerator(seed: seed)
        let x = Tensor<Double>.normal([2, 5, 4, c], standardDeviation: 2, generator: &generator)
        var labels = (0..<40).map { _ in Int(generator.next() % UInt64(max(c, 2))) }
        if let ignore { for i in stride(from: 3, to: 40, by: 7) { labels[i] = ignore } }
        return (x, try LabelMap(shape: [2, 5, 4], labels: labels))
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
        XCTAssertLessThanOrEqual(scaledError(result.gradient!, numeric), 1e-6, label, file: file, line: line)
        // Float agrees with Double.
        let single = try loss.evaluate(x.converted(to: Float.self), target: floatTarget(target), gradient: true)
        XCTAssertEqual(
            Double(single.value), result.value, accuracy: 1e-5 * max(1, abs(result.value)), "Float \(label)",
            file: file, line: line)
        XCTAssertLessThanOrEqual(
            scaledError(single.gradient!.converted(to: Double.self), result.gradient!), 1e-4, "Float \(label)",
            file: file, line: line)
    }

    func floatTarget(_ t: SegmentationTarget<Double>) -> SegmentationTarget<Float> {
        switch t {
        case .labels(let l): return .labels(l)
        case .oneHot(let d): return .oneHot(d.converted(to: Float.self))
        case .soft(let d): return .soft(d.converted(to: Float.self))
        }
    }

    func oneHot(_ labels: LabelMap, channels c: Int) -> Tensor<Double> {
        Tensor(
            uncheckedShape: labels.shape + [c],
            storage: labels.labels.flatMap { l in (0..<c).map { $0 == l ? 1.0 : 0.0 } })
    }

    func testFocalSigmoidGradients() throws {
        let (x, labels) = try problem(channels: 3, seed: 1)
        var cases: [(String, FocalLoss)] = []
        cases.append(("default", FocalLoss()))
        cases.append(("alpha", FocalLoss(gamma: 2, alpha: 0.25)))
        cases.append(("gamma 0.5", FocalLoss(gamma: 0.5)))
        cases.append(("gamma 0", FocalLoss(gamma: 0)))
        var weighted = FocalLoss(gamma: 1.5, alpha: 0.7)
        weighted.classWeights = [0.5, 2]
        weighted.excludeBackground = true
        cases.append(("weights, no background", weighted))
        var sum = FocalLoss()
        sum.reduction = .sum
        cases.append(("sum", sum))
        var none = FocalLoss()
        none.reduction = .none
        cases.append(("none", none))
        var normalized = FocalLoss(gamma: 2, alpha: 0.25)
        normalized.normalized = true
        cases.append(("normalized", normalized))
        var reduced = FocalLoss()
        reduced.reducedThreshold = 0.5
        cases.append(("reduced 0.5", reduced))
        var both = FocalLoss(gamma: 3)
        both.reducedThreshold = 0.3
        both.normalized = true
        cases.append(("normalized + reduced", both))
        for (name, loss) in cases {
            try check(loss, x, .labels(labels), "focal sigmoid \(name)")
            try check(loss, x, .oneHot(oneHot(labels, channels: 3)), "focal sigmoid one-hot \(name)")
        }
        // Channels-first.
        var cf = FocalLoss(gamma: 2, alpha: 0.25, layout: .channelsFirst)
        cf.classWeights = [1, 2, 3]
        try check(
            cf, try x.converted(from: .channelsLast, to: .channelsFirst), .labels(labels),
            "focal sigmoid channels-first")
        // A binary mask with one channel.
        let (x1, mask) = try problem(channels: 1, seed: 2)
        try check(FocalLoss(gamma: 2, alpha: 0.25), x1, .labels(mask), "focal sigmoid binary")
    }

    func testFocalSoftmaxGradients() throws {
        let (x, labels) = try problem(channels: 4, seed: 3)
        var cases: [(String, FocalLoss)] = [
            ("default", FocalLoss(activation: .softmax)),
            ("alpha", FocalLoss(activation: .softmax, gamma: 2, alpha: 0.25)),
            ("gamma 0.5", FocalLoss(activation: .softmax, gamma: 0.5)),
            ("gamma 0", FocalLoss(activation: .softmax, gamma: 0)),
        ]
        var excluded = FocalLoss(activation: .softmax)
        excluded.excludeBackground = true
        excluded.classWeights = [1, 0.5, 2]
        cases.append(("no background", excluded))
        var sum = FocalLoss(activation: .softmax)
        sum.reduction = .sum
        cases.append(("sum", sum))
        var none = FocalLoss(activation: .softmax)
        none.reduction = .none
        cases.append(("none", none))
        for (name, loss) in cases {
            try check(loss, x, .labels(labels), "focal softmax \(name)")
        }
        try check(
            FocalLoss(activation: .softmax, gamma: 2, alpha: 0.25, layout: .channelsFirst),
            try x.converted(from: .channelsLast, to: .channelsFirst), .labels(labels), "focal softmax channels-first")
    }

    func testDiceFocalGradients() throws {
        let (x, labels) = try problem(channels: 3, seed: 4)
        try check(DiceFocalLoss(activation: .softmax, gamma: 2, alpha: 0.25), x, .labels(labels), "dice-focal softmax")
        var loss = DiceFocalLoss(activation: .sigmoid, classWeights: [1, 2], excludeBackground: true)
        loss.diceWeight = 0.3
        loss.focalWeight = 1.7
        try check(loss, x, .labels(labels), "dice-focal sigmoid weighted")
    }

    func testLovaszGradients() throws {
        let (x, labels) = try problem(channels: 4, seed: 5, ignore: 255)
        for perImage in [false, true] {
            var softmax = LovaszLoss(variant: .softmax, perImage: perImage)
            try check(softmax, x, .labels(try problem(channels: 4, seed: 5).1), "lovasz-softmax perImage \(perImage)")
            softmax.ignoreIndex = 255
            try check(softmax, x, .labels(labels), "lovasz-softmax ignore perImage \(perImage)")
            let hinge = LovaszLoss(variant: .hinge, perImage: perImage)
            let (x1, mask) = try problem(channels: 1, seed: 6)
            try check(hinge, x1, .labels(mask), "lovasz-hinge binary perImage \(perImage)")
            try check(
                hinge, x, .oneHot(oneHot(try problem(channels: 4, seed: 5).1, channels: 4)),
                "lovasz-hinge multilabel perImage \(perImage)")
        }
        try check(
            LovaszLoss(variant: .softmax, perImage: true, layout: .channelsFirst),
            try x.converted(from: .channelsLast, to: .channelsFirst), .labels(try problem(channels: 4, seed: 5).1),
            "lovasz channels-first")
    }

    func testWassersteinGradients() throws {
        let (x, labels) = try problem(channels: 3, seed: 7)
        let m = [0, 1, 0.5, 1, 0, 0.8, 0.5, 0.8, 0]
        for weighting in WassersteinWeighting.allCases {
            for reduction in LossReduction.allCases {
                var loss = WassersteinDiceLoss(distanceMatrix: m, weighting: weighting)
                loss.reduction = reduction
                try check(loss, x, .labels(labels), "wasserstein \(weighting) \(reduction)")
            }
        }
        try check(
            WassersteinDiceLoss(distanceMatrix: m, weighting: .gdl, layout: .channelsFirst),
            try x.converted(from: .channelsLast, to: .channelsFirst), .labels(labels), "wasserstein channels-first")
    }

    func testMCCGradients() throws {
        var generator = SeededGenerator(seed: 8)
        let probabilities = Tensor<Double>.uniform([2, 5, 4, 1], lower: 0.05, upper: 0.95, generator: &generator)
        let (x1, mask) = try problem(channels: 1, seed: 9)
        try check(MCCLoss(), probabilities, .labels(mask), "mcc probabilities")
        try check(MCCLoss(activation: .sigmoid), x1, .labels(mask), "mcc sigmoid")
        let soft = Tensor<Double>.uniform([2, 5, 4, 1], generator: &generator)
        try check(MCCLoss(activation: .sigmoid), x1, .soft(soft), "mcc soft target")
        let (x, labels) = try problem(channels: 3, seed: 10)
        try check(MCCLoss(activation: .softmax), x, .labels(labels), "mcc softmax")
    }
}
