// The stride-1 forward passes of the direct kernels (a convolution's forward pass and its input
// gradient) without a padded copy of their input: the kernels read the input itself.
//
// An output position whose receptive field lies inside the input (the interior: in − k + 1
// positions per axis) reads no padding, so the interior is a valid convolution of the unpadded
// sample, run in place on the padded-grid kernels with the sample's own extents as the grid and
// its results written into a window of the output (dk_conv_geometry.yw/yh). The border — the
// first `before` and last `after` positions per axis — is computed from strips of the padded
// input copied into a small per-worker buffer: whole output lines above and below the interior
// (and whole planes in 3-D), and the border columns of the interior lines, on per-position
// tiles (dk_conv_geometry.per_position) where a strip is too narrow for the grid tiles. At 128²
// with a 3×3 kernel the strips hold 12 of every 130 positions that a padded copy would write.
//
// A channel concatenation of two parts (a U-Net decoder's input in evaluation mode) is read in
// place as well: the interior's tiles take each tap's channels from the first part, then from
// the second (dk_conv_geometry.xb, set per sample), and the strips join the parts in their boxes.
//
// The bits are those of the padded copy: every output position sums the same terms in the same
// order (per-position tiles sum in the grid tiles' order, two parts in the joined order), and the
// padding is zeros either way (`InPlaceForwardTests`, `TwoPartInputTests` compare them bit for bit).
// The workers take samples (or tasks) in turn as each finishes its last (`TaskTicket`), which
// changes no bits: every output is written by one task, whichever worker runs it. On a Zen 3
// VM, base-16 U-Net inference took a median 107.0 ms against 115.5 with a fixed share per worker
// (18 runs each, alternated), the pass no longer waiting for a worker on a slower core.

internal import CDiceKitKernels
import Synchronization

/// A box of one sample's positions, origin and extents per axis (D, H, W): output positions, or
/// positions of the padded input (`PaddedSource.pad(sample:box:into:)`).
struct PositionBox: Equatable {
    var origin: [Int]
    var extents: [Int]

    var count: Int { extents[0] * extents[1] * extents[2] }
}

/// How a stride-1 direct forward pass over `PaddedSource` runs in place: its interior box and
/// its border strips.
struct InPlaceForward {
    /// The smallest interior share of the output worth a pass in place: below it the border
    /// strips (about 12 positions per output line with a 3×3 kernel) cost about what the padded
    /// copy does. At 3×3 it admits 16² and larger (196 of 256 positions), not 8² (36 of 64).
    static let minimumInteriorShare = 0.75

    /// The valid convolution of the unpadded sample, writing the interior window of the output.
    let interior: dk_conv_geometry
    /// The same on per-position tiles: for the last sample's final positions, whose grid tiles
    /// would read past the end of the batch (the input has no slack after it; `lastGridPosition`).
    let interiorPerPosition: dk_conv_geometry
    /// The interior's first output position in a sample's output, in scalars.
    let interiorOffset: Int
    /// The border strips: the output box, the padded box it reads, its geometry and output offset.
    let strips: [Strip]
    /// Scalars of the largest strip's padded box plus the kernels' read-ahead slack.
    let stripCapacity: Int
    /// The kernel's reach from a grid position, in positions.
    private let reach: Int
    /// Positions of one unpadded input sample.
    let samplePositions: Int

    /// One border strip of the output.
    struct Strip {
        let output: PositionBox
        /// The padded box it reads (padded coordinates): the output box grown by kernel − 1.
        let read: PositionBox
        let geometry: dk_conv_geometry
        /// Offset, in scalars, of the strip's first output position in a sample's output.
        let outputOffset: Int
    }

