// Shared helpers for DiceKit's tests: fixture paths, temporary folders, seeded tensors, the one
// closeness rule and the one finite-difference gradient.

import XCTest

@testable import DiceKit

/// The folder of committed fixtures (`Tests/DiceKitTests/Fixtures`), copied as a bundle resource.
func fixtureURL(_ relativePath: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(relativePath)
}

/// A temporary directory removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dicekit-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A seeded normal tensor in Double.
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
    var generator = SeededGenerator(seed: seed)
    return Tensor<Double>.normal(shape, generator: &generator)
}

/// Σ a·b over all elements.
func dot(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.shape == b.shape, "dot: \(a.shape) vs \(b.shape)")
    var total = 0.0
    for i in 0..<a.count { total += a.scalars[i] * b.scalars[i] }
    return total
}

// MARK: - Closeness
//
// One rule, swift-numerics' `isApproximatelyEqual(to:absoluteTolerance:relativeTolerance:)` with
// the expected value as the scale: |actual − expected| ≤ max(absolute, relative·|expected|).
// Element by element (`isApproximatelyEqual`, `assertClose`), or for a whole tensor against its
// largest magnitude (`scaledError`), which suits values that pass through zero (gradients).

/// Whether |actual − expected| ≤ max(`absoluteTolerance`, `relativeTolerance`·|expected|). NaN
/// is close only to NaN, an infinity only to itself.
func isApproximatelyEqual<T: BinaryFloatingPoint>(
    _ actual: T, to expected: T, absoluteTolerance: T,
    relativeTolerance: T = 0
) -> Bool {
    if expected.isNaN { return actual.isNaN }
    if expected.isInfinite { return actual == expected }
    return abs(actual - expected) <= max(absoluteTolerance, relativeTolerance * abs(expected))
}

/// Asserts `isApproximatelyEqual` element-wise (equal counts), naming the first offender.
func assertClose<T: BinaryFloatingPoint>(
    _ actual: [T], _ expected: [T], relativeTolerance: T, absoluteTolerance: T = 0,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "count \(message)", file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated()
    where !isApproximatelyEqual(a, to: e, absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance) {
        XCTFail(
            "element \(i): \(a) vs expected \(e) (relative \(relativeTolerance), absolute \(absoluteTolerance)) \(message)",
            file: file, line: line)
        return
    }
}

/// Asserts equal shapes and `isApproximatelyEqual` element-wise, naming the first offender.
func assertClose<T: BLASScalar>(
    _ actual: Tensor<T>, _ expected: Tensor<T>, relativeTolerance: T, absoluteTolerance: T = 0,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    assertClose(
        actual.scalars, expected.scalars, relativeTolerance: relativeTolerance, absoluteTolerance: absoluteTolerance,
        message, file: file, line: line)
}

/// max |actual − expected| / max(max |expected|, floor): the difference relative to the expected
/// tensor's scale. The floor (default 1e-12) keeps tensors that are zero up to underflow
/// (saturated logits) from dividing by ~0.
func scaledError<T: BLASScalar>(_ actual: Tensor<T>, _ expected: Tensor<T>, floor: Double = 1e-12) -> Double {
    precondition(actual.shape == expected.shape, "shapes \(actual.shape) vs \(expected.shape)")
    var scale = floor
    var error = 0.0
    for i in 0..<actual.count {
        scale = max(scale, abs(Double(expected.scalars[i])))
        error = max(error, abs(Double(actual.scalars[i]) - Double(expected.scalars[i])))
    }
    return error / scale
}

// MARK: - Finite differences

/// The step of a finite difference at element x_i.
enum FiniteDifferenceStep {
    /// h itself.
    case absolute(Double)
    /// h·max(1, |x_i|): relative for large values, absolute below 1.
    case relative(Double)

    func size(at x: Double) -> Double {
        switch self {
        case .absolute(let h): return h
        case .relative(let h): return h * max(1, abs(x))
        }
    }
}

