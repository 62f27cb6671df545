// Goldens from MONAI 1.6 (SoftclDiceLoss, SoftDiceclDiceLoss, GeneralizedDiceFocalLoss, FocalLoss
// with a per-class alpha), made by Scripts/make_cldice_fixtures.py (see its header for the
// producing code). Each case runs in Double (1e-9, relative to the tensor's scale) and Float
// (2e-4), in the case's own layout (channels-first) and converted to channels-last.

import Foundation
import XCTest

@testable import DiceKit

/// The loss a manifest entry of Fixtures/cldice_losses describes, in `layout`.
func makeClDiceFamilyLoss(_ o: [String: Any], layout: Layout) -> any SegmentationLoss {
    let activation = DiceActivation(rawValue: o["activation"] as! String)!
    let reduction = (o["reduction"] as? String).map { LossReduction(rawValue: $0)! } ?? .mean
    let excludeBackground = o["excludeBackground"] as? Bool ?? false
    switch o["loss"] as! String {
    case "cldice":
        var loss = ClDiceLoss(
            activation: activation, iterations: o["iterations"] as? Int ?? ClDiceLoss.defaultIterations,
            layout: layout)
        loss.smoothNumerator = o["smoothNumerator"] as? Double ?? ClDiceLoss.defaultSmoothing
        loss.smoothDenominator = o["smoothDenominator"] as? Double ?? ClDiceLoss.defaultSmoothing
        loss.smooth = o["smooth"] as? Double ?? ClDiceLoss.defaultHarmonicSmoothing
        loss.excludeBackground = excludeBackground
        loss.reduction = reduction
        return loss
    case "dice-cldice":
        return DiceClDiceLoss(
            activation: activation, iterations: o["iterations"] as? Int ?? ClDiceLoss.defaultIterations,
            alpha: o["alpha"] as? Double ?? DiceClDiceLoss.defaultAlpha,
            smoothNumerator: o["smoothNumerator"] as? Double ?? ClDiceLoss.defaultSmoothing,
            smoothDenominator: o["smoothDenominator"] as? Double ?? ClDiceLoss.defaultSmoothing,
            excludeBackground: excludeBackground, reduction: reduction, layout: layout)
    case "generalized-dice-focal":
        var loss = GeneralizedDiceFocalLoss(
            activation: activation,
            weighting: (o["weighting"] as? String).map { GeneralizedWeight(rawValue: $0)! } ?? .square,
            gamma: o["gamma"] as? Double ?? FocalLoss.defaultGamma, classWeights: o["classWeights"] as? [Double],
            excludeBackground: excludeBackground, batch: o["batch"] as? Bool ?? false, reduction: reduction,
            layout: layout)
        loss.generalizedDiceWeight = o["generalizedDiceWeight"] as? Double ?? 1
        loss.focalWeight = o["focalWeight"] as? Double ?? 1
        return loss
    default:
        var loss = makeSegmentationLoss(o, layout: layout) as! FocalLoss
        loss.classAlpha = o["classAlpha"] as? [Double]
        return loss
    }
}

final class ClDiceFixtureTests: XCTestCase {
    func load<T: BLASScalar>(_ file: String) throws -> Tensor<T> {
        try NPY.read(contentsOf: fixtureURL("cldice_losses/" + file).path).tensor(of: T.self)
    }

    func check<T: BLASScalar>(_ type: T.Type, tolerance: Double) throws {
        let data = try Data(contentsOf: fixtureURL("cldice_losses/cases.json"))
        let cases = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        XCTAssertEqual(cases.count, 14)
        var seen = Set<String>()
        for c in cases {
            let name = c["name"] as! String
            let options = c["options"] as! [String: Any]
            seen.insert(options["loss"] as! String)
            for layout in [Layout.channelsFirst, .channelsLast] {
                let change: (Tensor<T>) throws -> Tensor<T> = { try $0.converted(from: .channelsFirst, to: layout) }
                let x = try change(load("\(name)_pred.npy"))
                let target: SegmentationTarget<T>
                switch options["target"] as! String {
                case "labels":
                    let array = try NPY.read(contentsOf: fixtureURL("cldice_losses/\(name)_target.npy").path)
                    target = .labels(try LabelMap(shape: array.shape, labels: array.integers()))
                case "soft": target = .soft(try change(load("\(name)_target.npy")))
                default: target = .oneHot(try change(load("\(name)_target.npy")))
                }
                var expectedLoss: Tensor<T> = try load("\(name)_loss.npy")
                if expectedLoss.rank >= 4 { expectedLoss = try change(expectedLoss) }
                let expectedGrad = try change(load("\(name)_grad.npy"))
                let loss = makeClDiceFamilyLoss(options, layout: layout)
                let result = try loss.evaluate(x, target: target, gradient: true)
                let label = "\(name) [\(c["source"]!), \(T.self), \(layout.rawValue)]"
                XCTAssertEqual(result.loss.shape, expectedLoss.shape, label)
                if result.loss.shape == expectedLoss.shape {
                    XCTAssertLessThanOrEqual(
                        scaledError(result.loss, expectedLoss), tolerance,
                        "loss \(label): \(result.loss.scalars.prefix(4)) vs \(expectedLoss.scalars.prefix(4))")
                }
                XCTAssertLessThanOrEqual(scaledError(result.gradient!, expectedGrad), tolerance, "gradient \(label)")
            }
        }
        XCTAssertEqual(seen, ["cldice", "dice-cldice", "generalized-dice-focal", "focal"])
    }

    func testGoldensDouble() throws { try check(Double.self, tolerance: 1e-9) }
    func testGoldensFloat() throws { try check(Float.self, tolerance: 2e-4) }
}
