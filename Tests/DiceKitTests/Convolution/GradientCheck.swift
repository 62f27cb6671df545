// Central finite differences in Double for the backward passes of the convolution family.
//
// Every check uses the scalar loss L(x) = Σ f(x) · r with a fixed random r, so ∂L/∂f = r and the
// backward pass under test gets r as its output gradient. Central differences
// (L(x + h·e_i) − L(x − h·e_i)) / 2h are exact for the linear operations up to rounding
// (≈ ε·|L|/h ≈ 1e-12 here) and within h²·|f‴|/6 for the sigmoid, far below the 1e-6 bound.

import XCTest
@testable import DiceKit

/// The finite-difference gradient of `loss` at `x`, element by element.
func numericalGradient(_ x: Tensor<Double>, step h: Double = 1e-5,
                       _ loss: (Tensor<Double>) throws -> Double) rethrows -> Tensor<Double> {
    var gradient = Tensor<Double>(shape: x.shape)
    var probe = x
    for i in 0..<x.count {
        let original = probe.scalars[i]
        probe.scalars[i] = original + h
        let plus = try loss(probe)
        probe.scalars[i] = original - h
        let minus = try loss(probe)
        probe.scalars[i] = original
        gradient.scalars[i] = (plus - minus) / (2 * h)
    }
    return gradient
}

/// Σ a·b over all elements.
func dot(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.shape == b.shape, "dot: \(a.shape) vs \(b.shape)")
    var total = 0.0
    for i in 0..<a.count { total += a.scalars[i] * b.scalars[i] }
    return total
}

/// max |analytic − numeric| / max(max |numeric|, max |analytic|): one relative error per tensor.
func relativeError(_ analytic: Tensor<Double>, _ numeric: Tensor<Double>) -> Double {
    precondition(analytic.shape == numeric.shape, "relativeError: \(analytic.shape) vs \(numeric.shape)")
    let scale = Swift.max(numeric.scalars.map(abs).max() ?? 0, analytic.scalars.map(abs).max() ?? 0, 1e-300)
    return analytic.maxAbsDifference(numeric) / scale
}

/// Asserts the analytic gradient matches finite differences to `bound` (default 1e-6) relative error.
func assertGradient(_ analytic: Tensor<Double>?, at x: Tensor<Double>, bound: Double = 1e-6, step: Double = 1e-5,
                    _ message: String, file: StaticString = #filePath, line: UInt = #line,
                    _ loss: (Tensor<Double>) throws -> Double) rethrows {
    guard let analytic = analytic else {
        XCTFail("no analytic gradient: \(message)", file: file, line: line)
        return
    }
    let numeric = try numericalGradient(x, step: step, loss)
    XCTAssertEqual(analytic.shape, numeric.shape, message, file: file, line: line)
    let error = relativeError(analytic, numeric)
    XCTAssertLessThanOrEqual(error, bound, "relative error \(error): \(message)", file: file, line: line)
    XCTAssertGreaterThan(numeric.scalars.map(abs).max() ?? 0, 0, "vacuous gradient: \(message)", file: file, line: line)
}

/// A seeded normal tensor in Double.
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
    var generator = SeededGenerator(seed: seed)
    return Tensor<Double>.normal(shape, generator: &generator)
}
