// Helpers for the loss tests: building a DiceLoss from the fixture manifest's options, loading
// fixtures and asserting one-line errors (closeness and finite differences: TestSupport.swift).

import Foundation
import XCTest

@testable import DiceKit

/// Asserts that `expression` throws a one-line `DiceKitError` whose message contains `text`;
/// `context` (e.g. the instruction set and shape of a case) prefixes the failure messages.
func assertError(
    _ expression: @autoclosure () throws -> Any, contains text: String, context: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    let prefix = context.isEmpty ? "" : "\(context): "
    XCTAssertThrowsError(try expression(), "\(prefix)did not throw", file: file, line: line) { error in
        let message = "\(error)"
        XCTAssertTrue(error is DiceKitError, "\(prefix)\(error)", file: file, line: line)
        XCTAssertTrue(message.contains(text), "\(prefix)'\(message)' lacks '\(text)'", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "\(prefix)\(message)", file: file, line: line)
    }
}

/// A DiceLoss from the option names used in Tests/DiceKitTests/Fixtures/losses/cases.json and
/// cross_entropy_cases.json.
func makeLoss(_ options: [String: Any]) -> DiceLoss {
    var loss = DiceLoss()
    if let v = options["variant"] as? String {
        loss.variant = DiceVariant(
            DiceVariant.Name(rawValue: v)!, alpha: options["alpha"] as? Double ?? DiceVariant.defaultTverskyAlpha,
            beta: options["beta"] as? Double ?? DiceVariant.defaultTverskyBeta,
            gamma: options["gamma"] as? Double ?? DiceVariant.defaultFocalTverskyGamma,
            weighting: (options["generalizedWeight"] as? String).map { GeneralizedWeight(rawValue: $0)! }
                ?? DiceVariant.defaultGeneralizedWeighting)
    }
    if let v = options["activation"] as? String { loss.activation = DiceActivation(rawValue: v)! }
    if let v = options["layout"] as? String { loss.layout = Layout(rawValue: v)! }
    if let v = options["reduction"] as? String { loss.reduction = LossReduction(rawValue: v)! }
    if let v = options["emptyClass"] as? String { loss.emptyClass = EmptyClassPolicy(rawValue: v)! }
    if let v = options["squared"] as? Bool { loss.squared = v }
    if let v = options["softLabels"] as? Bool { loss.softLabels = v }
    if let v = options["excludeBackground"] as? Bool { loss.excludeBackground = v }
    if let v = options["batch"] as? Bool { loss.batch = v }
    if let v = options["classWeights"] as? [Double] { loss.classWeights = v }
    if let v = options["ignoreIndex"] as? Int { loss.ignoreIndex = v }
    if let v = options["smoothNumerator"] as? Double { loss.smoothNumerator = v }
    if let v = options["smoothDenominator"] as? Double { loss.smoothDenominator = v }
    if let v = options["diceWeight"] as? Double { loss.diceWeight = v }
    if let v = options["crossEntropyWeight"] as? Double { loss.crossEntropyWeight = v }
    if let v = options["crossEntropyClassWeights"] as? [Double] { loss.crossEntropyClassWeights = v }
    if let v = options["labelSmoothing"] as? Double { loss.labelSmoothing = v }
    if let v = options["preset"] as? String {
        let epsilon = options["epsilon"] as? Double ?? SeedPreset.defaultEpsilon
        switch SeedPreset.Name(rawValue: v)! {
        case .basic: loss = loss.seeded(.basic, epsilon: epsilon)
        case .multiclass: loss = loss.seeded(.multiclass, epsilon: epsilon)
        case .weighted:
            loss = loss.seeded(.weighted(classWeights: loss.classWeights!), epsilon: epsilon)
            loss.classWeights = nil
        }
    }
    return loss
}

/// Reads a fixture as a tensor of T.
func loadTensor<T: BLASScalar>(_ path: String, as: T.Type = T.self) throws -> Tensor<T> {
    try NPY.read(contentsOf: fixtureURL("losses/" + path).path).tensor(of: T.self)
}
