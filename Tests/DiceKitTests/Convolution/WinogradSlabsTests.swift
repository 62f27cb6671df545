// Where a Winograd pass reads its input (WinogradSlabs.swift): the workers' equal shares of the
// batch's pairs of output lines, cut into slabs at the samples' ends; and the choice between
// slabs that stay in cache (`ConvBlocking.winogradSlabBytes`), the whole padded batch and slabs
// within the workspace bound. The bits of passes over slabs are WinogradTests'.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class WinogradSlabsTests: XCTestCase {
    /// The Winograd geometry and padded source of a 3×3 pass over `input` ([N, H, W, C]) to
    /// `cout` channels, and the bytes of one padded input line; `body` runs while the (never
    /// read) source exists.
    private func withPass(
        _ input: [Int], cout: Int = 16,
        _ body: (dk_winograd_geometry, PaddedSource, _ lineBytes: Int) throws -> Void
    ) throws {
        try withWinogradPass(input, cout: cout) { g, direct, padded in
            let wg = g.winogradGeometry(direct, padded: padded, outputSample: g.output.reduce(1, *) * cout)
            try body(wg, padded, (input[2] + 2) * input[3] * 4)
        }
    }

    /// Every pair of output lines (band of 4 for F(4×4, 3×3)) once, in order; each worker an
    /// equal share of them (to within one), in slabs of one sample and at most `pairsPerSlab`
    /// pairs, whose lines fit the buffer.
    func testWorkersShareThePairsEvenly() throws {
        // (input, workers, pairs a slab may hold, output lines of a pair)
        let cases: [([Int], Int, Int, Int)] = [
            ([1, 128, 8, 16], 2, 6, 2), ([3, 10, 8, 16], 2, 8, 2), ([8, 12, 6, 32], 3, 2, 2), ([2, 4, 4, 16], 5, 3, 2),
            ([1, 128, 8, 16], 2, 6, 4), ([3, 12, 8, 16], 2, 2, 4), ([2, 8, 12, 32], 3, 1, 4),
        ]
        for (input, workers, most, tileLines) in cases {
            try withPass(input) { wg, padded, lineBytes in
                let budget = workers * (tileLines * most + 2) * lineBytes
                let plan = try XCTUnwrap(
                    WinogradSlabs(wg, padded: padded, workers: workers, budget: budget, tileLines: tileLines))
                let what = "\(input), \(workers) workers, pairs of \(tileLines) lines"
                let pairs = input[1] / tileLines
                let total = input[0] * pairs
                XCTAssertEqual(plan.pairsPerSample, pairs, what)
                XCTAssertEqual(plan.pairsPerSlab, min(most, pairs, (total + workers - 1) / workers), what)
                XCTAssertEqual(plan.runs.count, workers, what)
                XCTAssertTrue(plan.runs.map(\.lowerBound) == [0] + plan.runs.dropLast().map(\.upperBound), what)
                XCTAssertEqual(plan.runs.last?.upperBound, plan.slabs.count, what)
                let lines = plan.slabs.flatMap { slab in slab.pairs.map { slab.n * pairs + $0 } }
                XCTAssertTrue(lines == Array(0..<total), "\(what): every pair once, in order")
                for run in plan.runs {
                    let share = plan.slabs[run].reduce(0) { $0 + $1.pairs.count }
                    XCTAssertTrue([total / workers, (total + workers - 1) / workers].contains(share), what)
                }
                for slab in plan.slabs {
                    XCTAssertTrue(slab.pairs.count >= 1 && slab.pairs.count <= plan.pairsPerSlab, what)
                    XCTAssertTrue(slab.pairs.upperBound <= pairs, what)
                    XCTAssertEqual(
                        plan.tiles(slab, of: wg), slab.pairs.count * input[2] / tileLines, what)
                    XCTAssertEqual(
                        plan.outputOffset(slab, of: wg),
                        slab.n * Int(wg.output_sample_floats) + tileLines * slab.pairs.lowerBound * input[2] * 16,
                        what)
                }
                XCTAssertEqual(plan.bufferFloats * 4, (tileLines * plan.pairsPerSlab + 2) * lineBytes, what)
            }
        }
    }

    /// A forward pass pads slabs of `slabBytes` a worker where they hold 2 pairs of lines or a
    /// whole sample; else the whole padded batch within the bound; else slabs within the bound.
    func testSlabsInCacheTheWholeBatchOrSlabsWithinTheBound() throws {
        func choice(_ input: [Int], budget: Int = 64 << 20, slabBytes: Int?) throws -> String {
            var result = ""
            try withPass(input) { wg, padded, _ in
                switch WinogradInput(wg, padded: padded, workers: 2, budget: budget, slabBytes: slabBytes) {
                case .wholeBatch?: result = "whole"
                case .slabs(let plan)?: result = "slabs of \(plan.pairsPerSlab)"
                case nil: result = "none"
                }
            }
            return result
        }
        // 128² of 32 channels: a padded line of 16 640 bytes, so 256 KiB hold 7 lines, 6 pairs' reads.
        XCTAssertEqual(try choice([8, 128, 128, 32], slabBytes: 256 << 10), "slabs of 6")
        XCTAssertEqual(try choice([8, 128, 128, 32], slabBytes: nil), "whole")
        // A line of 64 128 bytes: 256 KiB hold one pair's reads, which a taller sample does not take…
        XCTAssertEqual(try choice([2, 8, 1000, 16], slabBytes: 256 << 10), "whole")
        // …but a sample of one pair does, whole.
        XCTAssertEqual(try choice([2, 2, 1000, 16], slabBytes: 256 << 10), "slabs of 1")
        // Past the bound, slabs within it whatever the cache holds; none where not even one fits.
        let line = 1002 * 16 * 4
        XCTAssertEqual(try choice([2, 8, 1000, 16], budget: 2 * 6 * line, slabBytes: 256 << 10), "slabs of 2")
        XCTAssertEqual(try choice([2, 8, 1000, 16], budget: 2 * 6 * line, slabBytes: nil), "slabs of 2")
        XCTAssertEqual(try choice([2, 8, 1000, 16], budget: 2 * 3 * line, slabBytes: nil), "none")
    }
}
