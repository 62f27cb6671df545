// The input of a Winograd pass (Winograd.swift) in slabs, padded by the workers into buffers of
// their own: slabs sized to stay in L2 while the transforms read them (forward passes and the
// Float weight gradient: `ConvBlocking.winogradSlabBytes`), so the padded copy never goes to
// memory and back; and, for any pass whose whole padded batch would exceed the workspace bound
// (a 96³ volume of 32 channels, 120 MB padded; a batch of 512² images), slabs within the bound.
// A slab is a run of pairs of output lines of one sample (pairs of planes in 3-D, of rows in
// 2-D; bands of 4 rows for F(4×4, 3×3), WinogradFourByFour.swift, called pairs below too): its
// tiles are a contiguous range of the batch's, and they read the padded input lines from its
// first pair's first to two past its last, which the slab's worker pads into its own buffer. Each worker takes an equal run of the batch's pairs of lines (to within one), cut into
// slabs at the samples' ends. The forward outputs are the same bits as from the whole padded
// batch (each is a function of its own window); the weight gradient's sums run over each
// worker's tiles in order, so they follow the workers' shares of the pairs of lines, fixed by
// the shapes and the worker count, not the slabs.

internal import CDiceKitKernels

/// The slabs of a Winograd pass: which pairs of output lines of which sample, and the buffer
/// each worker pads them into.
struct WinogradSlabs: Sendable {
    /// One slab: sample `n`, pairs of output lines `pairs` (lines 2·lowerBound ..< 2·upperBound).
    struct Slab: Sendable {
        let n: Int
        let pairs: Range<Int>
    }

    /// The slabs of the batch, sample by sample, in line order.
    let slabs: [Slab]
    /// The slabs of each worker, in order: indices into `slabs`.
    let runs: [Range<Int>]
    /// Pairs of output lines a slab holds at most.
    let pairsPerSlab: Int
    /// Pairs of output lines of a sample.
    let pairsPerSample: Int
    /// Padded rows (`PaddedSource.pad`'s unit, planes × rows) per input line: a plane's rows in
    /// 3-D, one row in 2-D.
    let rowsPerLine: Int
    /// Floats of a padded row.
    let rowFloats: Int
    /// Floats of one worker's slab buffer: the most input lines a slab reads.
    let bufferFloats: Int
    /// Output lines of a pair: 2, or 4 for F(4×4, 3×3) (a band of 4 rows, its tiles 4 × 4).
    let tileLines: Int

    /// The slabs of pass `wg` (its whole-batch geometry) over `padded` for `workers` workers,
    /// whose buffers together take at most `budget` bytes: as many pairs per slab as that allows,
    /// but no more than a worker's share of the batch's. Nil when even one pair per worker
    /// exceeds it. `tileLines`: output lines of a pair, 2 (F(2×2, 3×3), F(2×2×2, 3×3×3)) or 4
    /// (F(4×4, 3×3), 2-D).
    init?(_ wg: dk_winograd_geometry, padded: PaddedSource, workers: Int, budget: Int, tileLines: Int = 2) {
        let volume = wg.od > 1
        let workers = Swift.max(1, workers)
        self.tileLines = tileLines
        pairsPerSample = Int(volume ? wg.od : wg.oh) / tileLines
        rowsPerLine = volume ? padded.extents[1] : 1
        rowFloats = padded.extents[2] * padded.channels
        let lineBytes = rowsPerLine * rowFloats * MemoryLayout<Float>.stride
        // A slab of k pairs reads tileLines · k + 2 input lines.
        let affordable = (budget / Swift.max(1, workers * lineBytes) - 2) / tileLines
        let total = padded.batch * pairsPerSample
        let share = Swift.min(pairsPerSample, (total + workers - 1) / workers)
        pairsPerSlab = Swift.min(affordable, Swift.max(1, share))
        guard pairsPerSlab >= 1 else { return nil }
        // Worker w's pairs of lines [total · w / workers, total · (w + 1) / workers), cut at the
        // samples' ends and every `pairsPerSlab` pairs.
        var (slabs, runs) = ([Slab](), [Range<Int>]())
        for w in 0..<workers {
            let first = slabs.count
            var line = total * w / workers
            while line < total * (w + 1) / workers {
                let (n, pair) = (line / pairsPerSample, line % pairsPerSample)
                let end = Swift.min(pairsPerSample, pair + pairsPerSlab, pair + total * (w + 1) / workers - line)
                slabs.append(Slab(n: n, pairs: pair..<end))
                line += end - pair
            }
            runs.append(first..<slabs.count)
        }
        (self.slabs, self.runs) = (slabs, runs)
        bufferFloats = (tileLines * pairsPerSlab + 2) * rowsPerLine * rowFloats
    }

    /// The geometry of `slab` (the padded slab as one sample of its own lines) from the pass's `wg`.
    func geometry(_ slab: Slab, of wg: dk_winograd_geometry) -> dk_winograd_geometry {
        var g = wg
        if wg.od > 1 { g.od = tileLines * slab.pairs.count } else { g.oh = tileLines * slab.pairs.count }
        g.sample_floats = bufferFloats
        return g
    }

