// Block and chunk sizes of the direct convolution kernels, derived at run time from the caches
// of the CPU this process runs on (`CPUInfo.current.caches`), never from constants tuned on one
// machine. The derivation (Docs/Convolution.md, "Sizes from the machine"):
//
//   weight block   = L2 / 4
//       The forward pass accumulates its output in K blocks: every tile of 6–12 output positions
//       re-reads the block's weights (one vector per output-channel group and kernel row), and
//       every block after the first reloads and stores the tiles' accumulators through the
//       output. The kernel is packed in 64-channel blocks (DirectConvolution.swift), so a K block
//       is contiguous and the hardware prefetchers stream it from L2 at 256 bytes per 24 FMAs;
//       it gets a quarter of L2 beside the chunk's inputs and outputs (half of L2, below), which
//       makes one K block of every 64-channel weight block up to 128 input channels at 2 MiB of
//       L2. Blocks of two thirds of L1d (until 2026-12-01) kept the weights in L1, but the
//       reloads and the per-block tile set-up cost more than the L2 reads: on Emerald Rapids,
//       64 → 64 at 64² forward went from 277–287 to 300–312 GFLOP/s and 128 → 128 at 32² from
//       279–307 to 311–320 (alternated runs; Docs/Convolution.md, "Sizes from the machine").
//       The AMX forward pass groups its 16-channel blocks by the same size (conv_amx_kernel.h):
//       each group's packed bfloat16 kernel is read once for a task's positions.
//   forward chunk  = (L2 / 2) / (4 bytes · (Cin + min(Cout, 64))) output positions,
//                    rounded down to a multiple of 24, within [96, 3072]
//       One chunk's input rows (Cin floats per position) and the output block it accumulates
//       (at most 64 channels per pass) share half of L2, so every K block after the first finds
//       the chunk's outputs and inputs in L2 instead of memory.
//   dealt chunk    = ⌈positions / c⌉ rounded up to the kernel's tile height, c the least count
//                    ≥ ⌈positions / forward chunk⌉ that makes batch · c a multiple of the workers
//       With fewer than two samples per worker, (sample, chunk) tasks are dealt out in turn. One
//       image at a time (`dicekit predict`) had run each layer of up to a forward chunk's
//       positions (every level of a 128² U-Net from 32² down, at 2 MiB of L2) as one task on
//       one core: the base-32 U-Net's one-image inference now runs 1.33–1.53× faster.
//   weight-gradient lines = (L2 / 2) / (4 bytes · (Cin + Cout) · OW) output lines (at least 1)
//       Every weight-gradient tile re-reads the chunk's input and output-gradient rows, so both
//       must fit in L2 together.
//   weight-gradient block lines = (L2 / 2) / (4 bytes · (Cin + min(Cout, 64)) · OW) (at least 1)
//       Small images split the weight gradient by (segment, 64 output channels) blocks over the
//       whole batch; a block's tiles run over this many lines of one sample at a time, whose
//       input rows and output-gradient block (copied out contiguous when Cout > 64) they all
//       re-read from L2. Streaming the whole batch per tile read them from memory; chunks sized
//       for L1 (a few lines) were worse than L2-sized ones on Emerald Rapids: 128 → 128 at 32²,
//       3 lines 187–228 GFLOP/s, 16 lines 261–269, the whole 32-line sample 267–272
//       (Docs/Convolution.md).
//   bfloat16 weight-gradient lines = (3 · L2 / 4) / (4 bytes · Cin + 2 bytes · Cout) / OW output
//                    lines (at least 1); samples of one chunk in register passes over groups of as
//                    many samples as a chunk holds, or, with a 64-channel block of dW past
//                    3 · L2 / 4, of (L2 / 8) / (128 bytes · positions) samples (at least 1)
//       The dot-product weight gradient (dk_conv_weight_grad_bf16, from `weightBlock`): a chunk's
//       pair-packed input rows and packed output gradient stay in L2 while every tile re-reads
//       them; where a sample is one chunk, each tile runs through a group of samples with its
//       sums in registers. (The whole batch's gradient blocks, 256 KiB at 16² with 512 channels,
//       had been read from L3 by every tile; groups larger than a chunk made 16² 256 → 256
//       0.85× slower.)
//   bfloat16 weight-gradient band = (L2 / 8) / (4 bytes · Cin · padded width · kd) − (kh − 1)
//                    output lines (at least 1)
//       The banded dot-product weight gradient (BFloat16Convolution.swift) packs each band's
//       input rows in pairs (4 bytes per channel) just before its tiles re-read them; kh − 1
//       rows of every band are packed again by the next. An eighth of L2 is the 128 KiB the
//       bands had on Zen 4/5 (1 MiB) before they were sized from L2. Half of L2 there made the
//       weight gradient alone 1.00–1.06× faster but not the U-Net steps (0.95–0.98×;
//       Docs/Benchmarks/AMD-Zen5.md, "The same Zen 5 on 2026-12-06 (10:25–)").
//   tile weight-gradient chunk = (L2 / 2 − 2 bytes · Cin · span) / (2 bytes · (Cin + Cout)) grid
//                    positions, rounded down to a multiple of 32 (at least 32)
//   tile weight-gradient rows  = (L2 / 4) / (4 bytes · Cout) kernel rows, a multiple of 32
//       The AMX weight gradient (BFloat16TileWeightGradient.swift) splits dW into blocks of rows
//       whose Float sums fit a quarter of L2, and runs each block over the batch in chunks whose
//       bfloat16 inputs and gradients fit half of it: a chunk is read from memory once per block
//       and re-read from L2 by the block's tiles, the sums reloaded from L2 once per chunk.
//       Streaming the whole batch once per pair of 16-row blocks instead read about 155 MB from
//       L3 for a 128² 32 → 32 layer at batch 8, where the products take under a millisecond.
//
// An L2 that cannot be read falls back to 256 KiB (the smallest of current x86-64 cores), which
// only makes the blocks smaller than they could be. Blocking never changes a result: the kernels accumulate in Float in the same order whatever the blocks.

