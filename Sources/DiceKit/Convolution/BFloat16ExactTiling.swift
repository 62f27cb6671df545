// The bfloat16 path of an exact tiling (ExactTiling.swift: a U-Net's 2×2 or 2×2×2 stride-2
// up-sampling, kernel = stride, no padding): each lowered row is one y pixel or voxel and its
// patch is a disjoint kd × kh × kw block of x, so every pass is a plain matrix product over the
// N·OD·OH·OW rows and runs on the 1×1 forms of the AVX512-BF16 kernels of conv_bf16.c, or with the
// tile arithmetic on those of the AMX kernels of conv_amx.c (operands rounded to bfloat16, to
// nearest, ties to even; Float accumulation; results in Float). With P = rows, K = patch
// (kd·kh·kw·C, C the x-space channels) and Co = the y-space channels:
//
//   transposed forward   col[P × K] = dy₁₆[P × Co] · W₁₆ᵀ[Co × K], stored once per x pixel with
//                        the bias (scatterTiles), the lowered input-gradient pass; with C a
//                        multiple of 16, one 1×1 pass over dy's grid whose stores scatter
//                        (dk_conv_geometry.ud/uh/uw) and add the bias after the sum: the same
//                        bits, with no Float tile between
//   transposed backward  y[P × Co]  = col(x)₁₆[P × K] · W₁₆[K × Co]        (its input gradient)
//                        dW[K × Co] = Σ col(x)₁₆ᵀ · dy₁₆, over pairs of rows (its weight gradient)
//
// where col(x) gathers each row's block of x, rounded to bfloat16 on the way, and dy comes as
// Float values or, for a kept activation, as its bfloat16 bits (`TilingGradient`), which the
// dot products' weight gradient pairs as they are. The reduction
// lengths are Co (transposed forward), K (input gradient) and P (weight gradient); the bound of
// BFloat16Convolution.swift applies with those K.
//
// Work split: chunks of rows whose bfloat16 copies (about 128 KiB) stay in cache while the
// kernels read them, sized from the geometry. The forward's chunks are dealt to the workers and
// write disjoint x pixels (the scattered pass's (sample, chunk) tasks: those of every bfloat16
// forward pass, `bfloat16Forward`). The backward's chunks are grouped into min(4, chunks) partial weight
// gradients over fixed runs of chunks, added in order at the end; or, where those partials
// would move more bytes than the rows (a large kernel over few rows: the deepest up-samplings),
// the chunks only pack their rows and the weight gradient runs once over the whole batch, in
// tasks that own blocks of dW. Either way the bits depend on the geometry only, not on the
// worker count.

internal import CDiceKitKernels

extension ConvGeometry {
    /// Whether `pass` runs on the bfloat16 kernels as an exact tiling: precision `.bfloat16`, a
    /// CPU with a bfloat16 level in use, a 2-D or 3-D geometry that `tilesExactly`, K and Co in
    /// multiples of 16, and either the transposed forward (dy → dx) or the transposed backward
    /// (x, dy → y and dW) alone.
    func runsBFloat16Tiling<T: BLASScalar>(_ pass: LoweredPass<T>, settings: ConvolutionSettings) -> Bool {
        guard settings.precision == .bfloat16, T.precision == .single, ComputePrecision.bfloat16Available,
            tilesExactly, patch % 16 == 0, outChannels % 16 == 0
        else { return false }
        let transposedForward = pass.dx != nil && pass.x == nil && pass.y == nil && pass.weightGradient == nil
        let transposedBackward = pass.dx == nil && pass.x != nil && (pass.dy != nil || pass.dyRounded != nil)
        return transposedForward || transposedBackward
    }

