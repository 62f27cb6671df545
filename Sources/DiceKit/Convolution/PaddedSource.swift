// The zero-padded copies of the input that the direct kernels read (DirectConvolution.swift,
// BFloat16Convolution.swift, BFloat16RoundedOperands.swift), whole or as border strips
// (InPlaceForward.swift).
//
// The input may be given as the channel concatenation of several tensors (a U-Net decoder's
// up-sampled tensor and its skip, in evaluation mode: ConvolutionKernels.forward(concatenating:)).
// The padded copy (or a border strip's padded box, when the interior's kernels read the two parts
// in place: InPlaceForward.swift) is then where they are joined, position by position, so the
// concatenated tensor is never written on its own: one pass over the data fewer.

internal import CDiceKitKernels

/// A channels-last batch [N, D, H, W, C] as the kernels read it: each sample zero-padded by
/// `before`/`after` per axis, followed by zeroed slack for the kernels' read-ahead (up to kernel
/// width + 24 positions past a sample, conv_avx512.c; DK_CONV_SLACK_POSITIONS past the kernel width).
struct PaddedSource {
    /// The input: the channel concatenation of these, in order (one part: a plain tensor); none
    /// when the input is given as `rounded`.
    let parts: [ChannelPart]
    /// The input as its bfloat16 bits, [batch, inner…, channels], instead of `parts`.
    let rounded: UnsafePointer<UInt16>?
    let batch: Int
    /// Extents (D, H, W) of a sample before and after padding.
    let inner: [Int], extents: [Int]
    let before: [Int], after: [Int]
    let channels: Int
    /// Scalars of one padded sample, and of the zeroed slack after it.
    let sampleCount: Int, slack: Int
    /// Whether `pad` rounds the values to bfloat16 (kept as Float) on the way, for the
    /// rounded-operand arithmetic (BFloat16RoundedOperands.swift): the copy the kernels read
    /// anyway, so rounding costs no pass of its own.
    var roundsToBFloat16 = false
    /// Whether the kernels may read the source itself instead of a copy: set for passes whose
    /// kernels read no position past a sample's last (the per-position tiles of a strided pass),
    /// and honoured only when there is nothing to add: no padding, no rounding, one part.
    var readsInPlaceWhenUnpadded = false

    /// The most elements (slack included) of a padded sample that a worker holds whole, with two
    /// samples per worker or more (`forEachChunk`, and the bfloat16 forward pass): past it, each
    /// of its (sample, chunk) tasks pads only the rows the chunk reads into a window, as with
    /// fewer samples. `limitWholeSamples` sets it from the workspace bound.
    var wholeSampleLimit = Int.max

    /// Whether a worker with two samples or more holds each whole (`wholeSampleLimit`).
    var holdsWholeSamples: Bool { sampleCount + slack <= wholeSampleLimit }

    /// Sets `wholeSampleLimit` so that `workers` whole samples of `elementSize`-byte elements
    /// stay within `settings.workspaceLimit` (ConvGeometry.directWorkspace counts the same).
    mutating func limitWholeSamples(_ settings: ConvolutionSettings, workers: Int, elementSize: Int) {
        wholeSampleLimit = settings.workspaceLimit / Swift.max(1, workers * elementSize)
    }

    /// Whether `forEachChunk` and `withPaddedBatch` hand out the source's own samples.
    var readsInPlace: Bool {
        readsInPlaceWhenUnpadded && !roundsToBFloat16 && parts.count == 1 && rounded == nil
            && before.allSatisfy { $0 == 0 } && after.allSatisfy { $0 == 0 }
    }

    /// The padded form of `source`, [batch, inner…, channels].
    init(
        source: UnsafePointer<Float>, batch: Int, inner: [Int], channels: Int, before: [Int], after: [Int],
        kernelWidth: Int
    ) {
        self.init(
            parts: [ChannelPart(source: source, channels: channels)], batch: batch, inner: inner, before: before,
            after: after, kernelWidth: kernelWidth)
    }

    /// The padded form of the channel concatenation of `parts`, each [batch, inner…, its channels].
    init(parts: [ChannelPart], batch: Int, inner: [Int], before: [Int], after: [Int], kernelWidth: Int) {
        self.init(
            parts: parts, rounded: nil, channels: parts.reduce(0) { $0 + $1.channels }, batch: batch, inner: inner,
            before: before, after: after, kernelWidth: kernelWidth)
    }