    /// The floats from the output's (or output gradient's) start to `slab`'s first position, in
    /// each part of a two-part output.
    func outputOffset(_ slab: Slab, of wg: dk_winograd_geometry) -> Int {
        let part = Int(wg.cout_a != 0 ? wg.cout_a : wg.cout)
        let line = (wg.od > 1 ? Int(wg.oh) : 1) * Int(wg.ow) * part
        return slab.n * wg.output_sample_floats + tileLines * slab.pairs.lowerBound * line
    }

    /// The tiles of `slab`.
    func tiles(_ slab: Slab, of wg: dk_winograd_geometry) -> Int {
        tileLines == 4 ? slab.pairs.count * Int(wg.ow) / 4 : Winograd.tiles(geometry(slab, of: wg), batch: 1)
    }

    /// Pads the input lines `slab` reads into `buffer`.
    func pad(_ slab: Slab, from padded: PaddedSource, into buffer: UnsafeMutablePointer<Float>) {
        let first = tileLines * slab.pairs.lowerBound * rowsPerLine
        for r in first..<((tileLines * slab.pairs.upperBound + 2) * rowsPerLine) {
            padded.pad(sample: slab.n, row: r, columns: 0..<padded.extents[2], into: buffer + (r - first) * rowFloats)
        }
    }
}

/// Where a Winograd pass reads its input: the whole padded batch, or slabs of it padded by the
/// workers.
enum WinogradInput: Sendable {
    case wholeBatch
    case slabs(WinogradSlabs)

    /// With `slabBytes` (`ConvBlocking.winogradSlabBytes`), slabs whose buffers
    /// take at most that many bytes per worker, when they hold at least 2 pairs of lines (a slab
    /// of one pair reads twice the lines it transforms) or whole samples; else the whole padded
    /// batch when it fits `budget` bytes, else slabs for `workers` workers when they do
    /// (`WinogradSlabs`); nil when none fits. `tileLines` as `WinogradSlabs` takes it.
    init?(
        _ wg: dk_winograd_geometry, padded: PaddedSource, workers: Int, budget: Int, slabBytes: Int? = nil,
        tileLines: Int = 2
    ) {
        if let slabBytes,
            let slabs = WinogradSlabs(
                wg, padded: padded, workers: workers, budget: Swift.min(budget, workers * slabBytes),
                tileLines: tileLines),
            slabs.pairsPerSlab >= Swift.min(2, slabs.pairsPerSample)
        {
            self = .slabs(slabs)
        } else if (padded.batch * padded.sampleCount + padded.slack) * MemoryLayout<Float>.stride <= budget {
            self = .wholeBatch
        } else if let slabs = WinogradSlabs(
            wg, padded: padded, workers: workers, budget: budget, tileLines: tileLines)
        {
            self = .slabs(slabs)
        } else {
            return nil
        }
    }
}

extension ConvGeometry {
    /// Runs `body(worker, geometry, input, outputOffset, tiles)` over every tile of the Winograd
    /// pass `wg` on `count` workers, each taking an equal range of them: from the whole padded
    /// batch (the input the batch's, no offset), or slab by slab (each slab's geometry and
    /// padded lines, and its offset into the output), as `input` says. `tileLines` 4: the
    /// tiles of F(4×4, 3×3).
    func forEachWinogradRange(
        _ wg: dk_winograd_geometry, padded: PaddedSource, input: WinogradInput, workers: Int, count: Int,
        tileLines: Int = 2,
        _ body:
            @Sendable (
                _ worker: Int, _ geometry: UnsafePointer<dk_winograd_geometry>, _ input: UnsafePointer<Float>,
                _ outputOffset: Int, _ tiles: Range<Int>
            ) -> Void
    ) {
        guard case .slabs(let plan) = input else {
            let tiles =
                tileLines == 4
                ? padded.batch * Int(wg.oh / 4) * Int(wg.ow / 4) : Winograd.tiles(wg, batch: padded.batch)
            padded.withPaddedBatch(workers: workers) { xp in
                withUnsafePointer(to: wg) { gp in
                    let shared = TaskShared((gp, xp))
                    runWorkers(count) { worker in
                        let (gp, xp) = shared.buffers
                        body(worker, gp, xp, 0, (tiles * worker / count)..<(tiles * (worker + 1) / count))
                    }
                }
            }
            return
        }
        precondition(
            plan.runs.count == count, "forEachWinogradRange: slabs planned for \(plan.runs.count) workers, not \(count)"
        )
        let (source, slabs) = (TaskShared(padded), plan.slabs)
        runWorkers(count) { worker in
            let buffer = Self.allocateAligned(plan.bufferFloats)
            defer { buffer.deallocate() }
            for slab in slabs[plan.runs[worker]] {
                plan.pad(slab, from: source.buffers, into: buffer)
                withUnsafePointer(to: plan.geometry(slab, of: wg)) { gp in
                    body(worker, gp, buffer, plan.outputOffset(slab, of: wg), 0..<plan.tiles(slab, of: wg))
                }
            }
        }
    }
}
