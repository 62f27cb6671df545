// The magnitudes the Winograd tests' error bounds are stated in: V̄ = |Bᵀ| |d| |B| of a tile's
// window, computed in Double (BFloat16WinogradTests, BFloat16WinogradWeightGradientTests); and the
// errors against a Double reference and the assertion on them (WinogradTests, Winograd4Tests).

import XCTest

@testable import DiceKit

/// Bᵀ of F(2×2, 3×3).
let winogradBT: [[Double]] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]

/// G of F(2×2, 3×3).
let winogradG: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]

/// V̄[c · 16 + 4a + b] = Σ_ij |Bᵀ_ai| |d_ij| |B_jb| for every channel c of the 4 × 4 window of tile
/// (`tileRow`, `tileColumn`) of sample `n` of `x` [N, H, W, C], padded by one on each side
/// (padded row 2·tileRow + i is input row 2·tileRow + i − 1).
func winogradInputMagnitudes(_ x: Tensor<Double>, sample n: Int, tileRow ty: Int, tileColumn tx: Int) -> [Double] {
    let (h, width, channels) = (x.shape[1], x.shape[2], x.shape[3])
    var v = [Double](repeating: 0, count: channels * 16)
    for c in 0..<channels {
        for a in 0..<4 {
            for b in 0..<4 {
                var sum = 0.0
                for i in 0..<4 {
                    for j in 0..<4 {
                        let (r, column) = (2 * ty + i - 1, 2 * tx + j - 1)
                        guard r >= 0, r < h, column >= 0, column < width else { continue }
                        sum += abs(
                            winogradBT[a][i] * x.scalars[((n * h + r) * width + column) * channels + c]
                                * winogradBT[b][j])
                    }
                }
                v[c * 16 + a * 4 + b] = sum
            }
        }
    }
    return v
}

/// Largest and root-mean-square differences of `actual` from `expected`.
func winogradErrors(_ actual: Tensor<Float>, _ expected: Tensor<Double>) -> (max: Double, rms: Double) {
    var (worst, squares) = (0.0, 0.0)
    for i in 0..<expected.count {
        let e = abs(Double(actual.scalars[i]) - expected.scalars[i])
        (worst, squares) = (max(worst, e), squares + e * e)
    }
    return (worst, (squares / Double(max(expected.count, 1))).squareRoot())
}

/// Asserts that `winograd` (a Winograd pass's result) is within `largest` of the largest magnitude
/// of `reference` (its Double result) and has a root-mean-square error at most `rmsFactor` times
/// that of `direct` (the direct kernels' result on the same data), and that it differs from
/// `direct` somewhere (Winograd ran).
func assertWinogradError(
    _ winograd: Tensor<Float>, direct: Tensor<Float>, reference: Tensor<Double>, largest: Double, rmsFactor: Double,
    _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(winograd.shape, reference.shape, what, file: file, line: line)
    let scale = reference.scalars.map(abs).max() ?? 1
    let (ours, theirs) = (winogradErrors(winograd, reference), winogradErrors(direct, reference))
    XCTAssertLessThanOrEqual(ours.max, largest * scale, "\(what): max error of scale \(scale)", file: file, line: line)
    XCTAssertLessThanOrEqual(
        ours.rms, rmsFactor * theirs.rms + 1e-9 * scale, "\(what): rms \(ours.rms), direct \(theirs.rms)", file: file,
        line: line)
    XCTAssertTrue(winograd.scalars != direct.scalars, "\(what): the direct kernels' bits", file: file, line: line)
}