    /// The padded form of a batch [batch, inner…, channels] given as its bfloat16 rounding (a kept
    /// activation, KeptActivations.swift): the bfloat16 padding (`padBFloat16`,
    /// `withBFloat16Batch`) copies the bits as they are, the Float padding (`pad`, for the
    /// rounded-operand arithmetic) widens them (exact), so no Float copy of the batch is made.
    init(
        rounded: UnsafePointer<UInt16>, batch: Int, inner: [Int], channels: Int, before: [Int], after: [Int],
        kernelWidth: Int
    ) {
        self.init(
            parts: [], rounded: rounded, channels: channels, batch: batch, inner: inner, before: before,
            after: after, kernelWidth: kernelWidth)
    }

    private init(
        parts: [ChannelPart], rounded: UnsafePointer<UInt16>?, channels: Int, batch: Int, inner: [Int],
        before: [Int], after: [Int], kernelWidth: Int
    ) {
        self.parts = parts
        self.rounded = rounded
        self.batch = batch
        self.inner = inner
        self.before = before
        self.after = after
        self.channels = channels
        extents = (0..<3).map { inner[$0] + before[$0] + after[$0] }
        sampleCount = extents[0] * extents[1] * extents[2] * channels
        slack = (kernelWidth + Int(DK_CONV_SLACK_POSITIONS)) * channels
    }

    /// Padded rows (planes × rows) of one sample: the unit of `pad(sample:rows:into:)`.
    var rowCount: Int { extents[0] * extents[1] }

    /// Writes sample n, padded, to `target` (`sampleCount` scalars; the slack is not touched).
    func pad(sample n: Int, into target: UnsafeMutablePointer<Float>) {
        pad(sample: n, rows: 0..<rowCount, into: target)
    }

    /// Writes padded rows `rows` (counted over planes and rows: plane·extents[1] + row) of sample
    /// n to their places in `target`, a padded sample.
    func pad(sample n: Int, rows: Range<Int>, into target: UnsafeMutablePointer<Float>) {
        for r in rows { pad(sample: n, row: r, columns: 0..<extents[2], into: target + r * extents[2] * channels) }
    }

    /// Writes padded columns `columns` of padded row `r` (plane·extents[1] + row) of sample n to
    /// `target`, `columns.count` positions: the input's values (joined and rounded as `copyRow`
    /// writes them) where the row and columns hold input, zeros where they lie in the padding.
    func pad(sample n: Int, row r: Int, columns: Range<Int>, into target: UnsafeMutablePointer<Float>) {
        let (sz, sy, width) = (r / extents[1] - before[0], r % extents[1] - before[1], columns.count)
        guard sz >= 0, sz < inner[0], sy >= 0, sy < inner[1] else {
            target.initialize(repeating: 0, count: width * channels)
            return
        }
        // The columns that hold input: [first, last) counted from columns.lowerBound.
        let first = Swift.min(width, Swift.max(0, before[2] - columns.lowerBound))
        let last = Swift.max(first, Swift.min(width, before[2] + inner[2] - columns.lowerBound))
        target.initialize(repeating: 0, count: first * channels)
        copyRow(
            (n * inner[0] + sz) * inner[1] + sy, from: columns.lowerBound + first - before[2], count: last - first,
            into: target + first * channels)
        (target + last * channels).initialize(repeating: 0, count: (width - last) * channels)
    }

    /// Writes positions [x, x + count) of input row `row` (counted over the whole batch: sample,
    /// plane, row) to `target`, `channels` scalars each, joining the parts' channels at each
    /// position and rounding to bfloat16 when `roundsToBFloat16`; widening the bits of an input
    /// (or a part) given in bfloat16 (already rounded).
    private func copyRow(_ row: Int, from x: Int, count: Int, into target: UnsafeMutablePointer<Float>) {
        let position = row * inner[2] + x
        if let rounded {
            dk_bf16_to_f32(rounded + position * channels, target, count * channels)
            return
        }
        guard parts.count > 1 else {
            let from = parts[0].source + position * channels
            if roundsToBFloat16 {
                dk_f32_round_bf16(from, target, count * channels)
            } else {
                target.initialize(from: from, count: count * channels)
            }
            return
        }
        var offset = 0
        for part in parts {
            if part.isRounded {
                // A part handed over as bfloat16 bits: widened (exact; already on the grid).
                dk_conv_join_channels_bf16(
                    part.bits + position * part.channels, part.channels, target + offset, channels, count)
            } else {
                dk_conv_join_channels(
                    part.source + position * part.channels, part.channels, target + offset, channels, count,
                    roundsToBFloat16 ? 1 : 0)
            }
            offset += part.channels
        }
    }

