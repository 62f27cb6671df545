// The weight gradient of the tile arithmetic (BFloat16Arithmetic.tiles) on the AMX kernel of
// Sources/CDiceKitKernels/convolution/conv_amx.c:
//
//   dW[k][co] = Σ over samples and grid positions p of X₁₆[p][k] · dY₁₆[p][co]
//
// with each sample's padded bfloat16 input transposed to channel-major rows over its padded grid
// (dk_bf16_transpose_grid: the 16 kernel rows of a tile are then 16 channels, one row apart) and
// its output gradient rounded onto the same grid in pairs of positions, zero off the output grid
// (dk_bf16_pack_gradient_grid). The reduction runs over the grid, not the output positions: the
// padded columns add products with a zero gradient.
//
// Work split: the samples' copies are made in parallel, each worker rounding and padding its
// samples one at a time into its own buffer; then dW is split into blocks of kernel
// rows (TileWeightGradientPlan: pairs of 16-row blocks whose Float sums fit a quarter of L2, at
// least one block per worker; with fewer row pairs than workers, pairs of 16-channel blocks too),
// dealt to the workers. Each block runs over the batch in chunks of grid positions sized to stay
// in L2 while the block's tiles re-read them (ConvBlocking.tileWeightGradientChunk). Each element
// of dW sums the samples in order, each over its grid in order, whatever the blocks and chunks:
// the same bits on every run, for every worker count and cache size. When the copies of the
// whole batch would not fit the workspace bound (large images, volumes), the batch runs in
// groups of samples, in order, each group's sums added to the previous groups' (a group's end
// is one more chunk boundary, so the bits are the same: `tileWeightGradientGroup`).

internal import CDiceKitKernels

extension ConvGeometry {
    /// dW = Σ over the batch on tiles, from the padded source `padded` (rounded and padded here)
    /// and the Float output gradient `dy`, in groups of samples whose copies fit `limit` bytes
    /// (`tileWeightGradientGroup`).
    func tileWeightGradient(
        _ g: dk_conv_geometry, padded: PaddedSource, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>,
        workers: Int, limit: Int
    ) {
        withUnsafePointer(to: g) { gp in
            let xtStride = inChannels * dk_conv_tile_transpose_row(gp)
            let dygStride = dk_conv_tile_grid_length(gp) * outChannels
            let group = tileWeightGradientGroup(g, padded: padded, workers: workers, limit: limit).samples
            let copiers = Swift.min(workers, group)
            let paddedStride = padded.sampleCount + padded.slack
            let xp = UnsafeMutablePointer<UInt16>.allocate(capacity: copiers * paddedStride)
            let xt = UnsafeMutablePointer<UInt16>.allocate(capacity: group * xtStride)
            let dyg = UnsafeMutablePointer<UInt16>.allocate(capacity: group * dygStride)
            defer {
                xp.deallocate()
                xt.deallocate()
                dyg.deallocate()
            }
            for c in 0..<copiers {
                (xp + c * paddedStride + padded.sampleCount).initialize(repeating: 0, count: padded.slack)
            }
            let (batch, ySample) = (self.batch, outputPixels * outChannels)
            let plan = TileWeightGradientPlan(
                rowBlocks: patch / 16, channelBlocks: outChannels / 16, workers: workers,
                rowsPerBlock: ConvBlocking.current.tileWeightGradientRows(outChannels: outChannels))
            let span = (Int(g.kd) - 1) * g.hp * g.wp + (Int(g.kh) - 1) * g.wp + Int(g.kw) - 1
            let chunk = ConvBlocking.current.tileWeightGradientChunk(
                inChannels: inChannels, outChannels: outChannels, span: span)
            let count = Swift.min(workers, plan.tasks.count)
            // Each copier pads into its own buffer and writes its samples' copies; then each task
            // its own block of dW.
            let shared = TaskShared((gp, padded, xp, dy, xt, dyg, dW))
            for first in Swift.stride(from: 0, to: batch, by: group) {
                let samples = Swift.min(group, batch - first)
                let used = Swift.min(copiers, samples)
                runWorkers(used) { worker in
                    let (gp, padded, xp, dy, xt, dyg, _) = shared.buffers
                    let own = xp + worker * paddedStride
                    for i in Swift.stride(from: worker, to: samples, by: used) {
                        padded.padBFloat16(sample: first + i, into: own)
                        dk_bf16_transpose_grid(gp, own, xt + i * xtStride)
                        dk_bf16_pack_gradient_grid(gp, dy + (first + i) * ySample, dyg + i * dygStride)
                    }
                }
                runWorkers(count) { worker in
                    let (gp, _, _, _, xt, dyg, dW) = shared.buffers
                    for task in Swift.stride(from: worker, to: plan.tasks.count, by: count) {
                        let (rows, channels) = plan.tasks[task]
                        dk_conv_weight_grad_tiles(
                            gp, xt, xtStride, dyg, dygStride, samples, dW, rows.lowerBound, rows.upperBound,
                            channels.lowerBound, channels.upperBound, chunk, first > 0 ? 1 : 0)
                    }
                }
            }
        }
    }

