// PaddedSource.forEachChunk pads a worker's sample row by row, just before the first chunk that
// reads the rows (`rowsRead`). Checked: every chunk finds the rows it reads (and the read-ahead
// rows after them) equal to the sample padded whole, in 2-D and 3-D, for one and two workers;
// and convolutions whose samples take several chunks give the bits of the lowered path's
// neighbours within Float rounding, forward and backward.

internal import CDiceKitKernels
import Synchronization
import XCTest

@testable import DiceKit

final class PaddedSourceTests: XCTestCase {
    /// Runs forEachChunk over `x` [N, D, H, W, C] padded by 1 on every spatial side, `chunks`
    /// chunks per sample, chunk c reading rows 0..<rowsRead(c); returns the chunks whose rows
    /// differed from the sample padded whole.
    private func mismatchedChunks(
        shape: [Int], chunks: Int, workers: Int, rowsRead: @escaping @Sendable (Int) -> Int,
        firstRow: (@Sendable (Int) -> Int)? = nil, wholeSampleLimit: Int = .max
    ) -> [String] {
        let (n, c) = (shape[0], shape[4])
        let x = randomTensor(shape, seed: 930).converted(to: Float.self).scalars
        return x.withUnsafeBufferPointer { xs in
            var padded = PaddedSource(
                source: xs.baseAddress!, batch: n, inner: Array(shape[1...3]), channels: c, before: [1, 1, 1],
                after: [1, 1, 1], kernelWidth: 3)
            padded.wholeSampleLimit = wholeSampleLimit
            let rowLength = padded.extents[2] * c
            let ahead = 1 + padded.slack / rowLength
            let expected = UnsafeMutablePointer<Float>.allocate(capacity: n * padded.sampleCount)
            defer { expected.deallocate() }
            for s in 0..<n { padded.pad(sample: s, into: expected + s * padded.sampleCount) }
            let found = Mutex([String]())
            let shared = TaskShared((expected, padded))
            padded.forEachChunk(chunks: chunks, workers: workers, rowsRead: rowsRead, firstRow: firstRow) {
                _, s, sample, chunk in
                let (expected, padded) = shared.buffers
                let rows = chunk == chunks - 1 ? padded.rowCount : min(padded.rowCount, rowsRead(chunk) + ahead)
                let whole = expected + s * padded.sampleCount
                let first = (firstRow?(chunk) ?? 0) * rowLength
                for i in first..<rows * rowLength where sample[i].bitPattern != whole[i].bitPattern {
                    found.withLock { $0.append("sample \(s), chunk \(chunk), row \(i / rowLength)") }
                    return
                }
            }
            return found.withLock { $0 }
        }
    }

    func testEveryChunkFindsItsRowsPadded() {
        // 2-D (one plane: 7 + 2 padded rows) and 3-D (3 + 2 planes of 5 + 2 rows); the chunks
        // read uneven numbers of rows, one of them none beyond the previous chunk's.
        let plane: @Sendable (Int) -> Int = { [3, 3, 6, 9][$0] }
        XCTAssertEqual(mismatchedChunks(shape: [4, 1, 7, 5, 16], chunks: 4, workers: 2, rowsRead: plane), [])
        XCTAssertEqual(mismatchedChunks(shape: [5, 1, 7, 5, 16], chunks: 4, workers: 1, rowsRead: plane), [])
        let volume: @Sendable (Int) -> Int = { [8, 20, 35][$0] }
        XCTAssertEqual(mismatchedChunks(shape: [4, 3, 5, 4, 3], chunks: 3, workers: 2, rowsRead: volume), [])
    }

