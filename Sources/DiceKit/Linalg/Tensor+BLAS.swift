// The Tensor operations that call BLAS. They live in Linalg/, above Tensor/, so that Tensor/
// depends on nothing but Support/: Linalg takes tensors, tensors never call Linalg.

extension Tensor {
    /// In-place element-wise sum (BLAS axpy, so it runs at full speed even from generic code).
    ///
    /// - Precondition: equal shapes.
    public static func += (lhs: inout Tensor, rhs: Tensor) {
        precondition(lhs.shape == rhs.shape, "Tensor +=: shapes \(lhs.shape) and \(rhs.shape) differ")
        guard lhs.count > 0 else { return }
        lhs.storage.withUnsafeMutableBufferPointer { l in
            rhs.storage.withUnsafeBufferPointer { r in
                BLAS.axpy(count: l.count, alpha: 1, x: r.baseAddress!, y: l.baseAddress!)
            }
        }
    }
}
