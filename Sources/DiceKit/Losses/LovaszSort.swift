// The sort behind the Lovász losses and the Lovász gradient of a sorted 0/1 sequence.
//
// Errors are sorted in decreasing order, ties by position (so results do not depend on the sort
// algorithm). Float keys use a stable LSD radix sort over (order-preserving key bits, index)
// pairs: four passes of 8 bits, linear in the element count; Double keys use the standard sort.
// These loops are the reference; the losses run Float errors through the C kernel
// (Sources/CDiceKitKernels/lovasz/lovasz_extension.c), which gives the same bits.

internal import CDiceKitKernels

/// The Lovász-extension value Σ_i relu(e_(i))·Δ_i of errors `keys` with foreground flags `fg`,
/// and, in `slope` (input order), ∂value/∂e_j = Δ_rank(j) where e_j > 0 (0 elsewhere).
///
/// Δ is the discrete derivative of the Jaccard loss along the sorted order (Berman et al. 2018,
/// Alg. 1): with G = Σ fg and cumulative sums over the first i sorted elements,
/// J_i = 1 − (G − Σ fg) / (G + Σ (1 − fg)), Δ_0 = J_0, Δ_i = J_i − J_(i−1).
func lovaszExtension<T: BLASScalar>(
    keys: UnsafeMutableBufferPointer<T>, fg: UnsafeBufferPointer<UInt8>,
    slope: UnsafeMutableBufferPointer<T>?
) -> Double {
    let m = keys.count
    guard m > 0 else { return 0 }
    let order = decreasingOrder(keys)
    var gts = 0.0
    for j in 0..<m { gts += Double(fg[j]) }
    var cumFg = 0.0
    var cumBg = 0.0
    var previous = 0.0
    var value = 0.0
    for r in 0..<m {
        let j = Int(order[r])
        if fg[j] != 0 { cumFg += 1 } else { cumBg += 1 }
        let jaccard = 1 - (gts - cumFg) / (gts + cumBg)
        let delta = jaccard - previous
        previous = jaccard
        let e = keys[j]
        if e > 0 { value += Double(e) * delta }
        slope?[j] = e > 0 ? T(delta) : 0
    }
    return value
}

/// `lovaszExtension` with each slope signed by the error's derivative: −Δ where fg = 1, +Δ elsewhere
/// (∓0 where e ≤ 0). Float keys run the C kernel (Sources/CDiceKitKernels/lovasz/, an 11-bit radix
/// sort of the positive errors only) unless `kernel` is false; the result is the same bits.
func signedLovaszExtension<T: BLASScalar>(
    keys: UnsafeMutableBufferPointer<T>, fg: UnsafeBufferPointer<UInt8>,
    slope: UnsafeMutableBufferPointer<T>?, kernel: Bool
) -> Double {
    if kernel && T.self == Float.self {
        precondition(keys.count < Int(Int32.max), "signedLovaszExtension: \(keys.count) keys")
        let scratch = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * keys.count)
        defer { scratch.deallocate() }
        let k = UnsafeRawPointer(keys.baseAddress)?.assumingMemoryBound(to: Float.self)
        let s = slope.flatMap { UnsafeMutableRawPointer($0.baseAddress)?.assumingMemoryBound(to: Float.self) }
        return dk_lovasz_extension_f32(k, fg.baseAddress, keys.count, s, scratch)
    }
    let value = lovaszExtension(keys: keys, fg: fg, slope: slope)
    if let slope {
        for r in 0..<slope.count { slope[r] = slope[r] * (fg[r] == 1 ? -1 : 1) }
    }
    return value
}

/// Indices of `keys` in decreasing key order, ties by increasing index.
func decreasingOrder<T: BLASScalar>(_ keys: UnsafeMutableBufferPointer<T>) -> [Int32] {
    precondition(keys.count < Int(Int32.max), "decreasingOrder: \(keys.count) keys")
    return specialised(
        T.self,
        float: {
            keys.withMemoryRebound(to: Float.self) { radixDecreasingOrder(UnsafeBufferPointer($0)) }
        },
        double: {
            let k = UnsafeBufferPointer(keys)
            return (0..<Int32(k.count)).sorted { a, b in
                let x = k[Int(a)]
                let y = k[Int(b)]
                return x > y || (x == y && a < b)
            }
        })
}

/// Stable LSD radix sort of (key, index) pairs; the key bits are inverted so that larger floats
/// come first. NaN never reaches here (inputs are checked finite).
private func radixDecreasingOrder(_ keys: UnsafeBufferPointer<Float>) -> [Int32] {
    let m = keys.count
    var a = [UInt64](repeating: 0, count: m)
    var b = a
    for j in 0..<m {
        let bits = keys[j].bitPattern
        // Order-preserving map to unsigned (negative: all bits flipped; positive: sign set), inverted.
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        a[j] = UInt64(~ordered) << 32 | UInt64(j)
    }
    var counts = [Int](repeating: 0, count: 256)
    for pass in 0..<4 {
        let shift = UInt64(32 + 8 * pass)
        for v in 0..<256 { counts[v] = 0 }
        for v in a { counts[Int((v >> shift) & 0xFF)] += 1 }
        var total = 0
        for v in 0..<256 {
            let c = counts[v]
            counts[v] = total
            total += c
        }
        if counts[Int((a[0] >> shift) & 0xFF)] == 0 && total == m && counts.allSatisfy({ $0 == 0 || $0 == m }) {
            continue
        }
        for v in a {
            let bucket = Int((v >> shift) & 0xFF)
            b[counts[bucket]] = v
            counts[bucket] += 1
        }
        swap(&a, &b)
    }
    return a.map { Int32(truncatingIfNeeded: $0) }
}
