// GEMM, GEMV and level-1 wrappers against naive loops, for Float and Double, every transpose
// combination and padded leading dimensions.

import XCTest

@testable import DiceKit

final class GEMMTests: XCTestCase {
    /// Naive C ← α·op(A)·op(B) + β·C on row-major storage with leading dimensions.
    private func naiveGEMM<T: BLASScalar>(
        _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: T,
        a: [T], lda: Int, b: [T], ldb: Int, beta: T, c: [T], ldc: Int
    ) -> [T] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = ta == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = tb == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += Double(av) * Double(bv)
                }
                out[i * ldc + j] = alpha * T(sum) + beta * c[i * ldc + j]
            }
        }
        return out
    }

    private func checkAllCombinations<T: BLASScalar>(_: T.Type, tolerance: T) {
        var generator = SeededGenerator(seed: 42)
        let (m, n, k) = (7, 5, 9)
        for ta in [Transpose.none, .transpose] {
            for tb in [Transpose.none, .transpose] {
                for pad in [0, 3] {
                    let (aRows, aCols) = ta == .none ? (m, k) : (k, m)
                    let (bRows, bCols) = tb == .none ? (k, n) : (n, k)
                    let (lda, ldb, ldc) = (aCols + pad, bCols + pad, n + pad)
                    let a = Tensor<T>.uniform([aRows * lda], lower: -1, upper: 1, generator: &generator).scalars
                    let b = Tensor<T>.uniform([bRows * ldb], lower: -1, upper: 1, generator: &generator).scalars
                    var c = Tensor<T>.uniform([m * ldc], lower: -1, upper: 1, generator: &generator).scalars
                    let expected = naiveGEMM(
                        ta, tb, m: m, n: n, k: k, alpha: T(1.5), a: a, lda: lda, b: b, ldb: ldb,
                        beta: T(-0.5), c: c, ldc: ldc)
                    BLAS.gemm(
                        transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: T(1.5), a: a, lda: lda,
                        b: b, ldb: ldb, beta: T(-0.5), c: &c, ldc: ldc)
                    for i in 0..<m {
                        for j in 0..<n {
                            XCTAssertEqual(
                                c[i * ldc + j], expected[i * ldc + j], accuracy: tolerance,
                                "\(T.self) \(ta)/\(tb) pad \(pad) at (\(i), \(j))")
                        }
                        // Padding columns of C are untouched.
                        for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], expected[i * ldc + j]) }
                    }
                }
            }
        }
    }

    func testGEMMFloatAllTransposesAndLeadingDimensions() { checkAllCombinations(Float.self, tolerance: 1e-5) }
    func testGEMMDoubleAllTransposesAndLeadingDimensions() { checkAllCombinations(Double.self, tolerance: 1e-13) }

    func testMatmulOfTensorsAndShapeErrors() throws {
        let a = try Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = try Tensor<Double>(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        XCTAssertEqual(try BLAS.matmul(a, b).scalars, [58, 64, 139, 154])
        XCTAssertEqual(try BLAS.matmul(a, a, transposeB: .transpose).scalars, [14, 32, 32, 77])
        XCTAssertThrowsError(try BLAS.matmul(a, a)) { error in
            XCTAssertEqual(
                error as? DiceKitError,
                .shape("matmul inner extents differ: op(A) is 2×3, op(B) is 2×3"))
        }
        XCTAssertThrowsError(try BLAS.matmul(Tensor<Double>([1, 2]), b))
    }

    func testLevel2AndLevel1Routines() {
        let a: [Double] = [1, 2, 3, 4, 5, 6] // 2 × 3
        var y: [Double] = [1, 1]
        BLAS.gemv(m: 2, n: 3, alpha: 2, a: a, lda: 3, x: [1, 0, -1], beta: 1, y: &y)
        XCTAssertEqual(y, [-3, -3])
        var yt: [Float] = [0, 0, 0]
        BLAS.gemv(transpose: .transpose, m: 2, n: 3, a: a.map(Float.init), lda: 3, x: [1, 1], y: &yt)
        XCTAssertEqual(yt, [5, 7, 9])
        var z: [Float] = [1, 2, 3]
        BLAS.axpy(alpha: 2, x: [1, 1, 1], y: &z)
        XCTAssertEqual(z, [3, 4, 5])
        XCTAssertEqual(BLAS.dot([1, 2, 3] as [Double], [4, 5, 6]), 32)
        BLAS.scal(alpha: -1, x: &z)
        XCTAssertEqual(z, [-3, -4, -5])
    }

    func testThreadControl() {
        let original = BLAS.threadCount
        XCTAssertGreaterThanOrEqual(original, 1)
        BLAS.withThreadCount(1) { XCTAssertEqual(BLAS.threadCount, 1) }
        XCTAssertEqual(BLAS.threadCount, original)
        BLAS.threadCount = 0 // raised to 1
        XCTAssertEqual(BLAS.threadCount, 1)
        BLAS.threadCount = original
        XCTAssertEqual(BLAS.threadCount, original)
        XCTAssertTrue(BLAS.configuration.contains("OpenBLAS"), BLAS.configuration)
        XCTAssertFalse(BLAS.coreName.isEmpty)
        XCTAssertTrue(["sequential", "pthreads", "openmp"].contains(BLAS.parallelism))
    }
}