/// Block and chunk sizes of the direct convolution kernels for one CPU.
struct ConvBlocking: Sendable, Equatable {
    /// Bytes of L2 per core that the sizes derive from.
    let l2: Int
    let l1Data: Int

    /// Sizes for a CPU with the given L2 and L1d per core (nil: not reported; 256 KiB and 32 KiB
    /// assumed, the smallest of current x86-64 cores).
    init(l2: Int?, l1Data: Int? = nil) {
        self.l2 = Swift.max(l2 ?? (256 << 10), 128 << 10)
        self.l1Data = Swift.max(l1Data ?? (32 << 10), 16 << 10)
    }

    /// The sizes of the CPU this process runs on.
    static let current = ConvBlocking(l2: CPUInfo.current.caches.l2, l1Data: CPUInfo.current.caches.l1Data)

    /// Bytes of weights one K block of the forward pass may hold.
    var weightBlock: Int { l2 / 4 }

    /// Output positions per task of the forward pass (a multiple of every tile height: 24, 12, 8, 6).
    func forwardChunk(inChannels: Int, outChannels: Int) -> Int {
        let perPosition = 4 * (inChannels + Swift.min(outChannels, 64))
        let positions = (l2 / 2) / Swift.max(perPosition, 1) / 24 * 24
        return Swift.min(3072, Swift.max(96, positions))
    }

    /// Output lines per pass of a weight-gradient block (small images, split by kernel segment
    /// and 64 output channels): the lines' input rows and the block's output-gradient rows fill
    /// at most half of L2, so every tile of the block re-reads them from L2.
    func weightGradientBlockLines(inChannels: Int, outChannels: Int, width: Int) -> Int {
        Swift.max(1, (l2 / 2) / Swift.max(4 * (inChannels + Swift.min(outChannels, 64)) * width, 1))
    }