    /// Runs a pass that `runsBFloat16Tiling` accepted: on the AMX tile kernels with `tiles`, else
    /// on the AVX512-BF16 ones.
    func runBFloat16Tiling(_ pass: LoweredPass<Float>, settings: ConvolutionSettings, tiles: Bool = false) {
        let workers = Swift.max(1, settings.workers ?? Parallelism.threadCount)
        if let dx = pass.dx, let dy = pass.dy {
            let cache = pass.bfloat16Weights ?? BFloat16WeightCache()
            if inChannels % 16 == 0 {
                bfloat16ScatteredForward(
                    weight: pass.weight, cache: cache, dy: dy, fill: pass.dxFill, dx: dx, settings: settings,
                    workers: workers, tiles: tiles)
            } else {
                bfloat16TilingForward(
                    weight: pass.weight, cache: cache, dy: dy, fill: pass.dxFill, dx: dx, workers: workers,
                    tiles: tiles)
            }
        } else if let x = pass.x, let dy = TilingGradient(pass) {
            bfloat16TilingBackward(pass, x: x, dy: dy, workers: workers, tiles: tiles)
        }
        if let db = pass.biasGradient, let dy = pass.dy {
            db.update(repeating: 0, count: outChannels)
            addChannelRows(dy, count: outputRows * outChannels, into: db, width: outChannels)
        }
    }

    /// Rows per chunk: an even count whose pair-packed bfloat16 rows (4·K bytes each) fill
    /// about 128 KiB, from 32 to 1024 and at most the rows there are.
    private var tilingChunk: Int {
        Swift.min(outputRows, Swift.max(32, Swift.min(1024, (1 << 15) / patch)) / 2 * 2)
    }

    /// Rows of zeroed slack after a chunk's bfloat16 rows, which the tile kernel may read past
    /// the last (DK_CONV_SLACK_POSITIONS).
    private static var tileSlack: Int { Int(DK_CONV_SLACK_POSITIONS) }

    /// The 1×1 geometry of a product over `rows` consecutive rows with `cin` reduced channels
    /// and `cout` results per row.
    private func rowGeometry(rows: Int, cin: Int, cout: Int) -> dk_conv_geometry {
        var g = dk_conv_geometry(hp: 1, wp: rows, output: [1, 1, rows], kernel: [1, 1, 1], cin: cin, cout: cout)
        // The tile forward pass groups its output channels by it (conv_amx_kernel.h).
        g.weight_block = ConvBlocking.current.weightBlock
        return g
    }

    /// Writes rows [r0, r1) of col(x) [P × K], rounded to bfloat16, to `col` (`patch` elements
    /// per row): for each line of y and kernel plane and row (a, b), one strided conversion of
    /// its rows' runs of kw·C consecutive x scalars.
    private func gatherBFloat16Tiles(
        _ x: UnsafePointer<Float>, rows: Range<Int>, into col: UnsafeMutablePointer<UInt16>
    ) {
        let (kd, kh, kw, channels) = (kernel[0], kernel[1], kernel[2], inChannels)
        let (inD, inH, inW) = (input[0], input[1], input[2])
        let (od, oh, ow) = (output[0], output[1], output[2])
        let run = kw * channels
        var p = rows.lowerBound
        while p < rows.upperBound {
            let (n, rest) = (p / (od * oh * ow), p % (od * oh * ow))
            let (zz, yy, xx) = (rest / (oh * ow), rest / ow % oh, rest % ow)
            let count = Swift.min(rows.upperBound - p, ow - xx)
            for a in 0..<kd {
                for b in 0..<kh {
                    let line = x + (((n * inD + zz * kd + a) * inH + yy * kh + b) * inW + xx * kw) * channels
                    let target = col + (p - rows.lowerBound) * patch + (a * kh + b) * run
                    dk_f32_to_bf16_runs(line, target, count, run, patch)
                }
            }
            p += count
        }
    }

    /// The packing of Wᵀ [Co × K] that the transposed forward pass reads, as `cache` keeps it:
    /// row pairs, the flipped packing of W [K × Co] read as a one-tap kernel.
    private func transposedRowsPacking(
        weight: UnsafePointer<Float>, cache: BFloat16WeightCache, workers: Int, tiles: Bool
    ) -> [UInt16] {
        var wg = rowGeometry(rows: 1, cin: patch, cout: outChannels)
        let packing = BFloat16WeightCache.Packing.transposedRows(tiles: tiles)
        return cache.packed(packing, count: patch * outChannels) {
            packing.pack(&wg, weight, into: $0, workers: workers)
        }
    }

