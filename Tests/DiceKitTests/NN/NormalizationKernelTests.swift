// The normalisation layers' C passes (Sources/CDiceKitKernels/normalization) against their Swift
// references (NormalizationKernels.swift), bit for bit, at every instruction set this CPU runs:
// channel counts below, at and between the kernels' 16-channel blocks, one row and many, values
// far from zero, signed zeros, and (for the rectifier) outputs on both sides of zero and NaN.

import XCTest

@testable import DiceKit

final class NormalizationKernelTests: XCTestCase {
    private let shapes = [(rows: 1, channels: 16), (37, 3), (300, 16), (129, 24), (64, 37), (50, 64)]

    private func values(_ count: Int, seed: UInt64, mean: Double = 0.5) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        var result = Tensor<Float>.normal([count], mean: Float(mean), standardDeviation: 2, generator: &generator)
            .scalars
        if count > 4 { (result[1], result[3]) = (-0.0, 0) }
        return result
    }

    private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
    private func bits(_ values: [Double]) -> [UInt64] { values.map(\.bitPattern) }

    /// normalizeRows's signature: x, rows, channels, shift, scale, γ, β, rectifies, x̂, y.
    private typealias NormalizePass = (
        UnsafeBufferPointer<Float>, Int, Int, [Float], [Float], [Float], [Float], ActivationKind?,
        UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>
    ) -> Void

    private func forEachLevel(_ body: (InstructionSet) throws -> Void) throws {
        for isa in InstructionSet.available { try KernelDispatch.withInstructionSet(isa) { try body(isa) } }
    }

    func testMomentsAndGradientSumsAreTheReferenceBits() throws {
        try forEachLevel { isa in
            for (k, (rows, c)) in shapes.enumerated() {
                let label = "\(isa), \(rows) × \(c)"
                let x = values(rows * c, seed: UInt64(10 + k), mean: k == 2 ? 1e4 : 0.5)
                let dy = values(rows * c, seed: UInt64(30 + k))
                try x.withUnsafeBufferPointer { x in
                    let kernel = channelMoments(x, rows: rows, channels: c)
                    let reference = referenceChannelMoments(x, rows: rows, channels: c)
                    XCTAssertEqual(bits(kernel.mean), bits(reference.mean), "mean, \(label)")
                    XCTAssertEqual(bits(kernel.variance), bits(reference.variance), "variance, \(label)")
                    if rows > 1 { XCTAssertGreaterThan(try XCTUnwrap(reference.variance.max()), 0, label) }
                    dy.withUnsafeBufferPointer { dy in
                        let sums = channelGradientSums(dy, x, rows: rows, channels: c)
                        let expected = referenceChannelGradientSums(dy, x, rows: rows, channels: c)
                        XCTAssertEqual(bits(sums.dBeta), bits(expected.dBeta), "Σdy, \(label)")
                        XCTAssertEqual(bits(sums.dGamma), bits(expected.dGamma), "Σdy·x̂, \(label)")
                    }
                }
            }
        }
    }

    func testRowPassesAreTheReferenceBits() throws {
        try forEachLevel { isa in
            for (k, (rows, c)) in shapes.enumerated() {
                let x = values(rows * c, seed: UInt64(50 + k))
                let dy = values(rows * c, seed: UInt64(70 + k))
                var perChannel = (0..<6).map { values(c, seed: UInt64(90 + 10 * k + $0)) }
                perChannel[1] = perChannel[1].map { abs($0) + 0.1 } // scales
                if c > 2 { perChannel[3][2] = .nan } // a NaN β: the rectifier keeps it
                let (shift, scale, gamma, beta, first, second) = (
                    perChannel[0], perChannel[1], perChannel[2], perChannel[3], perChannel[4], perChannel[5]
                )
                var plain: [Float] = []
                for activation in [nil, .relu, .leakyReLU(slope: 0.01)] as [ActivationKind?] {
                    let label = "\(isa), \(rows) × \(c), activation \(activation.map { "\($0)" } ?? "none")"
                    func run(_ pass: NormalizePass) -> (h: [Float], y: [Float]) {
                        var (h, y) = ([Float](repeating: 1, count: x.count), [Float](repeating: 1, count: x.count))
                        x.withUnsafeBufferPointer { x in
                            h.withUnsafeMutableBufferPointer { h in
                                y.withUnsafeMutableBufferPointer { y in
                                    pass(
                                        x, rows, c, shift, scale, gamma, beta, activation, h, y)
                                }
                            }
                        }
                        return (h, y)
                    }
                    let kernel = run {
                        normalizeRows(
                            $0, rows: $1, channels: $2, shift: $3, scale: $4, gamma: $5, beta: $6, activation: $7,
                            normalized: $8, output: $9)
                    }
                    let reference = run {
                        referenceNormalizeRows(
                            $0, rows: $1, channels: $2, shift: $3, scale: $4, gamma: $5, beta: $6, activation: $7,
                            normalized: $8, output: $9)
                    }
                    XCTAssertEqual(bits(kernel.h), bits(reference.h), "x̂, \(label)")
                    XCTAssertEqual(bits(kernel.y), bits(reference.y), "y, \(label)")
                    if case .relu? = activation, !x.isEmpty {
                        // The pass that stores y rounded (BatchNorm.forwardRounded): the bits of rounding y.
                        var (h, rounded) = (
                            [Float](repeating: 1, count: x.count), [UInt16](repeating: 1, count: x.count)
                        )
                        x.withUnsafeBufferPointer { x in
                            h.withUnsafeMutableBufferPointer { h in
                                rounded.withUnsafeMutableBufferPointer { out in
                                    normalizeRowsRounded(
                                        x, rows: rows, channels: c, shift: shift, scale: scale, gamma: gamma,
                                        beta: beta,
                                        normalized: h, output: out.baseAddress!)
                                }
                            }
                        }
                        XCTAssertEqual(bits(h), bits(kernel.h), "x̂ of the rounded pass, \(label)")
                        XCTAssertEqual(rounded, BFloat16.bits(kernel.y), "y rounded, \(label)")
                    }
                    guard let activation else {
                        plain = kernel.y
                        continue
                    }
                    // The activation's own pass over the plain output: the same bits.
                    var separate = plain
                    let slope: Double? = if case .leakyReLU(let a) = activation { a } else { nil }
                    separate.withUnsafeMutableBufferPointer { ActivationKernels.rectifyInPlace($0, slope: slope) }
                    XCTAssertEqual(bits(kernel.y), bits(separate), "y then the activation's pass, \(label)")
                    if slope == nil {
                        XCTAssertTrue(kernel.y.contains(0) && kernel.y.contains { $0 > 0 }, label)
                    } else {
                        XCTAssertTrue(kernel.y.contains { $0 < 0 } && kernel.y.contains { $0 > 0 }, label)
                    }
                }
                var outputs = [[Float]](repeating: [Float](repeating: 3, count: x.count), count: 4)
                for (k, reference) in [false, true, false, true].enumerated() {
                    x.withUnsafeBufferPointer { h in
                        dy.withUnsafeBufferPointer { dy in
                            outputs[k].withUnsafeMutableBufferPointer { dx in
                                if k < 2 {
                                    batchNormInputGradientRows(
                                        dy, h, rows: rows, channels: c, scale: scale, gamma: gamma, meanDy: first,
                                        meanDyXhat: second, into: dx, reference: reference)
                                } else {
                                    groupNormInputGradientRows(
                                        dy, h, rows: rows, channels: c, scale: scale, gamma: gamma, meanD: first,
                                        meanDH: second, into: dx, reference: reference)
                                }
                            }
                        }
                    }
                }
                var (inPlace, groupInPlace) = (dy, dy)
                x.withUnsafeBufferPointer { h in
                    inPlace.withUnsafeMutableBufferPointer { g in
                        batchNormInputGradientRows(
                            UnsafeBufferPointer(g), h, rows: rows, channels: c, scale: scale, gamma: gamma,
                            meanDy: first, meanDyXhat: second, into: g)
                    }
                    groupInPlace.withUnsafeMutableBufferPointer { g in
                        groupNormInputGradientRows(
                            UnsafeBufferPointer(g), h, rows: rows, channels: c, scale: scale, gamma: gamma,
                            meanD: first, meanDH: second, into: g)
                    }
                }
                XCTAssertEqual(bits(inPlace), bits(outputs[1]), "BatchNorm dx in place, \(isa), \(rows) × \(c)")
                XCTAssertEqual(bits(groupInPlace), bits(outputs[3]), "GroupNorm dx in place, \(isa), \(rows) × \(c)")
                XCTAssertEqual(bits(outputs[0]), bits(outputs[1]), "BatchNorm dx, \(isa), \(rows) × \(c)")
                XCTAssertEqual(bits(outputs[2]), bits(outputs[3]), "GroupNorm dx, \(isa), \(rows) × \(c)")
                XCTAssertNotEqual(bits(outputs[0]), bits(outputs[2]), "two different expressions")
            }
        }
    }

    /// The fused (leaky) ReLU backward + gradient sums against the ReLU's own pass and then the
    /// sums: the same rectified gradient and the same sums, from a Float or a bfloat16 kept
    /// output (NaNs, signed zeros and both signs among the kept values and the gradient), over
    /// one chunk of rows and over several (`parallelChannelGradientSums`' order); and the same
    /// for a convolution's bias gradient (Σdy alone, `parallelChannelSums`), fused and plain.
    func testRectifiedGradientSumsAreTheTwoPassesBits() throws {
        try forEachLevel { isa in
            for (k, (rows, c)) in (shapes + [(9000, 16)]).enumerated() {
                let xhat = values(rows * c, seed: UInt64(130 + k))
                var dy = values(rows * c, seed: UInt64(150 + k))
                var kept = values(rows * c, seed: UInt64(170 + k), mean: 0)
                if kept.count > 8 { (kept[5], kept[6], dy[7], kept[8]) = (.nan, -.nan, .nan, -0.0) }
                let keptBits = BFloat16.bits(kept)
                for rounded in [false, true] {
                    for slope in [nil, 0.01] as [Float?] {
                        let label =
                            "\(isa), \(rows) × \(c), rounded \(rounded), slope \(slope.map { "\($0)" } ?? "none")"
                        // The kernels read the kept output through the mask's pointer while it is valid.
                        keptBits.withUnsafeBytes { bits in
                            kept.withUnsafeBytes { floats in
                                checkRectifiedSums(
                                    dy: dy, xhat: xhat, kept: rounded ? BFloat16.floats(keptBits) : kept,
                                    mask: RectifierMask(
                                        output: (rounded ? bits : floats).baseAddress!, rounded: rounded, slope: slope),
                                    rows: rows, channels: c, label: label)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One case of `testRectifiedGradientSumsAreTheTwoPassesBits`: `kept` the output as a Float
    /// array, `mask` what the kernels read of it.
    private func checkRectifiedSums(
        dy: [Float], xhat: [Float], kept y: [Float], mask: RectifierMask, rows: Int, channels c: Int, label: String
    ) {
        var expected = dy
        y.withUnsafeBufferPointer { y in
            expected.withUnsafeMutableBufferPointer {
                ActivationKernels.rectifyGradientInPlace($0, output: y, slope: mask.slope.map(Double.init))
            }
        }
        if mask.slope == nil {
            XCTAssertTrue(expected.contains(0) && expected.contains { $0 != 0 }, label)
        } else {
            XCTAssertTrue(zip(expected, dy).contains { $0 != $1 && $0 != 0 }, label)
        }
        let expectedSums = expected.withUnsafeBufferPointer { g in
            xhat.withUnsafeBufferPointer { parallelChannelGradientSums(g, $0, rows: rows, channels: c) }
        }
        var fused = dy
        let sums = fused.withUnsafeMutableBufferPointer { g in
            xhat.withUnsafeBufferPointer { h in
                parallelRectifiedGradientSums(g.baseAddress!, h.baseAddress!, mask: mask, rows: rows, channels: c)
            }
        }
        XCTAssertEqual(bits(fused), bits(expected), "rectified gradient, \(label)")
        XCTAssertEqual(bits(sums.dBeta), bits(expectedSums.dBeta), "Σdy, \(label)")
        XCTAssertEqual(bits(sums.dGamma), bits(expectedSums.dGamma), "Σdy·x̂, \(label)")
        // A convolution's bias gradient: Σdy alone, plain and with the ReLU's pass.
        var biasFused = dy
        let biasSums = biasFused.withUnsafeMutableBufferPointer { g in
            parallelChannelSums(g.baseAddress!, rows: rows, channels: c, rectifiedBy: mask)
        }
        XCTAssertEqual(bits(biasFused), bits(expected), "rectified gradient (bias), \(label)")
        XCTAssertEqual(bits(biasSums), bits(expectedSums.dBeta), "Σdy (bias), \(label)")
        let plainSums = expected.withUnsafeMutableBufferPointer { g in
            parallelChannelSums(g.baseAddress!, rows: rows, channels: c)
        }
        XCTAssertEqual(bits(plainSums), bits(expectedSums.dBeta), "Σdy (bias, plain), \(label)")
    }
}
