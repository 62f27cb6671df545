// Typed wrappers over OpenBLAS's CBLAS: GEMM, GEMV and the level-1 routines later code needs.
//
// Public entry points take Swift arrays and tensors; the pointer-level functions are internal and
// used by kernels (convolution tiles, optimisers) that work on slices of larger buffers. Argument
// checks are preconditions: a wrong leading dimension is a programmer error, not user input.
// Every entry point first runs the OpenBLAS core guard once (BLASCoreGuard.swift).

internal import COpenBLAS

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable, Equatable {
    /// Use the matrix as stored (op(A) = A).
    case none
    /// Use its transpose (op(A) = Aᵀ).
    case transpose

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Basic linear algebra on row-major matrices, dispatched to OpenBLAS's `s` or `d` routines.
public enum BLAS {
    /// C ← α·op(A)·op(B) + β·C on row-major matrices stored in arrays.
    ///
    /// op(A) is m × k, op(B) is k × n and C is m × n. `lda`, `ldb`, `ldc` are the row strides of
    /// the arrays as stored (≥ the stored column count), so sub-matrices can be addressed.
    ///
    /// - Precondition: the arrays hold at least the elements the shapes and strides address.
    public static func gemm<T: BLASScalar>(
        transposeA: Transpose = .none, transposeB: Transpose = .none,
        m: Int, n: Int, k: Int,
        alpha: T = 1, a: [T], lda: Int, b: [T], ldb: Int,
        beta: T = 0, c: inout [T], ldc: Int
    ) {
        let (aRows, aCols) = transposeA == .none ? (m, k) : (k, m)
        let (bRows, bCols) = transposeB == .none ? (k, n) : (n, k)
        checkOperand("A", rows: aRows, cols: aCols, ld: lda, count: a.count)
        checkOperand("B", rows: bRows, cols: bCols, ld: ldb, count: b.count)
        checkOperand("C", rows: m, cols: n, ld: ldc, count: c.count)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    gemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                        alpha: alpha, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                        beta: beta, c: pc.baseAddress!, ldc: ldc)
                }
            }
        }
    }

    /// The matrix product op(A)·op(B) of two rank-2 tensors.
    ///
    /// - Throws: `DiceKitError.shape` when an operand is not rank 2 or the inner extents differ.
    public static func matmul<T: BLASScalar>(
        _ a: Tensor<T>, _ b: Tensor<T>,
        transposeA: Transpose = .none,
        transposeB: Transpose = .none
    ) throws -> Tensor<T> {
        guard a.rank == 2, b.rank == 2 else {
            throw DiceKitError.shape("matmul needs two matrices, got shapes \(a.shape) and \(b.shape)")
        }
        let (m, ka) = transposeA == .none ? (a.shape[0], a.shape[1]) : (a.shape[1], a.shape[0])
        let (kb, n) = transposeB == .none ? (b.shape[0], b.shape[1]) : (b.shape[1], b.shape[0])
        guard ka == kb else {
            throw DiceKitError.shape("matmul inner extents differ: op(A) is \(m)×\(ka), op(B) is \(kb)×\(n)")
        }
        var c = [T](repeating: 0, count: m * n)
        if m > 0, n > 0 {
            gemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka,
                a: a.scalars, lda: Swift.max(a.shape[1], 1), b: b.scalars, ldb: Swift.max(b.shape[1], 1),
                c: &c, ldc: n)
        }
        return Tensor(uncheckedShape: [m, n], storage: c)
    }

    /// y ← α·op(A)·x + β·y for a row-major m × n matrix A stored in an array with row stride `lda`.
    public static func gemv<T: BLASScalar>(
        transpose: Transpose = .none, m: Int, n: Int,
        alpha: T = 1, a: [T], lda: Int, x: [T],
        beta: T = 0, y: inout [T]
    ) {
        checkOperand("A", rows: m, cols: n, ld: lda, count: a.count)
        let (xCount, yCount) = transpose == .none ? (n, m) : (m, n)
        ensureCoreGuard()
        precondition(
            x.count >= xCount && y.count >= yCount,
            "gemv: x holds \(x.count) (needs \(xCount)), y holds \(y.count) (needs \(yCount))")
        a.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    switch T.precision {
                    case .single:
                        cblas_sgemv(
                            CblasRowMajor, transpose.cblas, Int32(m), Int32(n), Float(alpha),
                            rebound(pa), Int32(lda), rebound(px), 1, Float(beta), rebound(py), 1)
                    case .double:
                        cblas_dgemv(
                            CblasRowMajor, transpose.cblas, Int32(m), Int32(n), Double(alpha),
                            rebound(pa), Int32(lda), rebound(px), 1, Double(beta), rebound(py), 1)
                    }
                }
            }
        }
    }

    /// y ← α·x + y.
    public static func axpy<T: BLASScalar>(alpha: T, x: [T], y: inout [T]) {
        precondition(x.count == y.count, "axpy: x holds \(x.count), y holds \(y.count)")
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                axpy(count: x.count, alpha: alpha, x: px.baseAddress!, y: py.baseAddress!)
            }
        }
    }

    /// The dot product xᵀy.
    public static func dot<T: BLASScalar>(_ x: [T], _ y: [T]) -> T {
        precondition(x.count == y.count, "dot: x holds \(x.count), y holds \(y.count)")
        ensureCoreGuard()
        return x.withUnsafeBufferPointer { px in
            y.withUnsafeBufferPointer { py in
                switch T.precision {
                case .single:
                    return T(cblas_sdot(Int32(x.count), rebound(px), 1, rebound(py), 1))
                case .double:
                    return T(cblas_ddot(Int32(x.count), rebound(px), 1, rebound(py), 1))
                }
            }
        }
    }

    /// x ← α·x.
    public static func scal<T: BLASScalar>(alpha: T, x: inout [T]) {
        ensureCoreGuard()
        x.withUnsafeMutableBufferPointer { px in
            switch T.precision {
            case .single: cblas_sscal(Int32(px.count), Float(alpha), rebound(px), 1)
            case .double: cblas_dscal(Int32(px.count), Double(alpha), rebound(px), 1)
            }
        }
    }

    // MARK: - Pointer-level entry points for kernels inside the module

    /// C ← α·op(A)·op(B) + β·C on row-major matrices addressed by pointers.
    @inline(__always)
    static func gemm<T: BLASScalar>(
        transposeA: Transpose, transposeB: Transpose, m: Int, n: Int, k: Int,
        alpha: T, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
        beta: T, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        precondition(
            m <= Int32.max && n <= Int32.max && k <= Int32.max, "gemm: extents exceed the 32-bit BLAS interface")
        ensureCoreGuard()
        switch T.precision {
        case .single:
            cblas_sgemm(
                CblasRowMajor, transposeA.cblas, transposeB.cblas, Int32(m), Int32(n), Int32(k),
                Float(alpha), rebound(a), Int32(lda), rebound(b), Int32(ldb),
                Float(beta), rebound(c), Int32(ldc))
        case .double:
            cblas_dgemm(
                CblasRowMajor, transposeA.cblas, transposeB.cblas, Int32(m), Int32(n), Int32(k),
                Double(alpha), rebound(a), Int32(lda), rebound(b), Int32(ldb),
                Double(beta), rebound(c), Int32(ldc))
        }
    }

    /// y ← α·x + y over `count` contiguous elements.
    @inline(__always)
    static func axpy<T: BLASScalar>(count: Int, alpha: T, x: UnsafePointer<T>, y: UnsafeMutablePointer<T>) {
        ensureCoreGuard()
        switch T.precision {
        case .single: cblas_saxpy(Int32(count), Float(alpha), rebound(x), 1, rebound(y), 1)
        case .double: cblas_daxpy(Int32(count), Double(alpha), rebound(x), 1, rebound(y), 1)
        }
    }

    private static func checkOperand(_ name: String, rows: Int, cols: Int, ld: Int, count: Int) {
        precondition(rows >= 0 && cols >= 0, "gemm: operand \(name) has negative extent \(rows)×\(cols)")
        precondition(
            ld >= Swift.max(cols, 1),
            "gemm: ld\(name.lowercased()) = \(ld) is below the \(cols) stored columns of \(name)")
        let needed = rows == 0 ? 0 : (rows - 1) * ld + cols
        precondition(
            count >= needed, "gemm: \(name) holds \(count) elements, \(rows)×\(cols) with ld \(ld) needs \(needed)")
    }
}

// Reinterpret a generic pointer as the concrete type its precision names. Only called inside a
// `switch T.precision` branch, where T is known to be that type.
@inline(__always) func rebound<T, U>(_ p: UnsafePointer<T>) -> UnsafePointer<U> {
    UnsafeRawPointer(p).assumingMemoryBound(to: U.self)
}
@inline(__always) func rebound<T, U>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<U> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: U.self)
}
@inline(__always) func rebound<T, U>(_ p: UnsafeBufferPointer<T>) -> UnsafePointer<U> {
    UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: U.self)
}
@inline(__always) func rebound<T, U>(_ p: UnsafeMutableBufferPointer<T>) -> UnsafeMutablePointer<U> {
    UnsafeMutableRawPointer(p.baseAddress!).assumingMemoryBound(to: U.self)
}