    /// Tiles per block of the Winograd passes (Winograd.swift), a multiple of the micro-kernel's
    /// 6 rows, from their transformed input and products: `points` · (Cin + Cout) floats a tile,
    /// 16 elements of a 2-D transform, 64 of a 3-D one.
    ///
    /// - 2-D: half of L2, but never fewer than 48 tiles, so that each transformed kernel slice is
    ///   read once for 48 tiles or more (the slices of wide layers do not fit L2 and come from L3).
    ///   Where the transformed kernel (16 · Cin · Cout floats) is smaller than L1d, half of L1d
    ///   instead, at least 12 tiles: the block's tiles then go from transform to products (or
    ///   sums) in L1, and every block re-reads the kernel (or the weight gradient's sums), which
    ///   is then fewer bytes a tile than writing the tiles to L2 and reading them back (2 ·
    ///   tileBytes a tile against kernelBytes / (L1d / 2 / tileBytes)). 16 → 16 and, with 48 KiB
    ///   of L1d, 32 → 16.
    /// - 3-D: a quarter of L2, at least 12 tiles; at least 48 where the transformed kernel
    ///   (64 · Cin · Cout floats) exceeds L2. A 3-D tile holds 4× a 2-D one's floats, and the
    ///   2-D rule's 48 tiles of 16 channels fill ¾ of a 512 KiB L2.
    ///
    /// Measured on the Zen 3 of Docs/Benchmarks/AMD-Zen3.md: the 3-D rule made the 3-D U-Net's
    /// step 1.15× and its inference 1.19× faster than the 2-D rule applied to it; applied to 2-D
    /// layers it made the 2-D U-Net's step 0.88–0.90× and inference 0.81–0.96× as fast (alternated
    /// `dicekit-bench` runs).
    func winogradBlock(inChannels: Int, outChannels: Int, points: Int) -> Int {
        let tileBytes = Swift.max(4 * points * (inChannels + outChannels), 1)
        if points != 64 {
            if 4 * points * inChannels * outChannels < l1Data { return Swift.max(12, (l1Data / 2) / tileBytes / 6 * 6) }
            return Swift.max(48, (l2 / 2) / tileBytes / 6 * 6)
        }
        let least = 4 * points * inChannels * outChannels > l2 ? 48 : 12
        return Swift.max(least, (l2 / 4) / tileBytes / 6 * 6)
    }

    /// Whether a Winograd pass of `points` elements ξ, `inChannels` → `outChannels`, with
    /// `tilesPerWorker` tiles on each worker, splits its products by elements rather than by tiles
    /// (WinogradElementSplit.swift): where the transformed kernel (4 · points · Cin · Cout bytes)
    /// exceeds half of L2, so that the split by tiles streams it from L3 into every worker (once
    /// per block of tiles), and is at least twice the bytes of a worker's chunk of transformed
    /// tiles and products (4 · points · tiles · (Cin + Cout)), which the split by elements writes
    /// to L3 and reads back instead. In process on Emerald Rapids (`Scripts/conv_costs.c`, a
    /// shape's 4th field −1, both ways alternated, the best of 9; 2 cores, 64 tiles each at 8²),
    /// the forward pass split by elements ran at 1.11× (8² 256 → 256), 1.21× (256 → 512) and 1.16×
    /// (512 → 512) the split by tiles' speed, its weight gradient at 1.05×, 1.12× and 1.28×; where
    /// the kernel is less than twice the chunk it lost: 0.87× and 0.90× at 8² 128 → 256, 0.89–1.05×
    /// at 16² (256 tiles a worker), 0.63–0.79× at 32².
    func winogradSplitsElements(inChannels: Int, outChannels: Int, points: Int, tilesPerWorker: Int) -> Bool {
        let kernelBytes = 4 * points * inChannels * outChannels
        let chunkBytes = 4 * points * tilesPerWorker * (inChannels + outChannels)
        return kernelBytes > l2 / 2 && kernelBytes >= 2 * chunkBytes
    }

    /// Bytes of a worker's buffer of padded input lines in a Winograd pass (`WinogradSlabs`): a
    /// quarter of L2, which the transforms read while it is in cache, beside the block's
    /// transformed tiles and products (half of L2: `winogradBlock`). Padding the whole batch
    /// instead wrote the copy to memory and read it back: on a Zen 4 (L2 1 MiB, alternated
    /// `dicekit-bench` conv keys against the whole batch) the Float passes of 128² 32 → 32 (17 MB
    /// padded) ran 1.15× (forward), 1.24× (weight gradient) and 1.27× (input gradient) as fast,
    /// those of 64² 64 → 64 1.06–1.09×, those of 32² 128 → 128 (4.7 MB, which L3 holds) level;
    /// half of L2 was no faster.
    var winogradSlabBytes: Int { l2 / 4 }

    /// Tiles per worker and block of the bfloat16 Winograd weight gradient
    /// (`ConvGeometry.bfloat16WinogradWeightGradient`), even: a worker's run of the block's
    /// rounded, paired transforms (16 · (Cin + Cout) bfloat16 values a tile) fills a quarter of
    /// L2, but at least 64 tiles: each block reads and writes every element ξ's sums (16 · Cin ·
    /// Cout floats, from L3 in wide layers) once. In process on a Zen 4 (`Scripts/conv_costs.c`,
    /// PASS=winograd-bf16-weight, one core) runs of 16 and 32 tiles ran at 0.71× and 0.89× the
    /// speed of 64 at 8² 512 → 512; from 64 to 256 channels 32 to 128 tiles were within the noise.
    func bfloat16WinogradWeightTiles(inChannels: Int, outChannels: Int) -> Int {
        Swift.max(64, (l2 / 4) / Swift.max(32 * (inChannels + outChannels), 1) / 2 * 2)
    }