    /// The plan for `g` (a stride-1 pass over the padded form of `source`, output extents
    /// (od, oh, ow)), or nil when it does not qualify: one part (or two, read by the interior's
    /// tiles in turn, for output channels in multiples of 16: a decoder's joined input), no
    /// rounding, some padding, an interior of at least `minimumInteriorShare` of the output, no
    /// scattered output.
    init?(_ g: dk_conv_geometry, source: PaddedSource) {
        let kernel = [Int(g.kd), Int(g.kh), Int(g.kw)]
        let output = [g.od, g.oh, g.ow]
        guard source.parts.count == 1 || (source.parts.count == 2 && g.cout % 16 == 0),
            !source.roundsToBFloat16, g.ud == 0, g.uh == 0, g.uw == 0,
            Swift.max(g.sd, g.sh, g.sw) <= 1,
            Self.qualifies(kernel: kernel, inner: source.inner, before: source.before, after: source.after)
        else { return nil }
        let inner = Self.interiorExtents(kernel: kernel, inner: source.inner)
        // Channels per output position: all of them, or those of the first part of an output in
        // two (dk_conv_geometry.cout_a; the kernels add the second part's offset).
        let channels = Int(g.cout_a > 0 ? g.cout_a : g.cout)
        let offset = { (origin: [Int]) in ((origin[0] * output[1] + origin[1]) * output[2] + origin[2]) * channels }
        var interior = g
        (interior.hp, interior.wp) = (source.inner[1], source.inner[2])
        (interior.od, interior.oh, interior.ow) = (inner[0], inner[1], inner[2])
        (interior.yw, interior.yh) = (output[2], output[1])
        // Two parts: the first's channels at the kernels' input pointer, the second's at `xb`
        // (set per sample, `run`).
        if source.parts.count == 2 { interior.cin_a = Int32(source.parts[0].channels) }
        self.interior = interior
        var perPosition = interior
        perPosition.per_position = 1
        interiorPerPosition = perPosition
        interiorOffset = offset(source.before)
        samplePositions = source.inner.reduce(1, *)
        reach = ((kernel[0] - 1) * source.inner[1] + kernel[1] - 1) * source.inner[2] + kernel[2]

        var strips: [Strip] = []
        for box in Self.border(output: output, interior: PositionBox(origin: source.before, extents: inner)) {
            var s = g
            // The padded box [origin, origin + extents + kernel − 1) per axis, as a padded sample.
            (s.hp, s.wp) = (box.extents[1] + kernel[1] - 1, box.extents[2] + kernel[2] - 1)
            (s.od, s.oh, s.ow) = (box.extents[0], box.extents[1], box.extents[2])
            (s.yw, s.yh) = (output[2], output[1])
            // Per-position tiles where the grid tiles would compute half as many positions again
            // as they store: a column strip (3 grid columns per output at 3×3), or in 3-D a line
            // strip over several planes (hp = 3 grid rows per output line).
            s.per_position = Self.gridPositions(s) * 2 > box.count * 3 ? 1 : 0
            let read = PositionBox(origin: box.origin, extents: (0..<3).map { box.extents[$0] + kernel[$0] - 1 })
            strips.append(Strip(output: box, read: read, geometry: s, outputOffset: offset(box.origin)))
        }
        self.strips = strips
        stripCapacity = Self.stripCapacity(
            kernel: kernel, inner: source.inner, before: source.before, after: source.after, channels: Int(g.cin))
    }

    /// Whether a stride-1 pass of `kernel` over a sample of `inner` extents, padded by `before`
    /// and `after` (D, H, W), runs in place as far as its extents decide: some padding, and an
    /// interior of at least `minimumInteriorShare` of the output.
    static func qualifies(kernel: [Int], inner: [Int], before: [Int], after: [Int]) -> Bool {
        guard before.contains(where: { $0 > 0 }) || after.contains(where: { $0 > 0 }) else { return false }
        let interior = interiorExtents(kernel: kernel, inner: inner)
        let output = outputExtents(kernel: kernel, inner: inner, before: before, after: after)
        return interior.allSatisfy({ $0 >= 1 })
            && Double(interior.reduce(1, *)) >= minimumInteriorShare * Double(output.reduce(1, *))
    }

    /// The output's extents of a stride-1 pass.
    static func outputExtents(kernel: [Int], inner: [Int], before: [Int], after: [Int]) -> [Int] {
        (0..<3).map { (axis: Int) -> Int in
            let padded: Int = inner[axis] + before[axis] + after[axis]
            return padded - kernel[axis] + 1
        }
    }