    /// dx = fill + the transposed convolution of dy with a scattered output (dk_conv_geometry.
    /// ud/uh/uw, as the Float pass of DirectUpsampling.swift), on the AMX tile kernels with
    /// `tiles`, else on the AVX512-BF16 ones: a 1×1 forward pass over dy's grid with Co input and
    /// K output columns, whose stores put each 16-channel vector at its x pixel and add the fill
    /// after the sum, as `scatterTiles` does: the same bits as the chunked path below, without
    /// its Float tile. dy is rounded into the padded copies of `bfloat16Forward`, which deals
    /// (sample, chunk) tasks to every worker however few rows there are. The x-space channels are
    /// a multiple of 16.
    private func bfloat16ScatteredForward(
        weight: UnsafePointer<Float>, cache: BFloat16WeightCache, dy: UnsafePointer<Float>,
        fill: UnsafePointer<Float>?, dx: UnsafeMutablePointer<Float>, settings: ConvolutionSettings, workers: Int,
        tiles: Bool
    ) {
        scatteredForward(
            weight: weight, cache: cache, input: scatteredInput(source: dy), fill: fill,
            output: UnsafeMutableRawPointer(dx), storesBits: false, settings: settings, workers: workers, tiles: tiles)
    }

    /// Whether a transposed convolution's forward pass may read its input as bfloat16 bits and
    /// store its output as them (`bitsForward`): it runs as the scattered pass on the dot-product
    /// or tile kernels (the x-space channels a multiple of 16), which round the input and could
    /// round the output in their stores.
    func transposedForwardTakesBits(settings: ConvolutionSettings) -> Bool {
        BFloat16Arithmetic.current != .roundedOperands && inChannels % 16 == 0
            && transposedForwardRoundsInput(settings: settings)
    }

    /// The scattered transposed forward pass (`bfloat16ScatteredForward`) of an input given as
    /// Float values (`dy`) or as bfloat16 bits (`dyBits`), its output stored as Float values or,
    /// with `storesBits`, as their bfloat16 bits (round_output: the bits of rounding the Float
    /// output) at `output` (precondition: `transposedForwardTakesBits`). The same bits as the
    /// pass on Float tensors.
    func bitsForward(
        weight: UnsafePointer<Float>, cache: BFloat16WeightCache, dy: UnsafePointer<Float>?,
        dyBits: UnsafePointer<UInt16>?, fill: UnsafePointer<Float>?, output: UnsafeMutableRawPointer,
        storesBits: Bool, settings: ConvolutionSettings
    ) {
        precondition(
            transposedForwardTakesBits(settings: settings), "up-sampling: bits for a pass that does not take them")
        let input =
            if let dyBits {
                PaddedSource(
                    rounded: dyBits, batch: batch, inner: self.output, channels: outChannels, before: [0, 0, 0],
                    after: [0, 0, 0], kernelWidth: 1)
            } else {
                scatteredInput(source: dy!)
            }
        scatteredForward(
            weight: weight, cache: cache, input: input, fill: fill, output: output, storesBits: storesBits,
            settings: settings, workers: Swift.max(1, settings.workers ?? Parallelism.threadCount),
            tiles: BFloat16Arithmetic.current == .tiles)
    }

    /// dy as the scattered pass reads it: unpadded, one position per row of the 1×1 pass.
    private func scatteredInput(source dy: UnsafePointer<Float>) -> PaddedSource {
        PaddedSource(
            source: dy, batch: batch, inner: output, channels: outChannels, before: [0, 0, 0], after: [0, 0, 0],
            kernelWidth: 1)
    }

