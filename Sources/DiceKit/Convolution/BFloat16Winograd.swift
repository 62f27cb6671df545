// The bfloat16 precision's forward passes and input gradients as Winograd F(2×2, 3×3) (and
// F(2×2×2, 3×3×3)) with bfloat16 products, in the dot-product arithmetic
// (BFloat16Convolution.swift tries them first; conv_winograd_bf16.c):
//
//   V = Bᵀ d₁₆ B in Float from the padded input rounded to bfloat16 (to nearest, ties to even;
//   or the bfloat16 bits it was handed over as), U = G g Gᵀ in Float from the Float kernel, both
//   rounded to bfloat16; M = Σ over ci of V₁₆ ⊙ U₁₆ summed in Float (vdpbf16ps); y = Aᵀ M A
//   (+ bias) in Float, stored as Floats or as bfloat16 bits.
//
// The input is read only through its rounding, as the dot-product kernels read it (so a layer
// may keep or hand over its input as bfloat16 bits and get the same bits). With u = 2⁻⁸ the
// rounded V is within (2u + u²)·|Bᵀ||d||B| of the exact one and U within u·|G||g||Gᵀ|, so a
// product within (3u + 3u² + u³) of the product of those magnitudes; the output transform adds
// such sums with ±1 coefficients. Docs/Convolution.md, "bfloat16 products", states the bound the
// tests hold it to and the error measured against the direct bfloat16 kernels'.
//
// Only the passes whose channels repay the transforms (`Winograd.qualifiesBFloat16`: 32 and up).
// The forward pass keeps its rounded transformed kernel in the convolution's cache
// (`.winogradBFloat16`); the Float packing and transform it is made from are made for that and
// dropped. The input gradient reads that one transposed (`WinogradForwardKernel`): flipping the
// taps swaps G's rows 0 and 3, so the flipped kernel's transform is the forward one's with its
// channels transposed and element (a, b) taken from (σ(a), σ(b)), σ swapping 0 and 3, the same
// bits (dk_conv_winograd_transpose_kernel_bf16).
//
// The weight gradient (2-D, 64 channels and up: `Winograd.qualifiesBFloat16WeightGradient`) runs
// the map backwards: dU[ξ] = Σ over tiles of V₁₆[ξ]ᵀ · dM₁₆[ξ], V from the input rounded as
// above, dM = A dy₁₆ Aᵀ from dy rounded as it is read, both rounded and paired along the tiles
// for vdpbf16ps (conv_winograd_bf16_weight.c), then dW = Gᵀ dU G in Float; each sum runs over
// the batch's tiles in order, so its bits do not depend on the worker count, as the dot-product
// kernels' do not.

internal import CDiceKitKernels

extension ConvGeometry {
    /// The forward pass of `pass` (geometry `g` over `padded`) into `y` (Floats, or with
    /// `g.round_output` bfloat16 bits) as Winograd with bfloat16 products; false, having done
    /// nothing, where it does not run (`winogradForward`).
    func bfloat16WinogradForward(
        _ g: dk_conv_geometry, padded: PaddedSource, pass: LoweredPass<Float>, y: UnsafeMutableRawPointer,
        workers: Int, settings: ConvolutionSettings
    ) -> Bool {
        guard settings.allowsWinograd else { return false }
        var padded = padded
        padded.roundsToBFloat16 = true
        return winogradForward(
            g, padded: padded,
            packedKernel: { withPackedKernel(g, pass, roundsOperands: false, keeps: false, $0) },
            bias: pass.bias, y: y, outputSample: outputPixels * outChannels, workers: workers,
            workspaceLimit: settings.workspaceLimit, cache: pass.bfloat16Weights,
            products: .bfloat16)
    }

    /// The input gradient of `pass` (geometry `g` over the padded dy, `sampleChannels` per part of
    /// dx) as the forward pass of the flipped kernel with bfloat16 products, `pass.dxFill` as its
    /// bias; false, having done nothing, where it does not run (`winogradForward`; fewer than
    /// `Winograd.uncachedBFloat16Tiles` tiles, for one). With the convolution's cache its
    /// transformed kernel is the forward pass's (geometry `forward`), kept there or made there as
    /// that pass makes it, transposed; without one it is made for this pass from the flipped
    /// kernel.
    func bfloat16WinogradInputGradient(
        _ g: dk_conv_geometry, forward: dk_conv_geometry, padded: PaddedSource, pass: LoweredPass<Float>,
        dx: UnsafeMutablePointer<Float>, sampleChannels: Int, workers: Int, settings: ConvolutionSettings
    ) -> Bool {
        guard settings.allowsWinograd else { return false }
        var padded = padded
        padded.roundsToBFloat16 = true
        let kept = pass.bfloat16Weights.map { cache in
            WinogradForwardKernel(cache: cache) {
                withPackedKernel(forward, pass, roundsOperands: false, keeps: false, $0)
            }
        }
        return winogradForward(
            g, padded: padded, packedKernel: { withFlippedKernel(pass, roundsOperands: false, $0) },
            bias: pass.dxFill, y: UnsafeMutableRawPointer(dx), outputSample: inputPixels * sampleChannels,
            workers: workers, workspaceLimit: settings.workspaceLimit, cache: nil, products: .bfloat16,
            transposing: kept)
    }
}

