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
// Work split: the samples' copies are made in parallel; then (pair of 16-row blocks, pair of
// 16-channel blocks) tasks, dealt to the workers, each own their block of dW and run through every
// sample. Each element of dW sums the samples in order, each over its grid in order, whatever
// the task: the same bits on every run and for every worker count.

internal import CDiceKitKernels

extension ConvGeometry {
    /// dW = Σ over the batch on tiles, from the padded bfloat16 batch `xp` (`padded.sampleCount`
    /// elements per sample) and the Float output gradient `dy`.
    func tileWeightGradient(
        _ g: dk_conv_geometry, padded: PaddedSource, xp: UnsafePointer<UInt16>, dy: UnsafePointer<Float>,
        dW: UnsafeMutablePointer<Float>, workers: Int
    ) {
        withUnsafePointer(to: g) { gp in
            let xtStride = inChannels * dk_conv_tile_transpose_row(gp)
            let dygStride = dk_conv_tile_grid_length(gp) * outChannels
            let xt = UnsafeMutablePointer<UInt16>.allocate(capacity: batch * xtStride)
            let dyg = UnsafeMutablePointer<UInt16>.allocate(capacity: batch * dygStride)
            defer {
                xt.deallocate()
                dyg.deallocate()
            }
            let (batch, ySample, sampleCount) = (self.batch, outputPixels * outChannels, padded.sampleCount)
            // Each worker writes the copies of its own samples; then each task its own block of dW.
            let shared = TaskShared((gp, xp, dy, xt, dyg, dW))
            let copiers = Swift.min(workers, batch)
            runWorkers(copiers) { worker in
                let (gp, xp, dy, xt, dyg, _) = shared.buffers
                for n in Swift.stride(from: worker, to: batch, by: copiers) {
                    dk_bf16_transpose_grid(gp, xp + n * sampleCount, xt + n * xtStride)
                    dk_bf16_pack_gradient_grid(gp, dy + n * ySample, dyg + n * dygStride)
                }
            }
            let rowPairs = (patch / 16 + 1) / 2
            let channelPairs = (outChannels / 16 + 1) / 2
            let (rowBlocks, channelBlocks) = (patch / 16, outChannels / 16)
            let tasks = rowPairs * channelPairs
            let count = Swift.min(workers, tasks)
            runWorkers(count) { worker in
                let (gp, _, _, xt, dyg, dW) = shared.buffers
                for task in Swift.stride(from: worker, to: tasks, by: count) {
                    let (r, c) = task.quotientAndRemainder(dividingBy: channelPairs)
                    dk_conv_weight_grad_tiles(
                        gp, xt, xtStride, dyg, dygStride, batch, dW, 2 * r, Swift.min(rowBlocks, 2 * r + 2), 2 * c,
                        Swift.min(channelBlocks, 2 * c + 2), 0)
                }
            }
        }
    }
}
