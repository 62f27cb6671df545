// Conversions between DiceKit's kernel layout and PyTorch's, for checkpoints with PyTorch's
// names and layouts.
//
//   convolution             PyTorch [Cout, Cin/g, k…]     ⇄ DiceKit [k…, Cin/g, Cout]
//   transposed convolution  PyTorch [Cin, Cout/g, k…]     ⇄ DiceKit [k…, Cout/g, Cin]
// Both are the same permutation: the two leading axes move to the end in reverse order.
// No spatial flip is involved: PyTorch's conv_transpose is the adjoint of its conv with the
// same tensor read as a convolution kernel, and so is DiceKit's.

internal import CDiceKitKernels

/// Kernel layout conversions between DiceKit (TensorFlow's layout) and PyTorch.
public enum WeightLayout {
    /// A kernel in PyTorch's layout converted to DiceKit's.
    ///
    /// Convolution: [Cout, Cin/groups, kh, kw] → [kh, kw, Cin/groups, Cout] (likewise with kd).
    /// Transposed convolution: [Cin, Cout/groups, kh, kw] → [kh, kw, Cout/groups, Cin].
    ///
    /// - Throws: `DiceKitError.shape` unless the rank is 3, 4 or 5 (1, 2 or 3 spatial axes).
    public static func fromPyTorch<T: BLASScalar>(_ weight: Tensor<T>) throws -> Tensor<T> {
        guard (3...5).contains(weight.rank) else {
            throw DiceKitError.shape(
                "fromPyTorch: weight shape \(weight.shape); expected [out, in, k…] with 1 to 3 spatial axes")
        }
        let (a, b) = (weight.shape[0], weight.shape[1])
        let spatial = Array(weight.shape[2...])
        let k = spatial.reduce(1, *)
        let result = [T](unsafeUninitializedCapacity: weight.count) { target, count in
            weight.withUnsafeBufferPointer { source in
                permute(source.baseAddress!, target.baseAddress!, a: a, b: b, k: k, toPyTorch: false)
            }
            count = weight.count
        }
        return Tensor(uncheckedShape: spatial + [b, a], storage: result)
    }

    /// A kernel in DiceKit's layout converted to PyTorch's: the inverse of `fromPyTorch`.
    ///
    /// Convolution: [kh, kw, Cin/groups, Cout] → [Cout, Cin/groups, kh, kw].
    /// Transposed convolution: [kh, kw, Cout/groups, Cin] → [Cin, Cout/groups, kh, kw].
    ///
    /// - Throws: `DiceKitError.shape` unless the rank is 3, 4 or 5.
    public static func toPyTorch<T: BLASScalar>(_ weight: Tensor<T>) throws -> Tensor<T> {
        guard (3...5).contains(weight.rank) else {
            throw DiceKitError.shape(
                "toPyTorch: weight shape \(weight.shape); expected [k…, in, out] with 1 to 3 spatial axes")
        }
        let r = weight.rank
        let (b, a) = (weight.shape[r - 2], weight.shape[r - 1])
        let spatial = Array(weight.shape[..<(r - 2)])
        let k = spatial.reduce(1, *)
        let result = [T](unsafeUninitializedCapacity: weight.count) { target, count in
            weight.withUnsafeBufferPointer { source in
                permute(source.baseAddress!, target.baseAddress!, a: a, b: b, k: k, toPyTorch: true)
            }
            count = weight.count
        }
        return Tensor(uncheckedShape: [a, b] + spatial, storage: result)
    }

    /// target += toPyTorch(source) in one pass, with no converted tensor in between (each
    /// training step's kernel gradients): `source` a kernel of DiceKit shape `shape` (rank 3 to
    /// 5), `target` in PyTorch's layout; the same sums, element by element. With `toZero`,
    /// target is taken to hold zeros and is not read: each element becomes 0 + value, the bits
    /// of the sum (a gradient zeroed but not yet written, `Parameter.accumulateGradient`).
    static func addToPyTorch<T: BLASScalar>(
        _ source: UnsafePointer<T>, shape: [Int], into target: UnsafeMutablePointer<T>, toZero: Bool = false
    ) {
        let r = shape.count
        precondition((3...5).contains(r), "addToPyTorch: kernel shape \(shape); expected rank 3 to 5")
        permute(
            source, target, a: shape[r - 1], b: shape[r - 2], k: shape[..<(r - 2)].reduce(1, *), toPyTorch: true,
            store: toZero ? DK_LAYOUT_ADD_TO_ZERO : DK_LAYOUT_ADD)
    }