    /// Bytes of a band's pair-packed input in the banded bfloat16 weight gradient
    /// (`ConvGeometry.bandLines`): an eighth of L2.
    var bfloat16BandBytes: Int { l2 / 8 }

    /// Output lines per task of the weight gradient.
    func weightGradientLines(inChannels: Int, outChannels: Int, width: Int) -> Int {
        Swift.max(1, (l2 / 2) / Swift.max(4 * (inChannels + outChannels) * width, 1))
    }

    /// Output positions per task of a Float direct forward pass (or input gradient) over
    /// `positions` output positions of each of `batch` samples on `workers`: with two samples
    /// per worker or more, each worker takes whole samples in `forwardChunk`s (within a multiple
    /// of 24, for small images); with fewer, the (sample, chunk) tasks are dealt out in chunks
    /// cut for the workers (`dealtChunk`), in whole tiles of the kernels: 6 positions from 64
    /// output channels, 8 at 48, and 24 for the grid tiles below 48.
    func forwardTaskChunk(inChannels: Int, outChannels: Int, positions: Int, batch: Int, workers: Int) -> Int {
        let sized = forwardChunk(inChannels: inChannels, outChannels: outChannels)
        guard batch < 2 * workers else { return Swift.max(24, Swift.min(sized, (positions + 23) / 24 * 24)) }
        let tile = outChannels >= 64 ? 6 : outChannels >= 48 ? 8 : 24
        return Self.dealtChunk(positions: positions, limit: sized, tile: tile, batch: batch, workers: workers)
    }

    /// Output positions per (sample, chunk) task of a bfloat16 forward pass dealt to `workers`
    /// (`dealtChunk`, at most 3072), in whole tiles: 16 grid positions on the tile unit (`tiles`),
    /// else the dot-product kernels' tile height (16, 12, 8 and 6 positions for 16, 32, 48 and
    /// 64 or more output channels).
    static func bfloat16TaskChunk(outChannels: Int, positions: Int, tiles: Bool, batch: Int, workers: Int) -> Int {
        let tile = tiles ? 16 : [16, 16, 12, 8, 6][Swift.min(4, Swift.max(outChannels, 0) / 16)]
        return dealtChunk(positions: positions, limit: 3072, tile: tile, batch: batch, workers: workers)
    }

    /// Output positions per chunk of a forward pass whose (sample, chunk) tasks are dealt to
    /// `workers` in turn (fewer than two samples per worker): at most `limit`, a multiple of
    /// `tile` (the kernel's tile height, so that a chunk computes no more partial tiles than
    /// the pass must), and cut in near-equal chunks, enough of them that `batch` × chunks is a
    /// multiple of `workers` where chunks of a tile or more allow. One image at a time (`dicekit
    /// predict`, a `Predictor`) had run each layer of up to `limit` positions as one task, on
    /// one core, and a layer of a little more than `limit` as one full chunk and one short one.
    /// Chunks never change a result: every output position sums in the same order in any chunk.
    static func dealtChunk(positions: Int, limit: Int, tile: Int, batch: Int, workers: Int) -> Int {
        let (positions, limit, tile) = (Swift.max(positions, 1), Swift.max(limit, 1), Swift.max(tile, 1))
        var chunks = (positions + limit - 1) / limit
        let most = Swift.max(chunks, positions / tile)
        while (batch * chunks) % Swift.max(workers, 1) != 0 && chunks < most { chunks += 1 }
        let even = (positions + chunks - 1) / chunks
        return Swift.min(limit, (even + tile - 1) / tile * tile)
    }

    /// Grid positions per chunk of the AMX weight gradient (a multiple of 32): the chunk's
    /// channel-major input rows, `span` positions longer for the kernel's reach, and its
    /// output-gradient pairs, bfloat16 each, fill at most half of L2.
    func tileWeightGradientChunk(inChannels: Int, outChannels: Int, span: Int) -> Int {
        let room = l2 / 2 - 2 * inChannels * span
        return Swift.max(32, room / Swift.max(2 * (inChannels + outChannels), 1) / 32 * 32)
    }

    /// Kernel rows per block of the AMX weight gradient (a multiple of 32): the block's Float
    /// sums over `outChannels`, loaded and stored around every chunk, fill at most a quarter of L2.
    func tileWeightGradientRows(outChannels: Int) -> Int {
        Swift.max(32, (l2 / 4) / Swift.max(4 * outChannels, 1) / 32 * 32)
    }
}