extension ConvGeometry {
    /// dW = the weight gradient of the pass of geometry `g` over `padded` (x) and `dy`, overwritten,
    /// as Winograd F(2×2, 3×3) with bfloat16 products: dU[ξ] = Σ over the batch's tiles of
    /// (Bᵀ x₁₆ B)₁₆[ξ]ᵀ · (A dy₁₆ Aᵀ)₁₆[ξ], summed in Float two tiles at a time (vdpbf16ps), then
    /// dW = Gᵀ dU G in Float. Block by block of the batch's tiles, the workers first transform and
    /// round equal runs of the block's tiles (`dk_conv_winograd_weight_pairs_bf16`), then add the
    /// block's products into dU, each element ξ and run of 64 input channels by one worker
    /// (`dk_conv_winograd_accumulate_bf16`): every sum runs over the tiles in order, in pairs of
    /// tiles 2k and 2k + 1 of the batch, so the bits do not depend on the worker count or the
    /// blocks. `tilesPerWorker` (even) sets the blocks' runs, by default from L2
    /// (`ConvBlocking.bfloat16WinogradWeightTiles`). Returns false, having done nothing, where the
    /// pass does not qualify (`Winograd.qualifiesBFloat16`) or the padded batch and the pass's
    /// buffers exceed the workspace bound.
    func bfloat16WinogradWeightGradient(
        _ g: dk_conv_geometry, padded: PaddedSource, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>,
        workers: Int, settings: ConvolutionSettings, tilesPerWorker: Int? = nil
    ) -> Bool {
        guard settings.allowsWinograd else { return false }
        var padded = padded
        padded.roundsToBFloat16 = true
        guard Winograd.qualifiesBFloat16WeightGradient(g, padded: padded) else { return false }
        let (cin, cout) = (Int(g.cin), Int(g.cout))
        let wg = winogradGeometry(g, padded: padded, outputSample: outputPixels * cout)
        let tiles = Winograd.tiles(wg, batch: padded.batch)
        guard tiles > 0 else { return false }
        let part =
            tilesPerWorker ?? ConvBlocking.current.bfloat16WinogradWeightTiles(inChannels: cin, outChannels: cout)
        precondition(part >= 2 && part % 2 == 0, "bfloat16WinogradWeightGradient: tiles per worker must be even")
        let count = Swift.max(1, Swift.min(workers, (tiles + part - 1) / part))
        let (block, transformed) = (part * count, 16 * cin * cout)
        let capacity = block / 2
        let pairFloats = 16 * capacity * (cin + cout)
        // The padded batch whole (no slabs here) beside dU and the pairs.
        let budget = settings.workspaceLimit - (transformed + pairFloats) * MemoryLayout<Float>.stride
        guard case .wholeBatch? = WinogradInput(wg, padded: padded, workers: count, budget: budget) else {
            return false
        }
        let du = Self.allocateAligned(transformed)
        let pairs = UnsafeMutableRawPointer.allocate(byteCount: pairFloats * 4, alignment: 64)
            .bindMemory(to: UInt32.self, capacity: pairFloats)
        defer {
            du.deallocate()
            pairs.deallocate()
        }
        // Work units of the products: an element ξ and a run of 64 input channels.
        let runs = (cin + 63) / 64
        let units = 16 * runs
        let (vp, dmp) = (pairs, pairs + 16 * capacity * cin)
        padded.withPaddedBatch(workers: workers) { xp in
            withUnsafePointer(to: wg) { gp in
                let shared = TaskShared((gp, xp, dy, vp, dmp, du))
                for first in Swift.stride(from: 0, to: tiles, by: block) {
                    let size = Swift.min(block, tiles - first)
                    runWorkers((size + part - 1) / part) { i in
                        let (gp, xp, dy, vp, dmp, _) = shared.buffers
                        let (lo, pair) = (i * part, i * part / 2)
                        dk_conv_winograd_weight_pairs_bf16(
                            gp, xp, dy, first + lo, Swift.min(part, size - lo), capacity, vp + pair * cin,
                            dmp + pair * cout)
                    }
                    let tasks = Swift.min(workers, units)
                    runWorkers(tasks) { task in
                        let (_, _, _, vp, dmp, du) = shared.buffers
                        for unit in (units * task / tasks)..<(units * (task + 1) / tasks) {
                            let (xi, run) = (unit / runs, unit % runs)
                            // The first block writes dU (not zeroed before: every unit's rows are its).
                            dk_conv_winograd_accumulate_bf16(
                                vp + xi * capacity * cin, dmp + xi * capacity * cout, cin, cout, (size + 1) / 2,
                                64 * run, Swift.min(cin, 64 * run + 64), first == 0 ? 1 : 0, du + xi * cin * cout)
                        }
                    }
                }
            }
        }
        weightFromTransform(du, kernelDepth: 1, cin: cin, cout: cout, into: dW)
        return true
    }
}