    /// The scattered pass of `input`, its output stored at `output` as Floats or, with
    /// `storesBits`, as bfloat16 bits.
    private func scatteredForward(
        weight: UnsafePointer<Float>, cache: BFloat16WeightCache, input: PaddedSource, fill: UnsafePointer<Float>?,
        output: UnsafeMutableRawPointer, storesBits: Bool, settings: ConvolutionSettings, workers: Int, tiles: Bool
    ) {
        var padded = input
        padded.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<UInt16>.size)
        var g = scatteredGeometry
        g.round_output = storesBits ? 1 : 0
        let bias = scatteredFill(fill)
        let scalarSize = storesBits ? MemoryLayout<UInt16>.size : MemoryLayout<Float>.size
        let packed = transposedRowsPacking(weight: weight, cache: cache, workers: workers, tiles: tiles)
        packed.withUnsafeBufferPointer { wp in
            withOptionalPointer(bias) { bias in
                bfloat16Forward(
                    g, padded: padded, weight: wp.baseAddress!, bias: bias, y: output,
                    outputSampleBytes: inputPixels * inChannels * scalarSize, workers: workers, tiles: tiles)
            }
        }
    }

    /// dx = fill + the transposed convolution of dy, chunk by chunk: each chunk's dy rows rounded,
    /// multiplied by the packed Wᵀ into a Float tile, and stored once per x pixel. The packing is
    /// the one `cache` keeps (made on the first call with this kernel: inference and validation
    /// call an up-sampling many times with one kernel).
    private func bfloat16TilingForward(
        weight: UnsafePointer<Float>, cache: BFloat16WeightCache, dy: UnsafePointer<Float>,
        fill: UnsafePointer<Float>?, dx: UnsafeMutablePointer<Float>, workers: Int, tiles: Bool
    ) {
        let (patch, outChannels, total) = (self.patch, self.outChannels, outputRows)
        let packed = transposedRowsPacking(weight: weight, cache: cache, workers: workers, tiles: tiles)
        let chunk = tilingChunk
        let chunks = (total + chunk - 1) / chunk
        let count = Swift.min(workers, chunks)
        packed.withUnsafeBufferPointer { wp in
            // Each chunk writes the x pixels of its own rows only.
            let shared = TaskShared((self, wp.baseAddress!, dy, fill, dx))
            runWorkers(count) { worker in
                let (geometry, wp, dy, fill, dx) = shared.buffers
                // The tile kernel's read-ahead past the last row: zeroed slack.
                let rounded = UnsafeMutablePointer<UInt16>.allocate(capacity: (chunk + Self.tileSlack) * outChannels)
                (rounded + chunk * outChannels).initialize(repeating: 0, count: Self.tileSlack * outChannels)
                let tile = UnsafeMutablePointer<Float>.allocate(capacity: chunk * patch)
                defer {
                    rounded.deallocate()
                    tile.deallocate()
                }
                for c in Swift.stride(from: worker, to: chunks, by: count) {
                    let rows = (c * chunk)..<Swift.min(total, (c + 1) * chunk)
                    dk_f32_to_bf16(dy + rows.lowerBound * outChannels, rounded, rows.count * outChannels)
                    var g = geometry.rowGeometry(rows: rows.count, cin: outChannels, cout: patch)
                    runBFloat16ForwardKernel(tiles, &g, rounded, wp, nil, tile, 0, rows.count)
                    geometry.scatterTiles(UnsafePointer(tile), rows: rows, fill: fill, into: dx)
                }
            }
        }
    }

    /// y = col(x) · W (when asked) and dW = Σ col(x)ᵀ · dy, from one gather of each chunk: the
    /// chunks run in min(4, chunks) partials over fixed runs of chunks, added in order at the end.
    private func bfloat16TilingBackward(
        _ pass: LoweredPass<Float>, x: UnsafePointer<Float>, dy: TilingGradient, workers: Int, tiles: Bool
    ) {
        let (patch, outChannels, total) = (self.patch, self.outChannels, outputRows)
        let weightCount = patch * outChannels
        var wg = rowGeometry(rows: 1, cin: patch, cout: outChannels)
        // Packed only for y: an empty array's buffer may still have an address (the shared
        // empty storage), which must never be written.
        let packed = [UInt16](unsafeUninitializedCapacity: pass.y == nil ? 0 : weightCount) { buffer, initialized in
            if pass.y != nil, let base = buffer.baseAddress {
                BFloat16WeightCache.Packing(flipped: false, tiles: tiles)
                    .pack(&wg, pass.weight, into: base, workers: workers)
            }
            initialized = buffer.count
        }
        let chunk = tilingChunk
        let chunks = (total + chunk - 1) / chunk
        // With the whole batch, the chunks only pack their rows (dealt one by one), and the
        // product runs once over every row (`wholeBatchWeightGradient`).
        let whole = pass.weightGradient != nil && !tiles && runsWholeBatchWeightGradient(chunks: chunks)
        let partials = pass.weightGradient == nil || whole ? chunks : Swift.min(4, chunks)
        let sums = UnsafeMutablePointer<Float>.allocate(
            capacity: pass.weightGradient == nil || whole ? 0 : partials * weightCount)
        defer { sums.deallocate() }
        if pass.weightGradient != nil && !whole { sums.initialize(repeating: 0, count: partials * weightCount) }
        // Pair-packed rows of col(x) and of dy for the whole batch (chunks start at even rows).
        let xqAll = UnsafeMutablePointer<UInt16>.allocate(capacity: whole ? 2 * total * patch : 0)
        let dypAll = UnsafeMutablePointer<UInt16>.allocate(capacity: whole ? (total + 1) / 2 * 2 * outChannels : 0)
        defer {
            xqAll.deallocate()
            dypAll.deallocate()
        }
        let count = Swift.min(workers, partials)
        packed.withUnsafeBufferPointer { wp in
            // Each partial writes its own accumulator in `sums` and the y rows of its own chunks.
            let shared = TaskShared(
                (self, pass.y == nil ? nil : wp.baseAddress, x, dy, pass.y, pass.weightGradient != nil, sums))
            let wholeBuffers = TaskShared((whole, xqAll, dypAll))
            runWorkers(count) { worker in
                let (geometry, wp, x, dy, y, weightGradient, sums) = shared.buffers
                let (whole, xqAll, dypAll) = wholeBuffers.buffers
                let col = UnsafeMutablePointer<UInt16>.allocate(capacity: (chunk + Self.tileSlack) * patch)
                (col + chunk * patch).initialize(repeating: 0, count: Self.tileSlack * patch)
                // Pair-packed rows, or with the tiles the transposed rows and the gradient in pairs
                // of rows up to a multiple of 32 (dk_conv_tile_transpose_row, dk_conv_tile_grid_length).
                let pairs = UnsafeMutablePointer<UInt16>.allocate(
                    capacity: weightGradient ? Swift.max(2 * chunk, chunk + Self.tileSlack) * patch : 0)
                let dyp = UnsafeMutablePointer<UInt16>.allocate(
                    capacity: weightGradient ? (chunk + Self.tileSlack) * outChannels : 0)
                defer {
                    col.deallocate()
                    pairs.deallocate()
                    dyp.deallocate()
                }
                for p in Swift.stride(from: worker, to: partials, by: count) {
                    for c in (chunks * p / partials)..<(chunks * (p + 1) / partials) {
                        let rows = (c * chunk)..<Swift.min(total, (c + 1) * chunk)
                        geometry.gatherBFloat16Tiles(x, rows: rows, into: col)
                        if let y = y, let wp = wp {
                            var g = geometry.rowGeometry(rows: rows.count, cin: patch, cout: outChannels)
                            runBFloat16ForwardKernel(
                                tiles, &g, col, wp, nil, y + rows.lowerBound * outChannels, 0, rows.count)
                        }
                        if weightGradient && tiles {
                            var g = geometry.rowGeometry(rows: rows.count, cin: patch, cout: outChannels)
                            dk_bf16_transpose_grid(&g, col, pairs)
                            dy.packGrid(&g, from: rows.lowerBound * outChannels, into: dyp)
                            dk_conv_weight_grad_tiles(
                                &g, pairs, 0, dyp, 0, 1, sums + p * weightCount, 0, patch / 16, 0, outChannels / 16,
                                0, 1)
                        } else if weightGradient && whole {
                            var g = geometry.rowGeometry(rows: rows.count, cin: patch, cout: outChannels)
                            dk_bf16_pack_pairs(&g, col, xqAll + 2 * rows.lowerBound * patch, rows.count)
                            dy.pack(
                                &g, from: rows.lowerBound * outChannels, into: dypAll + rows.lowerBound * outChannels)
                        } else if weightGradient {
                            var g = geometry.rowGeometry(rows: rows.count, cin: patch, cout: outChannels)
                            dk_bf16_pack_pairs(&g, col, pairs, rows.count)
                            dy.pack(&g, from: rows.lowerBound * outChannels, into: dyp)
                            dk_conv_weight_grad_bf16(
                                &g, pairs, 0, dyp, 0, 1, sums + p * weightCount, 0, patch, 0, Int32(outChannels), 1)
                        }
                    }
                }
            }
        }
        if let dW = pass.weightGradient, whole {
            wholeBatchWeightGradient(xq: xqAll, dyp: dypAll, dW: dW, workers: workers)
        } else if let dW = pass.weightGradient {
            dW.update(from: sums, count: weightCount)
            for p in 1..<partials { addElements(sums + p * weightCount, dW, weightCount) }
        }
    }

    /// Whether the weight gradient of an exact tiling in `chunks` chunks runs over the whole
    /// batch at once: when the chunks' partial sums would move more bytes (each chunk reads and
    /// writes its partial, 8 bytes per weight) than packing every row does (a U-Net's deepest
    /// up-samplings: 8² with 512 channels has a 2 MiB kernel gradient and 512 rows). Decided
    /// from the geometry alone, so the bits do not depend on the worker count.
    private func runsWholeBatchWeightGradient(chunks: Int) -> Bool {
        chunks * patch * outChannels * 8 > outputRows * (2 * patch + outChannels) * 4
    }

    /// dW = col(x)₁₆ᵀ · dy₁₆ over every row at once, from the pair-packed rows of the batch read
    /// as one sample of a one-line geometry, by the tasks of `bfloat16WeightGradientTasks` (the
    /// accumulators in registers across all rows: no partial sums, no zeroing).
    private func wholeBatchWeightGradient(
        xq: UnsafePointer<UInt16>, dyp: UnsafePointer<UInt16>, dW: UnsafeMutablePointer<Float>, workers: Int
    ) {
        withUnsafePointer(to: rowGeometry(rows: outputRows, cin: patch, cout: outChannels)) { gp in
            bfloat16WeightGradientTasks(
                gp, xq: xq, xqStride: 0, dyp: dyp, dyStride: 0, samples: 1, dW: dW, workers: workers)
        }
    }
}

