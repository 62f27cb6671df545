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
    func check<T: BLASScalar>(_ type: T.Type, tolerance: Double) throws {
        try checkLossGoldens(
            T.self, folder: "cldice_losses", cases: 14,
            losses: ["cldice", "dice-cldice", "generalized-dice-focal", "focal"],
            tolerance: tolerance, make: makeClDiceFamilyLoss)
    }

    func testGoldensDouble() throws { try check(Double.self, tolerance: 1e-9) }
    func testGoldensFloat() throws { try check(Float.self, tolerance: 2e-4) }
}