    /// Moves element (i, j, t) between PyTorch's [a, b, k] and DiceKit's [k, b, a] order: a
    /// transpose of an a × (b·k) matrix, in blocks of 16 values of i so that both sides are
    /// read and written a cache line at a time. A training step converts every kernel and every
    /// kernel gradient (1.9 M values in the base-16 U-Net, 7.8 M in base 32), so the values of
    /// j are dealt out to the worker pool in ranges of about 64 k values: each (j, t) row of
    /// both layouts belongs to one range, and the result is the same whatever the split.
    /// `store` (toPyTorch only) says whether each value is written, added to what the target
    /// holds, or added to a zero the target is taken to hold (not read). Float runs
    /// on the vector kernels of convolution/weight_layout.c (whole lines of both sides: 16 × 16
    /// blocks transposed in registers toward PyTorch, gathers toward DiceKit), Double on the
    /// loops below.
    ///
    /// Reached through the public `fromPyTorch`/`toPyTorch` from another module, T is not known
    /// at compile time and generic loops would run unspecialised, a value-witness call per
    /// element (5.8× slower, `weight_layout_b16_d4`); the pointers go to concrete Float or Double
    /// code instead.
    private static func permute<T: BLASScalar>(
        _ source: UnsafePointer<T>, _ target: UnsafeMutablePointer<T>,
        a: Int, b: Int, k: Int, toPyTorch: Bool, store: dk_layout_store = DK_LAYOUT_WRITE
    ) {
        precondition(toPyTorch || store == DK_LAYOUT_WRITE, "permute: adding is defined toward PyTorch's layout only")
        let (from, to) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(target))
        specialised(
            T.self,
            float: {
                // The vector kernels of convolution/weight_layout.c, on the same ranges of j.
                let shared = TaskShared(
                    (from.assumingMemoryBound(to: Float.self), to.assumingMemoryBound(to: Float.self)))
                WorkerPool.shared.forEachRange(b, grain: grain(a: a, k: k)) { range in
                    let (source, target) = shared.buffers
                    let (j0, j1) = (range.lowerBound, range.upperBound)
                    if toPyTorch {
                        dk_kernel_to_pytorch(source, target, a, b, k, j0, j1, store)
                    } else {
                        dk_kernel_from_pytorch(source, target, a, b, k, j0, j1)
                    }
                }
            },
            double: {
                permuteInParallel(
                    from.assumingMemoryBound(to: Double.self), to.assumingMemoryBound(to: Double.self), a: a, b: b,
                    k: k, toPyTorch: toPyTorch, store: store)
            })
    }

    /// Values of j per task: about 64 k values.
    private static func grain(a: Int, k: Int) -> Int { Swift.max(1, (1 << 16) / Swift.max(1, a * k)) }

    /// `permute` with a concrete scalar type (Double; Float runs the C kernels).
    private static func permuteInParallel<T: BLASScalar>(
        _ source: UnsafePointer<T>, _ target: UnsafeMutablePointer<T>,
        a: Int, b: Int, k: Int, toPyTorch: Bool, store: dk_layout_store
    ) {
        let shared = TaskShared((source, target))
        WorkerPool.shared.forEachRange(b, grain: grain(a: a, k: k)) { range in
            let (source, target) = shared.buffers
            permute(source, target, a: a, b: b, k: k, j: range, toPyTorch: toPyTorch, store: store)
        }
    }

    /// `permute` of the values whose j lies in `js`: each loop written out (no store closure),
    /// so that every element costs a load and a store (and an add when `store` adds).
    private static func permute<T: BLASScalar>(
        _ source: UnsafePointer<T>, _ target: UnsafeMutablePointer<T>,
        a: Int, b: Int, k: Int, j js: Range<Int>, toPyTorch: Bool, store: dk_layout_store
    ) {
        let block = 16
        let rowStride = b * k // between PyTorch rows i and i + 1
        for i0 in stride(from: 0, to: a, by: block) {
            let i1 = Swift.min(a, i0 + block)
            for j in js {
                for t in 0..<k {
                    let dk = source + (t * b + j) * a // DiceKit's (0, j, t), as read by toPyTorch
                    let pt = j * k + t // PyTorch offset of (0, j, t)
                    if !toPyTorch {
                        let from = source + pt
                        let to = target + (t * b + j) * a
                        for i in i0..<i1 { (to + i).initialize(to: from[i * rowStride]) }
                    } else if store == DK_LAYOUT_ADD {
                        for i in i0..<i1 { target[i * rowStride + pt] += dk[i] }
                    } else if store == DK_LAYOUT_ADD_TO_ZERO {
                        for i in i0..<i1 { (target + i * rowStride + pt).initialize(to: 0 + dk[i]) }
                    } else {
                        for i in i0..<i1 { (target + i * rowStride + pt).initialize(to: dk[i]) }
                    }
                }
            }
        }
    }
}