/// The dy of a transposed backward pass on the exact tiling (its input, the transposed
/// convolution's): Float values, or their bfloat16 bits (`LoweredPass.dyRounded`, a kept
/// activation), which the weight gradient packs as they are (the same pairs).
enum TilingGradient {
    case values(UnsafePointer<Float>)
    case bits(UnsafePointer<UInt16>)

    /// The pass's dy, as it was given; nil without one.
    init?(_ pass: LoweredPass<Float>) {
        if let dy = pass.dy {
            self = .values(dy)
        } else if let bits = pass.dyRounded {
            self = .bits(bits)
        } else {
            return nil
        }
    }

    /// Packs g's rows of dy from element `offset` on in pairs of rows (dk_bf16_pack_gradient, or
    /// dk_bf16_pack_gradient_bits for bits: the same pairs).
    func pack(_ g: UnsafePointer<dk_conv_geometry>, from offset: Int, into dyp: UnsafeMutablePointer<UInt16>) {
        switch self {
        case .values(let dy): dk_bf16_pack_gradient(g, dy + offset, dyp)
        case .bits(let dy): dk_bf16_pack_gradient_bits(g, dy + offset, dyp)
        }
    }

    /// Packs one chunk's rows of dy from element `offset` on, on the padded grid of g, for the
    /// tile weight gradient (dk_bf16_pack_gradient_grid, or dk_bf16_pack_gradient_grid_bits for
    /// bits: the same pairs).
    func packGrid(_ g: UnsafePointer<dk_conv_geometry>, from offset: Int, into dyg: UnsafeMutablePointer<UInt16>) {
        switch self {
        case .values(let dy): dk_bf16_pack_gradient_grid(g, dy + offset, dyg)
        case .bits(let dy): dk_bf16_pack_gradient_grid_bits(g, dy + offset, dyg)
        }
    }
}
