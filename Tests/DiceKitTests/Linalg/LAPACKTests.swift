// QR and SVD wrappers, their typed errors, and the orthogonal initialiser.

import XCTest

@testable import DiceKit

final class LAPACKTests: XCTestCase {
    private func identityError<T: BLASScalar>(_ gram: Tensor<T>, scale: T = 1) -> T {
        var worst: T = 0
        for i in 0..<gram.shape[0] {
            for j in 0..<gram.shape[1] { worst = max(worst, abs(gram[i, j] - (i == j ? scale : 0))) }
        }
        return worst
    }

    private func checkQR<T: BLASScalar>(_: T.Type, m: Int, n: Int, tolerance: T) throws {
        var generator = SeededGenerator(seed: UInt64(m * 100 + n))
        let a = Tensor<T>.normal([m, n], generator: &generator)
        let (q, r) = try LAPACK.qr(a)
        let k = min(m, n)
        XCTAssertEqual(q.shape, [m, k])
        XCTAssertEqual(r.shape, [k, n])
        XCTAssertLessThan(identityError(try BLAS.matmul(q, q, transposeA: .transpose)), tolerance)
        XCTAssertLessThan(try BLAS.matmul(q, r).maxAbsDifference(a), tolerance * 10)
        for i in 0..<k { for j in 0..<min(i, n) { XCTAssertEqual(r[i, j], 0) } }
    }

    func testQRTallWideSquareFloatAndDouble() throws {
        for (m, n) in [(12, 5), (5, 12), (8, 8)] {
            try checkQR(Float.self, m: m, n: n, tolerance: 1e-5)
            try checkQR(Double.self, m: m, n: n, tolerance: 1e-12)
        }
    }

    func testSVDReconstructsAndOrdersSingularValues() throws {
        var generator = SeededGenerator(seed: 3)
        for (m, n) in [(9, 4), (4, 9)] {
            let a = Tensor<Double>.normal([m, n], generator: &generator)
            let (u, s, vt) = try LAPACK.svd(a)
            let k = min(m, n)
            XCTAssertEqual(u.shape, [m, k])
            XCTAssertEqual(s.shape, [k])
            XCTAssertEqual(vt.shape, [k, n])
            XCTAssertEqual(s.scalars, s.scalars.sorted(by: >))
            XCTAssertTrue(s.scalars.allSatisfy { $0 >= 0 })
            var us = u
            for i in 0..<m { for j in 0..<k { us[i, j] *= s[j] } }
            XCTAssertLessThan(try BLAS.matmul(us, vt).maxAbsDifference(a), 1e-12)
            XCTAssertLessThan(identityError(try BLAS.matmul(u, u, transposeA: .transpose)), 1e-12)
        }
        // A known case: diag(3, 2) has singular values 3, 2.
        let (_, s, _) = try LAPACK.svd(try Tensor<Float>(shape: [2, 2], scalars: [0, 2, 3, 0]))
        XCTAssertEqual(s.scalars, [3, 2])
    }

    func testFactorisationErrorsAreTyped() {
        let bad = try! Tensor<Double>(shape: [2, 2], scalars: [1, .nan, 0, 1])
        XCTAssertThrowsError(try LAPACK.qr(bad)) {
            XCTAssertEqual($0 as? LAPACKError, .nonFiniteInput(routine: "geqrf"))
        }
        XCTAssertThrowsError(try LAPACK.svd(bad)) {
            XCTAssertEqual($0 as? LAPACKError, .nonFiniteInput(routine: "gesdd"))
        }
        XCTAssertThrowsError(try LAPACK.qr(Tensor<Float>([1, 2, 3]))) { XCTAssertTrue($0 is DiceKitError) }
        XCTAssertEqual(
            LAPACKError.illegalArgument(routine: "sgeqrf", index: 4).description,
            "sgeqrf: argument 4 had an illegal value")
        XCTAssertThrowsError(try LAPACKError.check(-3, "dgesdd")) {
            XCTAssertEqual($0 as? LAPACKError, .illegalArgument(routine: "dgesdd", index: 3))
        }
        XCTAssertThrowsError(try LAPACKError.check(2, "dgesdd")) {
            XCTAssertEqual($0 as? LAPACKError, .notConverged(routine: "dgesdd", info: 2))
        }
    }

    func testOrthogonalInitializerMatchesKerasSemantics() throws {
        var generator = SeededGenerator(seed: 7)
        // Tall, wide and a flattened channels-last conv kernel [kh, kw, Cin, Cout] = [3, 3, 16, 32] → 144 × 32.
        for shape in [[64, 32], [32, 64], [3, 3, 16, 32]] {
            let w: Tensor<Float> = try Initializer.orthogonal(shape: shape, generator: &generator)
            XCTAssertEqual(w.shape, shape)
            let cols = shape.last!
            let rows = w.count / cols
            let flat = try w.reshaped(to: [rows, cols])
            let gram =
                rows >= cols
                ? try BLAS.matmul(flat, flat, transposeA: .transpose)
                : try BLAS.matmul(flat, flat, transposeB: .transpose)
            XCTAssertLessThan(identityError(gram), 1e-5, "shape \(shape)")
        }
        let scaled: Tensor<Double> = try Initializer.orthogonal(shape: [10, 6], gain: 2, generator: &generator)
        XCTAssertLessThan(identityError(try BLAS.matmul(scaled, scaled, transposeA: .transpose), scale: 4), 1e-12)
        // Reproducible from the seed; different seeds differ.
        var g1 = SeededGenerator(seed: 11)
        var g2 = SeededGenerator(seed: 11)
        var g3 = SeededGenerator(seed: 12)
        let w1: Tensor<Float> = try Initializer.orthogonal(shape: [5, 5], generator: &g1)
        let w2: Tensor<Float> = try Initializer.orthogonal(shape: [5, 5], generator: &g2)
        let w3: Tensor<Float> = try Initializer.orthogonal(shape: [5, 5], generator: &g3)
        XCTAssertEqual(w1, w2)
        XCTAssertNotEqual(w1, w3)
        XCTAssertThrowsError(try Initializer.orthogonal(shape: [5], generator: &g1) as Tensor<Float>)
        XCTAssertThrowsError(try Initializer.orthogonal(shape: [0, 5], generator: &g1) as Tensor<Float>)
    }
}