    /// Samples per group of the tile weight gradient of `g` over `padded` on `workers` workers,
    /// and the bfloat16 elements it then holds: a padded sample per copier, and each sample's
    /// channel-major transpose and gradient on the grid. The whole batch when that fits `limit`
    /// bytes, else as many samples as do (at least one: `elements` then says by how much the
    /// bound is exceeded, and `ConvGeometry.directWorkspace` sends the pass elsewhere).
    func tileWeightGradientGroup(
        _ g: dk_conv_geometry, padded: PaddedSource, workers: Int, limit: Int
    ) -> (samples: Int, elements: Int) {
        let perSample = withUnsafePointer(to: g) {
            inChannels * dk_conv_tile_transpose_row($0) + dk_conv_tile_grid_length($0) * outChannels
        }
        let copy = padded.sampleCount + padded.slack
        let elements = { (samples: Int) in Swift.min(workers, samples) * copy + samples * perSample }
        let budget = limit / MemoryLayout<UInt16>.size
        guard elements(batch) > budget else { return (batch, elements(batch)) }
        // With at least `workers` samples a group holds `workers` padded samples, else one each.
        let many = (budget - workers * copy) / perSample
        let samples = many >= workers ? many : Swift.max(1, budget / (copy + perSample))
        return (samples, elements(samples))
    }
}

/// The blocks of dW that the AMX weight gradient's tasks own: ranges of 16-row blocks × ranges of
/// 16-channel blocks, each range starting on a pair (the tile kernel's 2 × 2 blocks).
struct TileWeightGradientPlan {
    /// Each task's row blocks and channel blocks; together they cover dW once.
    let tasks: [(rows: Range<Int>, channels: Range<Int>)]

    /// Blocks of at most `rowsPerBlock` kernel rows (a multiple of 32) over every channel, at least
    /// one per worker where the row pairs allow, as many per worker as the rows need; with fewer
    /// row pairs than workers, the channel pairs are split too.
    init(rowBlocks: Int, channelBlocks: Int, workers: Int, rowsPerBlock: Int) {
        let rowPairs = (rowBlocks + 1) / 2
        let channelPairs = (channelBlocks + 1) / 2
        let workers = Swift.max(workers, 1)
        let pairsPerBlock = Swift.max(1, rowsPerBlock / 32)
        // Whole rounds of the workers, each block within the L2 budget.
        let needed = (rowPairs + pairsPerBlock - 1) / pairsPerBlock
        let rowTasks = Swift.min(rowPairs, (needed + workers - 1) / workers * workers)
        let channelTasks = rowTasks < workers ? Swift.min(channelPairs, (workers + rowTasks - 1) / rowTasks) : 1
        var tasks: [(rows: Range<Int>, channels: Range<Int>)] = []
        for r in 0..<rowTasks {
            let rows = (2 * (rowPairs * r / rowTasks))..<Swift.min(rowBlocks, 2 * (rowPairs * (r + 1) / rowTasks))
            for c in 0..<channelTasks {
                let first = 2 * (channelPairs * c / channelTasks)
                let channels = first..<Swift.min(channelBlocks, 2 * (channelPairs * (c + 1) / channelTasks))
                tasks.append((rows, channels))
            }
        }
        self.tasks = tasks
    }
}