    /// With fewer than two samples per worker and `firstRow`, each task pads only the rows its
    /// chunk reads, from its first row on, into a window: the same values where they are read.
    func testWindowsHoldEveryChunksRows() {
        let plane: @Sendable (Int) -> Int = { [3, 3, 6, 9][$0] }
        let planeFirst: @Sendable (Int) -> Int = { [0, 1, 2, 5][$0] }
        XCTAssertEqual(
            mismatchedChunks(shape: [1, 1, 7, 5, 16], chunks: 4, workers: 2, rowsRead: plane, firstRow: planeFirst), [])
        XCTAssertEqual(
            mismatchedChunks(shape: [3, 1, 7, 5, 16], chunks: 4, workers: 2, rowsRead: plane, firstRow: planeFirst), [])
        let volume: @Sendable (Int) -> Int = { [8, 20, 35][$0] }
        let volumeFirst: @Sendable (Int) -> Int = { [0, 7, 14][$0] }
        XCTAssertEqual(
            mismatchedChunks(shape: [2, 3, 5, 4, 3], chunks: 3, workers: 2, rowsRead: volume, firstRow: volumeFirst), []
        )
        // A window holds the most rows any chunk reads with its read-ahead, not a sample's.
        let x = [Float](repeating: 0, count: 5 * 5 * 4 * 3)
        x.withUnsafeBufferPointer { xs in
            let padded = PaddedSource(
                source: xs.baseAddress!, batch: 1, inner: [3, 5, 4], channels: 3, before: [1, 1, 1], after: [1, 1, 1],
                kernelWidth: 3)
            let ahead = 1 + padded.slack / (padded.extents[2] * 3)
            XCTAssertEqual(padded.windowRows(chunk: 0, of: 3, rowsRead: volume, firstRow: volumeFirst), 0..<(8 + ahead))
            XCTAssertEqual(padded.windowRows(chunk: 2, of: 3, rowsRead: volume, firstRow: volumeFirst), 14..<35)
            XCTAssertEqual(
                padded.windowRows(chunk: 1, of: 3, rowsRead: volume, firstRow: volumeFirst), 7..<(20 + ahead))
            XCTAssertEqual(
                padded.windowRows(chunks: 3, rowsRead: volume, firstRow: volumeFirst),
                Swift.max(8 + ahead, 13 + ahead, 21))
        }
    }

    /// With two samples per worker or more and samples past `wholeSampleLimit`, each task pads
    /// a window too (a chunk's rows at another address than the previous chunk's), and each
    /// worker runs the tasks it runs with whole samples, in the same order: its samples, each
    /// chunk in turn.
    func testSamplesPastTheLimitPadWindowsInTheWorkersOrder() {
        let plane: @Sendable (Int) -> Int = { [3, 3, 6, 9][$0] }
        let planeFirst: @Sendable (Int) -> Int = { [0, 1, 2, 5][$0] }
        XCTAssertEqual(
            mismatchedChunks(
                shape: [5, 1, 7, 5, 16], chunks: 4, workers: 2, rowsRead: plane, firstRow: planeFirst,
                wholeSampleLimit: 1), [])
        let x = [Float](repeating: 1, count: 5 * 7 * 5 * 16)
        x.withUnsafeBufferPointer { xs in
            var padded = PaddedSource(
                source: xs.baseAddress!, batch: 5, inner: [1, 7, 5], channels: 16, before: [0, 1, 1],
                after: [0, 1, 1], kernelWidth: 3)
            // Per worker: (sample, chunk, address of the sample's first padded row) in order.
            func tasks() -> [[[Int]]] {
                let seen = Mutex([[[Int]]](repeating: [], count: 2))
                padded.forEachChunk(chunks: 4, workers: 2, rowsRead: plane, firstRow: planeFirst) { w, n, sample, c in
                    seen.withLock { $0[w].append([n, c, Int(bitPattern: sample)]) }
                }
                return seen.withLock { $0 }
            }
            let whole = tasks()
            padded.wholeSampleLimit = padded.sampleCount + padded.slack - 1
            XCTAssertFalse(padded.holdsWholeSamples)
            let windows = tasks()
            XCTAssertEqual(whole.map { $0.map { Array($0.prefix(2)) } }, windows.map { $0.map { Array($0.prefix(2)) } })
            XCTAssertEqual(whole[0].map { $0[0] }, [0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4])
            for worker in 0..<2 {
                // Whole samples: one address per sample; windows: each chunk its own.
                XCTAssertEqual(Set(whole[worker].map { $0[2] }).count, 1)
                XCTAssertEqual(Set(windows[worker].prefix(4).map { $0[2] }).count, 4)
            }
        }
    }

    func testFirstRowOfALine() {
        // 3×3 over 20 × 13 outputs: line 5 starts at padded row 5; 3×3×3 over planes of 5 lines
        // (7 padded rows a plane): line 7 (plane 1, row 2) at row 7 + 2; stride 2 doubles both.
        let plane = dk_conv_geometry(hp: 22, wp: 15, output: [1, 20, 13], kernel: [1, 3, 3], cin: 16, cout: 16)
        XCTAssertEqual(ConvGeometry.paddedFirstRow(plane, line: 5), 5)
        var volume = dk_conv_geometry(hp: 7, wp: 6, output: [5, 5, 4], kernel: [3, 3, 3], cin: 16, cout: 16)
        XCTAssertEqual(ConvGeometry.paddedFirstRow(volume, line: 7), 9)
        (volume.sd, volume.sh) = (2, 2)
        XCTAssertEqual(ConvGeometry.paddedFirstRow(volume, line: 7), 2 * 7 + 4)
    }