    /// The interior's extents: the output positions whose receptive field lies inside the sample.
    static func interiorExtents(kernel: [Int], inner: [Int]) -> [Int] {
        (0..<3).map { inner[$0] - kernel[$0] + 1 }
    }

    /// Scalars of the largest border strip's padded box, of `channels` per position, plus the
    /// kernels' read-ahead slack: the buffer each worker of an in-place pass holds instead of a
    /// padded copy of the sample (`ConvGeometry.directWorkspace`).
    static func stripCapacity(kernel: [Int], inner: [Int], before: [Int], after: [Int], channels: Int) -> Int {
        let output = outputExtents(kernel: kernel, inner: inner, before: before, after: after)
        let interior = PositionBox(origin: before, extents: interiorExtents(kernel: kernel, inner: inner))
        var capacity = 0
        for box in border(output: output, interior: interior) {
            let read = (0..<3).map { box.extents[$0] + kernel[$0] - 1 }
            capacity = Swift.max(capacity, read.reduce(1, *))
        }
        return (capacity + kernel[2] + Int(DK_CONV_SLACK_POSITIONS)) * channels
    }

    /// How many grid positions the grid tiles compute for all of `g`'s outputs: every grid
    /// position from the first output's to the last one's.
    static func gridPositions(_ g: dk_conv_geometry) -> Int {
        ((g.od - 1) * g.hp + g.oh - 1) * g.wp + g.ow
    }

    /// The output positions outside `interior`, as boxes: the planes before and after it (3-D),
    /// then within its planes the lines above and below it, then within its lines the columns
    /// to its left and right. Each position is in one box.
    static func border(output: [Int], interior: PositionBox) -> [PositionBox] {
        var boxes: [PositionBox] = []
        var origin = [0, 0, 0]
        var extents = output
        for axis in 0..<3 {
            let (lo, hi) = (interior.origin[axis], interior.origin[axis] + interior.extents[axis])
            if lo > 0 {
                var box = PositionBox(origin: origin, extents: extents)
                box.extents[axis] = lo
                boxes.append(box)
            }
            if hi < output[axis] {
                var box = PositionBox(origin: origin, extents: extents)
                (box.origin[axis], box.extents[axis]) = (hi, output[axis] - hi)
                boxes.append(box)
            }
            (origin[axis], extents[axis]) = (lo, interior.extents[axis])
        }
        return boxes
    }

    /// The end of the longest run [q0, end) of interior positions, within [q0, q1), whose grid
    /// tiles read nothing past the sample (`readsPastSample`): in the last sample, the positions
    /// from there on run on per-position tiles.
    func lastGridPosition(_ q0: Int, _ q1: Int) -> Int {
        guard readsPastSample(q0, q1) else { return q1 }
        var (low, high) = (q0, q1) // readsPastSample(q0, low) is false (or low == q0), (q0, high) true
        while high - low > 1 {
            let middle = (low + high) / 2
            if readsPastSample(q0, middle) { high = middle } else { low = middle }
        }
        return low
    }

    /// Whether the grid tiles of interior positions [q0, q1) may read past the end of a sample
    /// (up to kw + 24 positions past the last one's receptive field, conv_avx512.c).
    func readsPastSample(_ q0: Int, _ q1: Int) -> Bool {
        guard q1 > q0 else { return false }
        let (plane, last) = (interior.oh * interior.ow, q1 - 1)
        let (z, y, x) = (last / plane, last % plane / interior.ow, last % interior.ow)
        let grid = (z * interior.hp + y) * interior.wp + x
        return grid + reach + Int(DK_CONV_SLACK_POSITIONS) > samplePositions
    }
}