/// Central finite differences of `f` at `x`: (f(x + h·e_i) − f(x − h·e_i)) / 2h for every
/// element i, in Double. Exact for linear maps up to rounding (≈ ε·|f|/h) and within
/// h²·|f‴|/6 otherwise.
func finiteDifferenceGradient(
    at x: Tensor<Double>, step: FiniteDifferenceStep = .absolute(1e-5),
    _ f: (Tensor<Double>) throws -> Double
) rethrows -> Tensor<Double> {
    var gradient = Tensor<Double>(shape: x.shape)
    var probe = x
    for i in 0..<x.count {
        let original = x.scalars[i]
        let h = step.size(at: original)
        probe.scalars[i] = original + h
        let plus = try f(probe)
        probe.scalars[i] = original - h
        let minus = try f(probe)
        probe.scalars[i] = original
        gradient.scalars[i] = (plus - minus) / (2 * h)
    }
    return gradient
}

/// Asserts that `analytic` matches the finite-difference gradient of `loss` at `x` to `bound`
/// (default 1e-6) in `scaledError`, and that the gradient is not vacuous.
func assertGradient(
    _ analytic: Tensor<Double>?, at x: Tensor<Double>, bound: Double = 1e-6, step: Double = 1e-5,
    _ message: String, file: StaticString = #filePath, line: UInt = #line,
    _ loss: (Tensor<Double>) throws -> Double
) rethrows {
    guard let analytic = analytic else {
        XCTFail("no analytic gradient: \(message)", file: file, line: line)
        return
    }
    let numeric = try finiteDifferenceGradient(at: x, step: .absolute(step), loss)
    XCTAssertEqual(analytic.shape, numeric.shape, message, file: file, line: line)
    let error = scaledError(analytic, numeric, floor: 1e-300)
    XCTAssertLessThanOrEqual(error, bound, "relative error \(error): \(message)", file: file, line: line)
    XCTAssertGreaterThan(numeric.scalars.map(abs).max() ?? 0, 0, "vacuous gradient: \(message)", file: file, line: line)
}

/// The coordinates of row-major index `i` in a grid of extents `shape` (last axis fastest).
func gridCoordinates(_ i: Int, shape: [Int]) -> [Int] {
    var rest = i
    var c = [Int](repeating: 0, count: shape.count)
    for a in stride(from: shape.count - 1, through: 0, by: -1) {
        c[a] = rest % shape[a]
        rest /= shape[a]
    }
    return c
}

/// The error `loss` throws for `x` against `target` (with the gradient), as text, or "no error".
func lossErrorMessage<L: SegmentationLoss>(_ loss: L, _ x: Tensor<Float>, _ target: SegmentationTarget<Float>) -> String
{
    do {
        _ = try loss.evaluate(x, target: target, gradient: true)
        return "no error"
    } catch { return "\(error)" }
}

/// The level the kernels run at when nothing is forced: the detected one, capped by
/// `DICEKIT_ISA` when the suite runs under it (`DICEKIT_ISA=avx2 swift test` on an AVX-512 CPU).
var automaticInstructionSet: InstructionSet {
    let detected = InstructionSet.detected
    guard let cap = ProcessInfo.processInfo.environment["DICEKIT_ISA"],
        let level = InstructionSet.allCases.first(where: { $0.description == cap }), level <= detected
    else { return detected }
    return level
}

/// By hand, for checking evaluations: each class's per-image Dice (MONAI's `DiceMetric` straight
/// from `OverlapMetric`), over the images whose target holds the class, in image order.
func presentDice(predicted: LabelMap, target: LabelMap, classes: Int) throws -> [[Double]] {
    let metric = OverlapMetric(score: .dice, reduction: .none, emptyClass: .exclude)
    let perImage = metric.scores(try metric.counts(predicted: predicted, target: target, classes: classes))
    return (0..<classes).map { c in
        stride(from: c, to: perImage.count, by: classes).map { perImage[$0] }.filter { !$0.isNaN }
    }
}
