// The lowered path's stride-1 input gradient as the adjoint convolution's forward pass
// (LoweredInputGradient.swift): which passes take it, the adjoint's geometry and kernel, and
// dx's independence of the worker count. Its values are checked against central finite
// differences in Double (ConvolutionGradientTests: stride-1 2-D with one-sided padding, 3-D,
// a stride-1 transposed convolution with bias) and against PyTorch (ConvolutionGoldenTests).

import XCTest

@testable import DiceKit

final class LoweredInputGradientTests: XCTestCase {
    private func geometry(
        input: [Int], kernel: [Int], stride: [Int] = [1], padding: Padding, dilation: [Int] = [1], groups: Int = 1
    ) throws -> ConvGeometry {
        try ConvGeometry(
            operation: "test", inputShape: input, kernel: kernel, inPerGroup: input.last! / groups, outChannels: 4,
            stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    func testAdjointOnlyAtStrideOneWithinTheKernelsReach() throws {
        let g = try geometry(input: [2, 5, 7, 6], kernel: [3, 2], padding: .explicit(before: [2, 0], after: [0, 1]))
        let adjoint = try XCTUnwrap(g.loweredAdjoint())
        XCTAssertEqual(adjoint.input, g.output)
        XCTAssertEqual(adjoint.output, g.input)
        XCTAssertEqual(adjoint.inChannels, 4)
        XCTAssertEqual(adjoint.outChannels, 6)
        XCTAssertEqual(adjoint.padBefore, [0, 0, 1])
        XCTAssertEqual(adjoint.padAfter, [0, 2, 0])
        let refused: [(String, ConvGeometry)] = [
            ("stride 2", try geometry(input: [1, 6, 6, 2], kernel: [3, 3], stride: [2], padding: .same)),
            ("dilation 2", try geometry(input: [1, 6, 6, 2], kernel: [3, 3], padding: .same, dilation: [2])),
            ("2 groups", try geometry(input: [1, 6, 6, 2], kernel: [3, 3], padding: .same, groups: 2)),
            ("pointwise", try geometry(input: [1, 6, 6, 2], kernel: [1, 1], padding: .valid)),
            (
                "padding 3 of a 3×3 kernel",
                try geometry(input: [1, 6, 6, 2], kernel: [3, 3], padding: .symmetric([3]))
            ),
        ]
        for (name, refusedGeometry) in refused { XCTAssertNil(refusedGeometry.loweredAdjoint(), name) }
    }

    func testAdjointKernelIsFlippedAndTransposed() throws {
        let g = try geometry(
            input: [1, 3, 4, 5, 2], kernel: [2, 3, 2], padding: .symmetric([1, 1, 1]))
        let (taps, cin, cout) = (12, 2, 4)
        let weight = (0..<(taps * cin * cout)).map(Double.init)
        let flipped = weight.withUnsafeBufferPointer { g.adjointKernel($0.baseAddress!) }
        defer { flipped.deallocate() }
        for t in 0..<taps {
            for ci in 0..<cin {
                for co in 0..<cout {
                    XCTAssertEqual(flipped[((taps - 1 - t) * cout + co) * cin + ci], weight[(t * cin + ci) * cout + co])
                }
            }
        }
    }

    func testInputGradientBitsDoNotDependOnWorkers() throws {
        // Float, lowered: dx was a sum over private per-worker buffers with fewer samples than
        // workers; every dx row is now one GEMM row, whoever runs it. The GEMM's shape (its rows,
        // the tile) stays fixed: OpenBLAS's SkylakeX and Cooper Lake kernels round small products
        // (m·n·k ≤ 10⁶) in another order than large ones, so a tile of another size may give other
        // bits there.
        let x = randomTensor([2, 9, 10, 5], seed: 930).converted(to: Float.self)
        let w = randomTensor([3, 3, 5, 4], seed: 931).converted(to: Float.self)
        let r = randomTensor([2, 9, 10, 4], seed: 932).converted(to: Float.self)
        for tileRows in [7, 13] {
            let reference = try Convolution(
                weight: w, padding: .same,
                settings: ConvolutionSettings(tileRows: tileRows, workers: 1, allowsDirect: false))
            let dx = try XCTUnwrap(try reference.backward(input: x, outputGradient: r).input)
            for workers in [2, 3, 5] {
                var conv = reference
                conv.settings = ConvolutionSettings(tileRows: tileRows, workers: workers, allowsDirect: false)
                XCTAssertTrue(
                    try conv.backward(input: x, outputGradient: r).input?.scalars == dx.scalars,
                    "\(tileRows) rows per tile, \(workers) workers")
            }
        }
    }
}
