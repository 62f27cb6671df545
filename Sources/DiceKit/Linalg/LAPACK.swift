// Typed wrappers over LAPACKE: the QR factorisation (geqrf + orgqr) and the singular value
// decomposition (gesdd). LAPACK's `info` codes become `LAPACKError` values.

internal import CLAPACKE

/// A failure reported by a LAPACK routine through its `info` result.
public enum LAPACKError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Argument `index` (1-based, LAPACK's numbering) of `routine` had an illegal value.
    case illegalArgument(routine: String, index: Int)
    /// The routine ran but did not succeed (for the SVD: it did not converge); `info` is LAPACK's code.
    case notConverged(routine: String, info: Int)
    /// The input holds NaN or infinity, which LAPACK does not accept.
    case nonFiniteInput(routine: String)

    /// One line naming the routine and the failure.
    public var description: String {
        switch self {
        case .illegalArgument(let routine, let index):
            return "\(routine): argument \(index) had an illegal value"
        case .notConverged(let routine, let info):
            return "\(routine): did not converge (info = \(info))"
        case .nonFiniteInput(let routine):
            return "\(routine): the matrix holds NaN or infinity; expected finite values"
        }
    }

    static func check(_ info: Int32, _ routine: String) throws {
        if info < 0 { throw LAPACKError.illegalArgument(routine: routine, index: Int(-info)) }
        if info > 0 { throw LAPACKError.notConverged(routine: routine, info: Int(info)) }
    }
}

/// Dense factorisations through LAPACKE, for row-major rank-2 tensors of Float or Double.
public enum LAPACK {
    /// The reduced QR factorisation A = Q·R of an m × n matrix.
    ///
    /// With k = min(m, n), Q is m × k with orthonormal columns (QᵀQ = I) and R is k × n upper
    /// triangular. Computed by `geqrf` (Householder reflectors) and `orgqr` (forming Q).
    ///
    /// - Throws: `DiceKitError.shape` unless `a` is a matrix; `LAPACKError` on a LAPACK failure
    ///   or non-finite input.
    public static func qr<T: BLASScalar>(_ a: Tensor<T>) throws -> (q: Tensor<T>, r: Tensor<T>) {
        guard a.rank == 2 else { throw DiceKitError.shape("qr needs a matrix, got shape \(a.shape)") }
        guard a.isFinite else { throw LAPACKError.nonFiniteInput(routine: "geqrf") }
        BLAS.ensureCoreGuard()
        let (m, n) = (a.shape[0], a.shape[1])
        let k = Swift.min(m, n)
        if k == 0 { return (Tensor(shape: [m, 0]), Tensor(shape: [0, n])) }
        var work = a.scalars
        var tau = [T](repeating: 0, count: k)
        try work.withUnsafeMutableBufferPointer { pa in
            try tau.withUnsafeMutableBufferPointer { pt in
                switch T.precision {
                case .single:
                    try LAPACKError.check(
                        LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), rebound(pa), Int32(n), rebound(pt)),
                        "sgeqrf")
                case .double:
                    try LAPACKError.check(
                        LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), rebound(pa), Int32(n), rebound(pt)),
                        "dgeqrf")
                }
            }
        }
        var r = Tensor<T>(shape: [k, n])
        for i in 0..<k {
            for j in i..<n { r.storage[i * n + j] = work[i * n + j] }
        }
        try work.withUnsafeMutableBufferPointer { pa in
            try tau.withUnsafeMutableBufferPointer { pt in
                switch T.precision {
                case .single:
                    try LAPACKError.check(
                        LAPACKE_sorgqr(
                            LAPACK_ROW_MAJOR, Int32(m), Int32(k), Int32(k), rebound(pa), Int32(n), rebound(pt)),
                        "sorgqr")
                case .double:
                    try LAPACKError.check(
                        LAPACKE_dorgqr(
                            LAPACK_ROW_MAJOR, Int32(m), Int32(k), Int32(k), rebound(pa), Int32(n), rebound(pt)),
                        "dorgqr")
                }
            }
        }
        var q = Tensor<T>(shape: [m, k])
        for i in 0..<m {
            for j in 0..<k { q.storage[i * k + j] = work[i * n + j] }
        }
        return (q, r)
    }

    /// The thin singular value decomposition A = U·diag(S)·Vᵀ of an m × n matrix.
    ///
    /// With k = min(m, n): U is m × k, S holds the k singular values in descending order, Vᵀ is
    /// k × n. Computed by `gesdd` (divide and conquer).
    ///
    /// - Throws: `DiceKitError.shape` unless `a` is a matrix; `LAPACKError` on a LAPACK failure
    ///   (including non-convergence) or non-finite input.
    public static func svd<T: BLASScalar>(_ a: Tensor<T>) throws -> (u: Tensor<T>, s: Tensor<T>, vt: Tensor<T>) {
        guard a.rank == 2 else { throw DiceKitError.shape("svd needs a matrix, got shape \(a.shape)") }
        guard a.isFinite else { throw LAPACKError.nonFiniteInput(routine: "gesdd") }
        BLAS.ensureCoreGuard()
        let (m, n) = (a.shape[0], a.shape[1])
        let k = Swift.min(m, n)
        if k == 0 { return (Tensor(shape: [m, 0]), Tensor(shape: [0]), Tensor(shape: [0, n])) }
        var work = a.scalars
        var s = [T](repeating: 0, count: k)
        var u = [T](repeating: 0, count: m * k)
        var vt = [T](repeating: 0, count: k * n)
        let jobz = CChar(UInt8(ascii: "S"))
        try work.withUnsafeMutableBufferPointer { pa in
            try s.withUnsafeMutableBufferPointer { ps in
                try u.withUnsafeMutableBufferPointer { pu in
                    try vt.withUnsafeMutableBufferPointer { pv in
                        switch T.precision {
                        case .single:
                            try LAPACKError.check(
                                LAPACKE_sgesdd(
                                    LAPACK_ROW_MAJOR, jobz, Int32(m), Int32(n), rebound(pa), Int32(n),
                                    rebound(ps), rebound(pu), Int32(k), rebound(pv), Int32(n)), "sgesdd")
                        case .double:
                            try LAPACKError.check(
                                LAPACKE_dgesdd(
                                    LAPACK_ROW_MAJOR, jobz, Int32(m), Int32(n), rebound(pa), Int32(n),
                                    rebound(ps), rebound(pu), Int32(k), rebound(pv), Int32(n)), "dgesdd")
                        }
                    }
                }
            }
        }
        return (
            Tensor(uncheckedShape: [m, k], storage: u), Tensor(uncheckedShape: [k], storage: s),
            Tensor(uncheckedShape: [k, n], storage: vt)
        )
    }
}