    func testRowsTheStoredOutputsOfLinesRead() {
        // 3×3×3 over planes of 5 lines (7 padded rows a plane): lines 2 and 3 of plane 1 read rows
        // 2…5 of padded planes 1, 2 and 3; lines 3 and 4 of plane 0 with lines 0 and 1 of plane 1
        // read runs that meet, merged into one.
        let volume = dk_conv_geometry(hp: 7, wp: 6, output: [5, 5, 4], kernel: [3, 3, 3], cin: 16, cout: 16)
        XCTAssertEqual(ConvGeometry.paddedRuns(volume, lines: 7..<9), [9..<13, 16..<20, 23..<27])
        XCTAssertEqual(ConvGeometry.paddedRuns(volume, lines: 3..<7), [3..<25])
        // 2-D: one run, from the first line's first kernel row through the last line's last.
        let plane = dk_conv_geometry(hp: 22, wp: 15, output: [1, 20, 13], kernel: [1, 3, 3], cin: 16, cout: 16)
        XCTAssertEqual(ConvGeometry.paddedRuns(plane, lines: 4..<9), [4..<11])
        // Forward chunks over 13-wide lines: positions 13…25 are line 1 (rows 1…3), positions
        // 20…39 lines 1 to 3 (rows 1…5).
        XCTAssertEqual(ConvGeometry.forwardRuns(plane, positions: 260, chunk: 13)(1), [1..<4])
        XCTAssertEqual(ConvGeometry.forwardRuns(plane, positions: 260, chunk: 20)(1), [1..<6])
    }

    func testRowsReadThroughAPosition() {
        // 3×3 over 20 × 13 outputs (22 padded rows): line 0 reads rows 0..<3, line 1 0..<4.
        let plane = dk_conv_geometry(hp: 22, wp: 15, output: [1, 20, 13], kernel: [1, 3, 3], cin: 16, cout: 16)
        XCTAssertEqual(ConvGeometry.paddedRowsRead(plane, through: 12), 3)
        XCTAssertEqual(ConvGeometry.paddedRowsRead(plane, through: 13), 4)
        XCTAssertEqual(ConvGeometry.paddedRowsRead(plane, through: 259), 22)
        // 3×3×3 over 5 planes of 5 × 4 (7 padded rows a plane): the last line of plane 0 reads
        // through row 4 + 2 of plane 2; stride 2 doubles the rows and planes skipped.
        var volume = dk_conv_geometry(hp: 7, wp: 6, output: [5, 5, 4], kernel: [3, 3, 3], cin: 16, cout: 16)
        XCTAssertEqual(ConvGeometry.paddedRowsRead(volume, through: 19), 2 * 7 + 4 + 3)
        volume.sd = 2
        volume.sh = 2
        XCTAssertEqual(ConvGeometry.paddedRowsRead(volume, through: 20 + 4), 4 * 7 + 2 + 3)
    }

    func testConvolutionsOverSeveralChunksPerSample() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2: the direct kernels never run here")
        // 20 × 13 = 260 positions per sample: three forward chunks of at most 96 positions (or
        // more, by the L2 size), four samples for two workers (each pads its own samples).
        for (cin, cout) in [(16, 32), (32, 64), (3, 16)] {
            let x = randomTensor([4, 20, 13, cin], seed: 931)
            let w = randomTensor([3, 3, cin, cout], seed: 932)
            let dy = randomTensor([4, 20, 13, cout], seed: 933)
            let lowered = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(allowsDirect: false))
            let direct = try Convolution(
                weight: w.converted(to: Float.self), padding: .same, settings: ConvolutionSettings(workers: 2))
            let xf = x.converted(to: Float.self)
            let expected = try lowered.forward(x).scalars
            let found = try direct.forward(xf).scalars
            let scale = expected.map(abs).max() ?? 1
            for i in expected.indices { XCTAssertEqual(Double(found[i]), expected[i], accuracy: 2e-5 * scale) }
            let want = try lowered.backward(input: x, outputGradient: dy)
            let got = try direct.backward(input: xf, outputGradient: dy.converted(to: Float.self))
            let (dw, dx) = (want.weight.scalars, want.input!.scalars)
            let (dwScale, dxScale) = (dw.map(abs).max() ?? 1, dx.map(abs).max() ?? 1)
            for i in dw.indices {
                XCTAssertEqual(Double(got.weight.scalars[i]), dw[i], accuracy: 2e-5 * dwScale, "\(cin)→\(cout) ∂w")
            }
            for i in dx.indices {
                XCTAssertEqual(Double(got.input!.scalars[i]), dx[i], accuracy: 2e-5 * dxScale, "\(cin)→\(cout) ∂x")
            }
        }
    }
}
