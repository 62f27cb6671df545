// Orthogonal weight initialisation (Saxe, McClelland & Ganguli 2014, "Exact solutions to the
// nonlinear dynamics of learning in deep linear neural networks"), with the semantics of Keras'
// `Orthogonal` initializer:
//   1. flatten the shape to rows = ∏ shape[0..<last], cols = shape[last];
//   2. draw a (max × min) standard normal matrix, taking the transpose orientation when rows < cols;
//   3. QR-factorise it and fix the signs, Q ← Q·diag(sign(diag R)), so Q is uniformly (Haar) distributed;
//   4. transpose back if needed, multiply by `gain`, reshape to `shape`.
// The rows (rows ≥ cols) or the columns (rows < cols) of the flattened result are orthonormal·gain.

// It sits in Linalg/ (it needs LAPACK's QR); `Initializer` itself and the variance-scaling
// initialisers are in Tensor/Initializers/, below the convolutions that use them.

extension Initializer {
    /// An orthogonal tensor of the given shape, scaled by `gain` (Keras `Orthogonal` semantics).
    ///
    /// The shape is flattened to a matrix [∏ shape without its last axis, last axis]; for a
    /// channels-last conv kernel [kh, kw, Cin, Cout] that is [kh·kw·Cin, Cout]. The flattened
    /// matrix W satisfies WᵀW = gain²·I when it has at least as many rows as columns, and
    /// WWᵀ = gain²·I otherwise.
    ///
    /// - Parameters:
    ///   - shape: rank ≥ 2, every extent ≥ 1.
    ///   - gain: multiplier of the orthogonal matrix; default 1.
    ///   - generator: the seeded source of the normal draws.
    /// - Throws: `DiceKitError.shape` for a shape of rank < 2 or an empty extent; `LAPACKError` if
    ///   the QR factorisation fails.
    public static func orthogonal<T: BLASScalar>(
        shape: [Int], gain: T = 1,
        generator: inout SeededGenerator
    ) throws -> Tensor<T> {
        guard shape.count >= 2, shape.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape("orthogonal initialiser needs rank ≥ 2 with extents ≥ 1, got \(shape)")
        }
        let cols = shape[shape.count - 1]
        let rows = shape.dropLast().reduce(1, *)
        let (tall, wide) = (Swift.max(rows, cols), Swift.min(rows, cols))
        let a = Tensor<T>.normal([tall, wide], generator: &generator)
        let (q, r) = try LAPACK.qr(a)
        var fixed = q
        for j in 0..<wide where r.storage[j * wide + j] < 0 {
            for i in 0..<tall { fixed.storage[i * wide + j] = -fixed.storage[i * wide + j] }
        }
        var flat = [T](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            for j in 0..<cols {
                // rows ≥ cols: W = Q (tall × wide); otherwise W = Qᵀ.
                flat[i * cols + j] = gain * (rows >= cols ? fixed.storage[i * wide + j] : fixed.storage[j * wide + i])
            }
        }
        return Tensor(uncheckedShape: shape, storage: flat)
    }
}
