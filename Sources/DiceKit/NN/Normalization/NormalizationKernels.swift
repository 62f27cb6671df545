// Kernels shared by BatchNorm, InstanceNorm and GroupNorm, on channels-last data viewed as
// [N, S, C] (S = the product of the spatial extents).
//
// Each normalisation splits the elements into sets, normalises each set with its mean μ and
// biased variance σ², then applies a per-channel affine map:
//   x̂ = (x − μ)/√(σ² + ε),   y = γ_c·x̂ + β_c.
// BatchNorm's sets are the channels (over N and S); GroupNorm's are (sample, group of C/G
// channels) over S; InstanceNorm is GroupNorm with G = C.
//
// Backward, for a set of K elements (Ioffe & Szegedy 2015, eq. in §3):
//   d x̂ = γ_c·dy,
//   dx = (1/√(σ²+ε))·(d x̂ − mean(d x̂) − x̂·mean(d x̂·x̂)),
//   dγ_c = Σ dy·x̂,   dβ_c = Σ dy   (sums over every element of channel c).
// Sums accumulate in Double: a set can hold millions of elements.

/// Checks that `shape` is [N, spatial…, C] with the expected channel count; returns (N, S, C).
func normalizationExtents(_ shape: [Int], channels: Int, layer: String) throws -> (Int, Int, Int) {
    guard shape.count >= 3, shape.last == channels else {
        throw DiceKitError.shape(
            "\(layer): input shape \(shape); expected [batch, spatial…, \(channels)] (channels-last, rank ≥ 3)")
    }
    let spatial = shape.dropFirst().dropLast().reduce(1, *)
    return (shape[0], spatial, channels)
}

/// Per-channel statistics over all rows of an [M, C] matrix: (mean, biased variance).
@_specialize(where T == Float)
@_specialize(where T == Double)
func channelMoments<T: BLASScalar>(_ x: UnsafeBufferPointer<T>, rows: Int, channels: Int) -> (
    mean: [Double], variance: [Double]
) {
    var mean = [Double](repeating: 0, count: channels)
    var variance = [Double](repeating: 0, count: channels)
    guard rows > 0 else { return (mean, variance) }
    mean.withUnsafeMutableBufferPointer { m in
        variance.withUnsafeMutableBufferPointer { v in
            // Two passes (mean, then squared deviations): stable for large offsets.
            for r in 0..<rows {
                let base = r &* channels
                for c in 0..<channels { m[c] += Double(x[base &+ c]) }
            }
            for c in 0..<channels { m[c] /= Double(rows) }
            for r in 0..<rows {
                let base = r &* channels
                for c in 0..<channels {
                    let d = Double(x[base &+ c]) - m[c]
                    v[c] += d * d
                }
            }
            for c in 0..<channels { v[c] /= Double(rows) }
        }
    }
    return (mean, variance)
}

/// y = γ_c·x̂ + β_c with x̂ = (x − shift_c)·scale_c, row by row over [M, C]; also stores x̂. With
/// `rectifies`, y is a ReLU's output instead: +0 where γ_c·x̂ + β_c ≤ 0, NaN kept.
@_specialize(where T == Float)
@_specialize(where T == Double)
func normalizeRows<T: BLASScalar>(
    _ x: UnsafeBufferPointer<T>, rows: Int, channels: Int,
    shift: [T], scale: [T], gamma: [T], beta: [T], rectifies: Bool = false,
    normalized: UnsafeMutableBufferPointer<T>, output: UnsafeMutableBufferPointer<T>
) {
    guard !rectifies else {
        normalizeRows(
            x, rows: rows, channels: channels, shift: shift, scale: scale, gamma: gamma, beta: beta,
            normalized: normalized, output: output, { $0 <= 0 ? 0 : $0 })
        return
    }
    normalizeRows(
        x, rows: rows, channels: channels, shift: shift, scale: scale, gamma: gamma, beta: beta,
        normalized: normalized, output: output, { $0 })
}

/// `normalizeRows` with `activation` applied to y (inlined into each caller's loop).
@inline(__always)
private func normalizeRows<T: BLASScalar>(
    _ x: UnsafeBufferPointer<T>, rows: Int, channels: Int, shift: [T], scale: [T], gamma: [T], beta: [T],
    normalized: UnsafeMutableBufferPointer<T>, output: UnsafeMutableBufferPointer<T>, _ activation: (T) -> T
) {
    shift.withUnsafeBufferPointer { shift in
        scale.withUnsafeBufferPointer { scale in
            gamma.withUnsafeBufferPointer { gamma in
                beta.withUnsafeBufferPointer { beta in
                    for r in 0..<rows {
                        let base = r &* channels
                        for c in 0..<channels {
                            let h = (x[base &+ c] - shift[c]) * scale[c]
                            normalized[base &+ c] = h
                            output[base &+ c] = activation(gamma[c] * h + beta[c])
                        }
                    }
                }
            }
        }
    }
}

/// Per-channel Σ dy and Σ dy·x̂ over the rows of [M, C].
@_specialize(where T == Float)
@_specialize(where T == Double)
func channelGradientSums<T: BLASScalar>(
    _ dy: UnsafeBufferPointer<T>, _ xhat: UnsafeBufferPointer<T>,
    rows: Int, channels: Int
) -> (dBeta: [Double], dGamma: [Double]) {
    var dBeta = [Double](repeating: 0, count: channels)
    var dGamma = [Double](repeating: 0, count: channels)
    dBeta.withUnsafeMutableBufferPointer { b in
        dGamma.withUnsafeMutableBufferPointer { g in
            for r in 0..<rows {
                let base = r &* channels
                for c in 0..<channels {
                    let d = Double(dy[base &+ c])
                    b[c] += d
                    g[c] += d * Double(xhat[base &+ c])
                }
            }
        }
    }
    return (dBeta, dGamma)
}

/// Adds per-channel sums into a parameter gradient.
func accumulateChannelSums<T: BLASScalar>(_ sums: [Double], into gradient: inout Tensor<T>) {
    gradient.withUnsafeMutableBufferPointer { g in
        for c in sums.indices { g[c] += T(sums[c]) }
    }
}

/// The values of an optional affine parameter, or `fill` repeated.
func affineValues<T: BLASScalar>(_ parameter: Parameter<T>?, channels: Int, fill: T) -> [T] {
    parameter?.value.scalars ?? [T](repeating: fill, count: channels)
}