extension InPlaceForward {
    /// y = conv(padded source, weight) (+ bias) over the batch, `y` samples `outputSample`
    /// scalars apart: per sample, the interior in chunks of `chunk` positions, then the strips.
    /// With at least two samples per worker, worker w takes samples w, w + workers, …; with
    /// fewer, the (sample, task) pairs are dealt out the same way. Every output position is
    /// written by one task, so the result does not depend on the assignment. `narrow`: the
    /// few-channel kernel (`ConvGeometry.forwardTasks`).
    func run(
        source: PaddedSource, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
        outputSample: Int, chunk: Int, workers: Int, narrow: Bool
    ) {
        let positions = interior.od * interior.oh * interior.ow
        let chunks = (positions + chunk - 1) / chunk
        let perSample = chunks + strips.count
        let batch = source.batch
        // Every geometry the kernels read, for the call's duration: interior, per-position
        // interior, then the strips'.
        let geometries = UnsafeMutablePointer<dk_conv_geometry>.allocate(capacity: 2 + strips.count)
        defer { geometries.deallocate() }
        geometries.initialize(to: interior)
        (geometries + 1).initialize(to: interiorPerPosition)
        for (i, strip) in strips.enumerated() { (geometries + 2 + i).initialize(to: strip.geometry) }
        let shared = TaskShared((self, source, geometries, weight, bias, y))
        let task: @Sendable (Int, Int, UnsafeMutablePointer<Float>) -> Void = { n, j, buffer in
            let (plan, source, geometries, weight, bias, y) = shared.buffers
            let kernel = narrow ? dk_conv_forward_narrow_f32 : dk_conv_forward_f32
            let output = y + n * outputSample
            if j < chunks {
                let (q0, q1) = (j * chunk, Swift.min(positions, j * chunk + chunk))
                // Sample n of each part (the second, if any, reaches the kernels through `xb`).
                let sample = { (part: ChannelPart) in part.source + n * plan.samplePositions * part.channels }
                let (x, window) = (sample(source.parts[0]), output + plan.interiorOffset)
                let second = source.parts.count == 2 ? UInt(bitPattern: sample(source.parts[1])) : 0
                // The last sample's positions whose grid tiles would read past the tensor: per position.
                let split = n == batch - 1 ? plan.lastGridPosition(q0, q1) : q1
                var (grid, perPosition) = (geometries[0], geometries[1])
                (grid.xb, perPosition.xb) = (second, second)
                kernel(&grid, x, weight, bias, window, q0, split)
                kernel(&perPosition, x, weight, bias, window, split, q1)
                return
            }
            let strip = plan.strips[j - chunks]
            source.pad(sample: n, box: strip.read, into: buffer)
            kernel(
                geometries + 2 + (j - chunks), buffer, weight, bias, output + strip.outputOffset, 0, strip.output.count)
        }
        let capacity = stripCapacity
        let bySample = batch >= 2 * workers
        let count = Swift.min(workers, bySample ? batch : batch * perSample)
        // Each worker takes the next sample (or task) when it is done with its last, not a fixed
        // share: every output is written by one task whichever worker runs it, so the bits are the
        // same, and a worker on a slower core (a VM's cores run at unequal speeds at times) takes
        // fewer instead of the pass waiting for it.
        let ticket = TaskTicket()
        runWorkers(count) { _ in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
            defer { buffer.deallocate() }
            // Zeros past any strip: the grid tiles' read-ahead (results not stored).
            buffer.initialize(repeating: 0, count: capacity)
            if bySample {
                while case let n = ticket.take(), n < batch {
                    for j in 0..<perSample { task(n, j, buffer) }
                }
            } else {
                while case let t = ticket.take(), t < batch * perSample {
                    task(t / perSample, t % perSample, buffer)
                }
            }
        }
    }
}

extension PaddedSource {
    /// Writes the padded box `box` (padded coordinates: origin, extents per axis) of sample n to
    /// `target`, contiguous (extents[1] · extents[2] positions per plane): the input values, and
    /// zeros where the box covers padding.
    func pad(sample n: Int, box: PositionBox, into target: UnsafeMutablePointer<Float>) {
        let columns = box.origin[2]..<(box.origin[2] + box.extents[2])
        var row = target
        for pz in box.origin[0]..<(box.origin[0] + box.extents[0]) {
            for py in box.origin[1]..<(box.origin[1] + box.extents[1]) {
                pad(sample: n, row: pz * extents[1] + py, columns: columns, into: row)
                row += columns.count * channels
            }
        }
    }
}

/// Task indices 0, 1, 2, … handed out in the order workers ask for them (`take()`).
final class TaskTicket: Sendable {
    private let next = Atomic<Int>(0)

    /// The next index not yet taken.
    func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
}