    /// Calls `body(worker, n, paddedSample, chunk)` for every sample n and chunk 0..<chunks, on
    /// up to `workers` workers; returns how many workers ran. `rowsRead(c)`: how many of a
    /// sample's padded rows (`rowCount`, planes × rows, in order) chunks 0...c read at most.
    ///
    /// With at least two samples per worker, a worker takes whole samples and pads each into its
    /// own buffer, which is reused (no batch-sized copy), row by row just before the first chunk
    /// that reads them: the kernels read the rows while the copy has left them in L2, where a
    /// sample padded whole first (2.2 MB for 32 channels at 128²) had left L2 by the time the
    /// chunks came to it. With fewer, the batch is padded whole first, so that workers can share a sample;
    /// when `readsInPlace`, the source's own samples are dealt out that way, with no copy.
    /// Either way worker w runs a fixed set of (sample, chunk) tasks in a fixed order (every
    /// workers-th one from w), so a per-worker accumulator holds the same sum on every run with
    /// the same worker count.
    ///
    /// With `firstRow(c)` (the first padded row chunk c reads) and fewer than two samples per
    /// worker, or samples larger than `wholeSampleLimit`, nothing sample-sized is padded either:
    /// each task pads just the rows its chunk reads into its worker's window buffer
    /// (`forEachWindow`), and `body` gets the address at which that window's rows lie where the
    /// padded sample would hold them (so the kernels address rows as in a whole sample, and read
    /// only the window's). The tasks and their order are the same, so are the sums.
    @discardableResult
    func forEachChunk(
        chunks: Int, workers: Int, rowsRead: @Sendable (_ chunk: Int) -> Int,
        firstRow: (@Sendable (_ chunk: Int) -> Int)? = nil, runs: (@Sendable (_ chunk: Int) -> [Range<Int>])? = nil,
        _ body: @Sendable (_ worker: Int, _ n: Int, _ sample: UnsafePointer<Float>, _ chunk: Int) -> Void
    ) -> Int {
        // Each worker pads into its own buffer; `body` states what the chunks write.
        let source = TaskShared(self)
        if batch >= 2 * workers && !readsInPlace && (holdsWholeSamples || firstRow == nil) {
            runWorkers(workers) { worker in
                let source = source.buffers
                // The grid tiles read ahead past a chunk's last position (results not stored) by
                // at most the slack: those rows are padded too, so that every read is of this
                // sample's data.
                let ahead = 1 + source.slack / (source.extents[2] * source.channels)
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: source.sampleCount + source.slack)
                defer { buffer.deallocate() }
                (buffer + source.sampleCount).initialize(repeating: 0, count: source.slack)
                for n in Swift.stride(from: worker, to: source.batch, by: workers) {
                    var padded = 0
                    for c in 0..<chunks {
                        let rows = c == chunks - 1 ? source.rowCount : Swift.min(source.rowCount, rowsRead(c) + ahead)
                        if rows > padded {
                            source.pad(sample: n, rows: padded..<rows, into: buffer)
                            padded = rows
                        }
                        body(worker, n, UnsafePointer(buffer), c)
                    }
                }
            }
            return workers
        }
        if let firstRow, !readsInPlace {
            return forEachWindow(
                of: Float.self, chunks: chunks, workers: workers, rowsRead: rowsRead, firstRow: firstRow, runs: runs,
                pad: { $0.pad(sample: $1, rows: $2, into: $3) }, body)
        }
        let tasks = batch * chunks
        let count = Swift.min(workers, tasks)
        withPaddedBatch(workers: workers) { whole in
            let shared = TaskShared((whole, sampleCount))
            runWorkers(count) { worker in
                let (whole, sampleCount) = shared.buffers
                for task in Swift.stride(from: worker, to: tasks, by: count) {
                    let (n, c) = (task / chunks, task % chunks)
                    body(worker, n, whole + n * sampleCount, c)
                }
            }
        }
        return count
    }

    /// Calls `body(worker, n, sample, chunk)` for every sample n and chunk 0..<chunks on up to
    /// `workers` workers, as `forEachChunk` assigns them (with two samples per worker or more,
    /// worker w takes samples w, w + workers, …, each chunk in order; with fewer, the (sample,
    /// chunk) tasks are dealt out in turn); returns how many ran. Each task has
    /// `pad(source, n, rows, sample)` write just the padded rows its chunk reads (`windowRows`)
    /// into its worker's window buffer, at their places in a padded sample that starts at
    /// `sample` (so the kernels address rows as in a whole sample, and read only the window's),
    /// followed by the zeroed slack. Nothing sample-sized is padded. With `runs(c)` (the runs
    /// of padded rows whose values chunk c's stored outputs read, sorted), only those rows and
    /// the read-ahead rows after the last are padded; the window's other rows keep whatever they
    /// held, which the kernels read only for outputs they compute and do not store (a 3-D chunk's
    /// window spans the rest of its kd planes, of which it reads a few rows each).
    @discardableResult
    func forEachWindow<T: Numeric & SendableMetatype>(
        of _: T.Type, chunks: Int, workers: Int, rowsRead: @Sendable (_ chunk: Int) -> Int,
        firstRow: @Sendable (_ chunk: Int) -> Int, runs: (@Sendable (_ chunk: Int) -> [Range<Int>])? = nil,
        pad: @Sendable (PaddedSource, _ n: Int, _ rows: Range<Int>, _ sample: UnsafeMutablePointer<T>) -> Void,
        _ body: @Sendable (_ worker: Int, _ n: Int, _ sample: UnsafePointer<T>, _ chunk: Int) -> Void
    ) -> Int {
        let tasks = batch * chunks
        let bySample = batch >= 2 * workers
        let count = bySample ? workers : Swift.min(workers, tasks)
        let window = TaskShared(self)
        runWorkers(count) { worker in
            let source = window.buffers
            let rowScalars = source.extents[2] * source.channels
            let capacity = source.windowRows(chunks: chunks, rowsRead: rowsRead, firstRow: firstRow) * rowScalars
            let buffer = UnsafeMutablePointer<T>.allocate(capacity: capacity + source.slack)
            defer { buffer.deallocate() }
            // Worker w's tasks: every count-th from w, or (by sample) every chunk of its samples.
            let step = bySample ? count * chunks : count
            for first in Swift.stride(from: bySample ? worker * chunks : worker, to: tasks, by: step) {
                for task in first..<(bySample ? first + chunks : first + 1) {
                    let (n, c) = (task / chunks, task % chunks)
                    let rows = source.windowRows(chunk: c, of: chunks, rowsRead: rowsRead, firstRow: firstRow)
                    // Where the padded sample would start; only rows `rows` are read from it.
                    let sample = buffer - rows.lowerBound * rowScalars
                    if let runs {
                        var end = rows.lowerBound
                        for run in runs(c) {
                            let kept = Swift.max(run.lowerBound, end)..<Swift.min(run.upperBound, rows.upperBound)
                            if !kept.isEmpty {
                                pad(source, n, kept, sample)
                                end = kept.upperBound
                            }
                        }
                        if end < rows.upperBound { pad(source, n, end..<rows.upperBound, sample) }
                    } else {
                        pad(source, n, rows, sample)
                    }
                    (sample + rows.upperBound * rowScalars).initialize(repeating: 0, count: source.slack)
                    body(worker, n, UnsafePointer(sample), c)
                }
            }
        }
        return count
    }

    /// The padded rows chunk `c` of `chunks` reads, with the grid tiles' read-ahead past its
    /// last position (the rows the slack reaches, as `forEachChunk` pads them for a whole
    /// sample); the last chunk takes the sample's remaining rows.
    func windowRows(
        chunk c: Int, of chunks: Int, rowsRead: (Int) -> Int, firstRow: (Int) -> Int
    ) -> Range<Int> {
        let ahead = 1 + slack / (extents[2] * channels)
        let end = c == chunks - 1 ? rowCount : Swift.min(rowCount, rowsRead(c) + ahead)
        return Swift.min(firstRow(c), end)..<end
    }

    /// The most padded rows any of `chunks` chunks reads (`windowRows(chunk:…)`): the rows of a
    /// worker's window buffer.
    func windowRows(chunks: Int, rowsRead: (Int) -> Int, firstRow: (Int) -> Int) -> Int {
        (0..<chunks).map { windowRows(chunk: $0, of: chunks, rowsRead: rowsRead, firstRow: firstRow).count }.max() ?? 0
    }

    /// Calls `body` with the whole batch padded (samples `sampleCount` apart, then the slack),
    /// padded in parallel over samples; the buffer is freed on return. When `readsInPlace`, with
    /// the source itself (no slack).
    func withPaddedBatch(workers: Int, _ body: (UnsafePointer<Float>) -> Void) {
        if readsInPlace {
            body(parts[0].source)
            return
        }
        withWholeBatch(of: Float.self, workers: workers, pad: { $0.pad(sample: $1, into: $2) }, body)
    }

    /// Calls `body(batch, sampleFloats)` with the whole batch padded as `withPaddedBatch` pads
    /// it, but its positions `positionFloats` floats apart (at least `channels`; the floats past
    /// them are zero) and its samples `sampleFloats` apart: the spread copy of the small-image
    /// weight gradient (`dk_conv_spread_position_floats`). At `channels` floats,
    /// `withPaddedBatch`'s own.
    func withSpreadBatch(
        workers: Int, positionFloats: Int, _ body: (_ batch: UnsafePointer<Float>, _ sampleFloats: Int) -> Void
    ) {
        guard positionFloats != channels else {
            withPaddedBatch(workers: workers) { body($0, sampleCount) }
            return
        }
        precondition(
            positionFloats > channels, "spread positions hold \(positionFloats) floats, fewer than \(channels)")
        let spreadSample = sampleCount / channels * positionFloats
        withWholeBatch(
            of: Float.self, workers: workers, sampleScalars: spreadSample,
            slackScalars: slack / channels * positionFloats,
            pad: { $0.padSpread(sample: $1, positionFloats: positionFloats, into: $2) }, { body($0, spreadSample) })
    }

    /// Writes sample n padded, its positions `positionFloats` floats apart (the floats past
    /// `channels` zero), to `target`: each padded row as `pad` writes it, moved out to its places.
    private func padSpread(sample n: Int, positionFloats: Int, into target: UnsafeMutablePointer<Float>) {
        let width = extents[2]
        let row = UnsafeMutablePointer<Float>.allocate(capacity: width * channels)
        defer { row.deallocate() }
        for r in 0..<rowCount {
            pad(sample: n, row: r, columns: 0..<width, into: row)
            let first = target + r * width * positionFloats
            for x in 0..<width {
                (first + x * positionFloats).initialize(from: row + x * channels, count: channels)
                (first + x * positionFloats + channels).initialize(repeating: 0, count: positionFloats - channels)
            }
        }
    }

    /// Allocates the whole batch (samples `sampleScalars` apart, `sampleCount` unless given, then
    /// `slackScalars` of zeroed slack, `slack` unless given), has `pad` write each sample, in
    /// parallel over samples (each worker its own), calls `body` with it and frees it.
    func withWholeBatch<T: Numeric & SendableMetatype>(
        of _: T.Type, workers: Int, sampleScalars: Int? = nil, slackScalars: Int? = nil,
        pad: @Sendable (PaddedSource, Int, UnsafeMutablePointer<T>) -> Void, _ body: (UnsafePointer<T>) -> Void
    ) {
        let (stride, tail) = (sampleScalars ?? sampleCount, slackScalars ?? slack)
        let whole = UnsafeMutablePointer<T>.allocate(capacity: batch * stride + tail)
        defer { whole.deallocate() }
        (whole + batch * stride).initialize(repeating: 0, count: tail)
        let count = Swift.min(workers, batch)
        let shared = TaskShared((self, whole))
        runWorkers(count) { worker in
            let (source, whole) = shared.buffers
            for n in Swift.stride(from: worker, to: source.batch, by: count) { pad(source, n, whole + n * stride) }
        }
        body(UnsafePointer(whole))
    }
}
