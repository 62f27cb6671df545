// Winograd F(2×2, 3×3) for the direct path's 3×3, stride-1 Float passes over 2-D inputs, and
// F(2×2×2, 3×3×3) for the 3×3×3 ones over 3-D inputs (DirectConvolution.swift: a convolution's
// forward pass, its input gradient, the forward pass of the flipped kernel over the padded dy,
// and its weight gradient, at the end of this file), at the AVX2 and AVX-512 levels
// (conv_winograd.c; the AVX-512 products in conv_winograd_avx512.c, the same bits).
//
// Each 2 × 2 block of outputs (a tile) reads a 4 × 4 window of the padded input; the window and
// the kernel are transformed (V = Bᵀ d B, U = G g Gᵀ), and the sum over input channels becomes 16
// products of [tiles × Cin] by [Cin × Cout] matrices, one per element of the 4 × 4 transform:
// 16 multiplications for 2 × 2 outputs and a channel pair where the direct kernels make 36. In
// 3-D a tile is 2 × 2 × 2 outputs, its window 4 × 4 × 4 positions, and its 64 products make 64
// multiplications where the direct kernels make 216. The
// kernel is transformed once per pass, in ranges of input channels on the worker pool; the batch
// is padded whole (`PaddedSource.withPaddedBatch`), and the workers take equal ranges of the
// batch's tiles, across samples, so that a small image's few tiles still fill the blocks. A
// batch whose padded copy would exceed the workspace bound is padded slab by slab by the workers
// instead (WinogradSlabs.swift). Where few tiles meet a large kernel (8² with 256 channels and
// more), the workers divide the transform's elements instead (WinogradElementSplit.swift).
//
// Bits: every output is a fixed sequence of operations on its own window and the transformed
// kernel, whatever the workers, blocks and samples: the same seed and the same thread count give
// the same bits, and so does any other thread count (the weight gradient's sums, as the direct
// kernels', depend on the worker count). They are not the direct kernels' bits
// (Docs/Convolution.md, "Winograd F(2×2, 3×3)", bounds the difference).

internal import CDiceKitKernels
import Foundation

/// Winograd F(2×2, 3×3) on the direct path: whether it runs, and when a pass repays its transforms.
enum Winograd {
    /// Whether the environment leaves it on: DICEKIT_WINOGRAD=0 turns it off for the process.
    static let allowedByEnvironment = ProcessInfo.processInfo.environment["DICEKIT_WINOGRAD"] != "0"

    /// Whether it runs in this process: the environment allows it and the level in use is AVX2 or AVX-512.
    static var runs: Bool { allowedByEnvironment && dk_conv_winograd_enabled() != 0 }

    /// The fewest tiles of a pass that transforms its kernel for itself (no convolution's cache
    /// to keep it: the input gradient's flipped kernel). Transforming a kernel writes 16 · Cin ·
    /// Cout floats, about the time the products of 20 tiles take on the Zen 3 of
    /// Docs/Benchmarks/AMD-Zen3.md, and each tile saves about half of its direct time: 64 tiles
    /// (an 8² image at batch 4) repay it with room to spare; fewer keep the direct kernels.
    static let uncachedTiles = 64

    /// `uncachedTiles` for bfloat16 products: the kernel's transform is rounded too, and the
    /// products run at twice the Float rate, so each tile repays less of it. On a Zen 4 the input
    /// gradient of 8² 512 → 512 at batch 8 (128 tiles) ran at 0.80× the dot-product kernels'
    /// speed, from which a pass breaks even at about 230 tiles; the 16² layers (512 tiles) ran
    /// 1.41–1.47×. Reading the forward pass's kept transform transposed instead
    /// (`WinogradForwardKernel`) left that layer at 0.90×: with so few tiles, streaming the
    /// transformed kernel (8 MB) outweighs the products.
    static let uncachedBFloat16Tiles = 256

    /// Whether a pass of geometry `g` (a forward pass's) over `padded` runs as Winograd
    /// F(2×2, 3×3) or F(2×2×2, 3×3×3), its forward pass or its weight gradient: the level in use
    /// is AVX2 or AVX-512, a 2-D 3×3 kernel (or a 3-D 3×3×3 one) of stride 1 over a padded input two
    /// positions taller and wider (and deeper) than an output of even extents, channels in
    /// multiples of 16, Float operands and outputs (or, with `roundedOperands`, the rounded-operand
    /// arithmetic's: the input rounded in the padded copy or given as bfloat16 bits, the output
    /// rounded to bfloat16 values with `g.round_output`), a plain output (not scattered, not a
    /// window of a larger one, no fused head).
    static func qualifies(_ g: dk_conv_geometry, padded: PaddedSource, roundedOperands: Bool = false) -> Bool {
        fits(g, padded: padded)
            && (roundedOperands || (g.round_output == 0 && padded.rounded == nil && !padded.roundsToBFloat16))
    }

    /// Whether a forward pass (or an input gradient) of geometry `g` over `padded` in the bfloat16
    /// precision's dot-product arithmetic runs as Winograd with bfloat16 products
    /// (`WinogradProducts.bfloat16`): as `qualifies`, but with its input read through its rounding
    /// to bfloat16 (`padded.roundsToBFloat16`, or given as bfloat16 bits), an output stored as
    /// bfloat16 bits (`g.round_output`) allowed, and channels enough that the products' time
    /// repays the transforms': Cin · Cout ≥ 16 · (Cin + Cout) (32 each, or 64 and 32). The
    /// products run at twice the Float rate there while the transforms do not. On a Zen 4 (in
    /// process against the dot-product kernels) the pass was 0.68× as fast at 16 channels and
    /// 1.23–1.46× from 64 to 256; at 32 it was level in the Swift layer while the workers padded
    /// the whole batch, and 1.11–1.16× once they padded slabs in cache (`WinogradSlabs`; forward
    /// pass and input gradient of 128² 32 → 32, alternated `dicekit-bench` runs). 2-D only: over
    /// volumes F(2×2×2, 3×3×3)'s longer transforms gave 1.6–16× the dot-product kernels'
    /// root-mean-square error there, where the 2-D pass gives 0.5–3.3× (Docs/Convolution.md,
    /// "bfloat16 products").
    static func qualifiesBFloat16(_ g: dk_conv_geometry, padded: PaddedSource) -> Bool {
        fits(g, padded: padded) && (padded.roundsToBFloat16 || padded.rounded != nil) && g.kd == 1
            && g.cin * g.cout >= 16 * (g.cin + g.cout)
    }

    /// Whether the weight gradient of a pass that `qualifiesBFloat16` runs as Winograd with
    /// bfloat16 products (`ConvGeometry.bfloat16WinogradWeightGradient`): only with Cin · Cout ≥
    /// 32 · (Cin + Cout) (64 channels each, or 48 and 96). On a Zen 4 it ran in the Swift layer
    /// at 0.47× the dot-product kernels' speed at 16 channels, 0.73× at 32 and 1.27–1.81× from 64 up.
    static func qualifiesBFloat16WeightGradient(_ g: dk_conv_geometry, padded: PaddedSource) -> Bool {
        qualifiesBFloat16(g, padded: padded) && g.cin * g.cout >= 32 * (g.cin + g.cout)
    }

    /// The shapes and operands both kinds of pass take: see `qualifies`.
    private static func fits(_ g: dk_conv_geometry, padded: PaddedSource) -> Bool {
        let plane = g.kd == 1 && g.od == 1 && padded.extents[0] == 1
        let volume = g.kd == 3 && g.od % 2 == 0 && padded.extents[0] == g.od + 2
        return runs && (plane || volume) && g.kh == 3
            && g.kw == 3 && g.sd <= 1 && g.sh <= 1 && g.sw <= 1 && g.ud == 0 && g.uh == 0 && g.uw == 0
            && g.yw == 0 && g.yh == 0 && g.head_classes == 0 && g.xb == 0
            && g.hp == g.oh + 2 && g.wp == g.ow + 2 && g.oh % 2 == 0 && g.ow % 2 == 0
            && g.cin % 16 == 0 && g.cout % 16 == 0
    }

    /// Elements of the transform of a pass with a kernel `kd` deep: 16 (4 × 4) in 2-D, 64
    /// (4 × 4 × 4) in 3-D; a transformed kernel holds that many · Cin · Cout floats.
    static func points(kernelDepth kd: Int32) -> Int { kd == 3 ? 64 : 16 }

    /// The tiles of pass `wg` over a batch of `batch` samples: 2 × 2 outputs each (2 × 2 × 2 in 3-D).
    static func tiles(_ wg: dk_winograd_geometry, batch: Int) -> Int {
        batch * (wg.od > 1 ? Int(wg.od / 2) : 1) * Int(wg.oh / 2) * Int(wg.ow / 2)
    }
}

/// How a Winograd forward pass multiplies: in Float (`dk_conv_winograd_forward_f32`), or with
/// its operands rounded to bfloat16 and their products summed in Float (AVX512-BF16,
/// `dk_conv_winograd_forward_bf16`: the bfloat16 precision's dot-product arithmetic).
enum WinogradProducts: Sendable {
    case float, bfloat16
}

/// The forward kernel whose transform an input gradient's Winograd pass with bfloat16 products
/// reads transposed (`ConvGeometry.winogradForward`): the convolution's cache, which keeps the
/// forward pass's rounded transform, and the forward kernel's packing to make it from where the
/// cache has none yet.
struct WinogradForwardKernel {
    /// The convolution's cache (`.winogradBFloat16`).
    let cache: BFloat16WeightCache
    /// Hands over the forward kernel packed as the forward pass packs it (`withPackedKernel`).
    let packedKernel: ((UnsafePointer<Float>) -> Void) -> Void
}

extension ConvGeometry {
    /// The Winograd geometry of pass `g` over `padded`, `outputSample` floats per output sample.
    func winogradGeometry(_ g: dk_conv_geometry, padded: PaddedSource, outputSample: Int)
        -> dk_winograd_geometry
    {
        var wg = dk_winograd_geometry()
        (wg.wp, wg.od, wg.oh, wg.ow) = (g.wp, g.kd == 3 ? g.od : 1, g.oh, g.ow)
        (wg.sample_floats, wg.output_sample_floats) = (padded.sampleCount, outputSample)
        (wg.cin, wg.cout, wg.relu, wg.cout_a, wg.yb_offset) = (g.cin, g.cout, g.relu, g.cout_a, g.yb_offset)
        wg.round_output = g.round_output
        wg.block = ConvBlocking.current.winogradBlock(
            inChannels: Int(g.cin), outChannels: Int(g.cout), points: Winograd.points(kernelDepth: g.kd))
        return wg
    }

    /// Runs `body` on ranges of `cin` input channels on the worker pool, each of about
    /// `packingGrain` floats of a transformed kernel (`points` · `cout` per channel): the
    /// kernel's transform and the weight gradient's back-transform.
    func forEachInputChannelRange(
        cin: Int, cout: Int, points: Int, _ body: @Sendable (Range<Int>) -> Void
    ) {
        WorkerPool.shared.forEachRange(cin, grain: Swift.max(1, Self.packingGrain / (points * cout)), body)
    }

    /// y = conv(padded, weight) (+ bias) as Winograd F(2×2, 3×3) (or F(2×2×2, 3×3×3)), the kernel
    /// packed as the direct forward pass reads it (dk_conv_pack_weights, or the input gradient's
    /// flipped kernel) handed to its argument by `packedKernel` when the transform is made,
    /// `outputSample` elements per output sample (in each part of a two-part output). With
    /// `products` `.bfloat16` the products' operands are rounded to bfloat16 (`g.round_output`:
    /// y as bfloat16 bits); with `roundedOperands` the input and kernel are the rounded-operand
    /// arithmetic's, rounded to bfloat16 already, the products Float (`g.round_output`: y rounded
    /// to bfloat16 values). The transformed kernel is kept in `cache` (a convolution's: made once
    /// for all its forward passes, as its packing); without one it is made for this pass, or, for
    /// an input gradient with bfloat16 products `transposing` its forward kernel, read from the
    /// forward pass's kept transform, transposed; and the pass then needs
    /// `Winograd.uncachedTiles` tiles or more to repay it (`uncachedBFloat16Tiles`
    /// with bfloat16 products). With Float products, a pass of few tiles and a large kernel splits
    /// by elements (`WinogradChunks`), and otherwise a 2-D pass whose output extents are
    /// multiples of 4 runs as F(4×4, 3×3) at the AVX-512 level (`winograd4Forward`). The workers
    /// pad the input in slabs that stay in L2 while the transforms read them
    /// (`ConvBlocking.winogradSlabBytes`) where those hold 2 pairs of lines or whole samples;
    /// otherwise the padded batch and the transformed kernel stay within `workspaceLimit` bytes,
    /// or the workers pad slabs of it (`forEachWinogradRange`). Returns
    /// false, having done nothing, when the pass does not qualify (`Winograd.qualifies`,
    /// `Winograd.qualifiesBFloat16`), has too few tiles, or not even slabs fit.
    func winogradForward(
        _ g: dk_conv_geometry, padded: PaddedSource, packedKernel: ((UnsafePointer<Float>) -> Void) -> Void,
        bias: UnsafePointer<Float>?, y: UnsafeMutableRawPointer, outputSample: Int, workers: Int,
        workspaceLimit: Int, split: WinogradSplit = .automatic, cache: BFloat16WeightCache?,
        products: WinogradProducts = .float,
        roundedOperands: Bool = false, transposing forward: WinogradForwardKernel? = nil
    ) -> Bool {
        let (cin, cout, kd, points) = (Int(g.cin), Int(g.cout), g.kd, Winograd.points(kernelDepth: g.kd))
        let transformed = points * cin * cout
        let qualifies =
            products == .float
            ? Winograd.qualifies(g, padded: padded, roundedOperands: roundedOperands)
            : Winograd.qualifiesBFloat16(g, padded: padded)
        guard qualifies else { return false }
        var wg = winogradGeometry(g, padded: padded, outputSample: outputSample)
        let tiles = Winograd.tiles(wg, batch: padded.batch)
        let fewest = products == .float ? Winograd.uncachedTiles : Winograd.uncachedBFloat16Tiles
        guard tiles > 0, cache != nil || tiles >= fewest else { return false }
        // A Float pass's rounded output: its values rounded to bfloat16, kept as Floats (2; with
        // bfloat16 products, 1: their bits).
        if products == .float && g.round_output != 0 { wg.round_output = 2 }
        let count = Swift.min(workers, tiles)
        let budget = workspaceLimit - transformed * MemoryLayout<Float>.stride
        // Float products of few tiles by a large kernel: split by elements (WinogradElementSplit.swift).
        let chunks =
            products == .float
            ? WinogradChunks(wg, padded: padded, count: count, budget: budget, split: split, weightGradient: false)
            : nil
        // Else F(4×4, 3×3) wherever the shapes allow (WinogradFourByFour.swift).
        if chunks == nil, products == .float,
            winograd4Forward(
                g, wg: wg, padded: padded, packedKernel: packedKernel, bias: bias,
                y: y.assumingMemoryBound(to: Float.self), workers: workers, workspaceLimit: workspaceLimit,
                cache: cache, roundedOperands: roundedOperands)
        {
            return true
        }
        // The transform of a forward kernel of `kcin` → `kcout` channels, from the packing that
        // `packed` hands over, into `u`.
        func make(
            _ u: UnsafeMutablePointer<Float>, _ packed: ((UnsafePointer<Float>) -> Void) -> Void, kcin: Int, kcout: Int
        ) {
            packed { weight in
                let kernel = TaskShared((weight, u))
                forEachInputChannelRange(cin: kcin, cout: kcout, points: points) { channels in
                    let (weight, u) = kernel.buffers
                    dk_conv_winograd_transform_kernel_f32(
                        weight, kd, kcin, kcout, u, channels.lowerBound, channels.upperBound)
                }
            }
        }
        let scratchFloats = Int(dk_conv_winograd_scratch_floats(&wg))
        let input =
            chunks == nil
            ? WinogradInput(
                wg, padded: padded, workers: count, budget: budget, slabBytes: ConvBlocking.current.winogradSlabBytes)
            : nil
        guard chunks != nil || input != nil else { return false }
        // The transformed kernel as the products read it: Floats, or bfloat16 pairs (two to a Float's room).
        let (packing, floats) =
            products == .float
            ? (BFloat16WeightCache.DirectPacking.winograd(rounded: roundedOperands), transformed)
            : (.winogradBFloat16, transformed / 2)
        let elementSize = products == .bfloat16 && g.round_output != 0 ? 2 : 4
        // The transform as the products read it (rounded to bfloat16 pairs with bfloat16 products).
        func makeProducts(
            _ target: UnsafeMutablePointer<Float>, _ packed: ((UnsafePointer<Float>) -> Void) -> Void, kcin: Int,
            kcout: Int
        ) {
            guard products == .bfloat16 else { return make(target, packed, kcin: kcin, kcout: kcout) }
            let u = Self.allocateAligned(transformed)
            defer { u.deallocate() }
            make(u, packed, kcin: kcin, kcout: kcout)
            let shared = TaskShared((UnsafePointer(u), target))
            WorkerPool.shared.forEachRange(points, grain: Swift.max(1, Self.packingGrain / (cin * cout))) { xis in
                let (u, target) = shared.buffers
                target.withMemoryRebound(to: UInt16.self, capacity: transformed) {
                    dk_conv_winograd_round_kernel_bf16(u, points, kcin, kcout, $0, xis.lowerBound, xis.upperBound)
                }
            }
        }
        // The kernel the products read: this pass's, kept in `cache`; or, for an input gradient
        // with bfloat16 products, the forward pass's (kept in its cache as the forward pass keeps
        // it) transposed (dk_conv_winograd_transpose_kernel_bf16: the same bits as transforming
        // the flipped kernel).
        func withKernel(_ body: (UnsafePointer<Float>) -> Void) {
            guard let forward, products == .bfloat16, kd == 1 else {
                return Self.withDirectPacking(
                    cache, packing, count: floats, make: { makeProducts($0, packedKernel, kcin: cin, kcout: cout) },
                    body)
            }
            func makeForward(_ target: UnsafeMutablePointer<Float>) {
                makeProducts(target, forward.packedKernel, kcin: cout, kcout: cin)
            }
            Self.withDirectPacking(forward.cache, .winogradBFloat16, count: floats, make: makeForward) { kept in
                let transposed = Self.allocateAligned(floats)
                defer { transposed.deallocate() }
                let shared = TaskShared((kept, transposed))
                WorkerPool.shared.forEachRange(points, grain: Swift.max(1, Self.packingGrain / (cin * cout))) { xis in
                    let (kept, transposed) = shared.buffers
                    kept.withMemoryRebound(to: UInt16.self, capacity: transformed) { from in
                        transposed.withMemoryRebound(to: UInt16.self, capacity: transformed) {
                            dk_conv_winograd_transpose_kernel_bf16(from, cout, cin, $0, xis.lowerBound, xis.upperBound)
                        }
                    }
                }
                body(UnsafePointer(transposed))
            }
        }
        withKernel { u in
            if let chunks {
                return winogradForwardByElements(
                    wg, padded: padded, u: u, bias: bias, y: y.assumingMemoryBound(to: Float.self), chunks: chunks)
            }
            guard let input else { return }
            let shared = TaskShared((u, bias, y))
            forEachWinogradRange(wg, padded: padded, input: input, workers: workers, count: count) {
                _, gp, xp, offset, tiles in
                let (u, bias, y) = shared.buffers
                let scratch = Self.allocateAligned(scratchFloats)
                defer { scratch.deallocate() }
                let (t0, t1, out) = (tiles.lowerBound, tiles.upperBound, y + offset * elementSize)
                if products == .float {
                    dk_conv_winograd_forward_f32(
                        gp, xp, t0, t1, u, bias, out.assumingMemoryBound(to: Float.self), scratch)
                } else {
                    u.withMemoryRebound(to: UInt16.self, capacity: transformed) {
                        dk_conv_winograd_forward_bf16(gp, xp, t0, t1, $0, bias, out, scratch)
                    }
                }
            }
        }
        return true
    }
}

extension ConvGeometry {
    /// dW = the weight gradient of the pass of geometry `g` over `padded` (x) and `dy`, in
    /// Winograd F(2×2, 3×3)'s domain (F(2×2×2, 3×3×3)'s in 3-D): each worker sums (Bᵀ d B) ⊙
    /// (A dy Aᵀ) over an equal range of the batch's tiles into its own 16 · Cin · Cout floats
    /// (64 · Cin · Cout in 3-D), the workers' sums are added in worker order, and
    /// dW = Gᵀ · sum · G overwrites `dW` (conv_winograd.c). The input is padded as the forward
    /// pass pads it (`WinogradInput`: slabs in L2 where they hold 2 pairs of lines). Each
    /// worker's sums run over its tiles in order, whatever the slabs, so the bits depend on the
    /// worker count, as the direct kernels' weight gradient does, through the workers' ranges:
    /// equal shares of the tiles, or with slabs of the pairs of output lines (the same ranges
    /// where the worker count divides the pairs). Returns false, having done nothing, when the
    /// pass does not qualify (`Winograd.qualifies`) or neither its padded batch nor slabs of it
    /// fit `workspaceLimit` bytes beside the workers' sums. With `roundsDY` (the rounded-operand
    /// arithmetic: `padded` rounds x, or holds its bfloat16 bits) each dy value is rounded to
    /// bfloat16 as the transform reads it, so dW is this pass's on x₁₆ and dy₁₆, bit for bit. A
    /// pass of few tiles and a large kernel splits by elements instead (`WinogradChunks`): one set
    /// of sums, over the batch's tiles in order, whatever the worker count.
    func winogradWeightGradient(
        _ g: dk_conv_geometry, padded: PaddedSource, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>,
        workers: Int, workspaceLimit: Int, roundsDY: Bool = false, split: WinogradSplit = .automatic
    ) -> Bool {
        let (cin, cout, kd, points) = (Int(g.cin), Int(g.cout), g.kd, Winograd.points(kernelDepth: g.kd))
        let transformed = points * cin * cout
        guard Winograd.qualifies(g, padded: padded, roundedOperands: roundsDY) else { return false }
        var wg = winogradGeometry(g, padded: padded, outputSample: Int(g.od * g.oh * g.ow) * cout)
        wg.round_gradient = roundsDY ? 1 : 0
        let count = Swift.min(workers, Winograd.tiles(wg, batch: padded.batch))
        guard count > 0 else { return false }
        if let chunks = WinogradChunks(
            wg, padded: padded, count: count, budget: workspaceLimit - transformed * MemoryLayout<Float>.stride,
            split: split, weightGradient: true)
        {
            let sums = Self.allocateAligned(transformed)
            defer { sums.deallocate() }
            winogradWeightSumsByElements(wg, padded: padded, dy: dy, du: sums, chunks: chunks)
            weightFromTransform(sums, kernelDepth: kd, cin: cin, cout: cout, into: dW)
            return true
        }
        let budget = workspaceLimit - count * transformed * MemoryLayout<Float>.stride
        guard
            let input = WinogradInput(
                wg, padded: padded, workers: count, budget: budget, slabBytes: ConvBlocking.current.winogradSlabBytes)
        else { return false }
        let sums = Self.allocateAligned(count * transformed)
        // Whether each worker's sums hold its tiles' yet: its first range starts them from zero
        // in registers (`fresh`), so they are neither zeroed nor read first.
        let started = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        started.initialize(repeating: false, count: count)
        defer {
            sums.deallocate()
            started.deallocate()
        }
        let scratchFloats = Int(dk_conv_winograd_weight_grad_scratch_floats(&wg))
        let shared = TaskShared((dy, sums, started))
        forEachWinogradRange(wg, padded: padded, input: input, workers: workers, count: count) {
            worker, gp, xp, offset, tiles in
            let (dy, sums, started) = shared.buffers
            guard !tiles.isEmpty else { return }
            let scratch = Self.allocateAligned(scratchFloats)
            defer { scratch.deallocate() }
            dk_conv_winograd_weight_grad_f32(
                gp, xp, dy + offset, tiles.lowerBound, tiles.upperBound, sums + worker * transformed, scratch,
                started[worker] ? 0 : 1)
            started[worker] = true
        }
        for worker in 0..<count where !started[worker] {
            (sums + worker * transformed).initialize(repeating: 0, count: transformed)
        }
        for worker in 1..<count { addElements(sums + worker * transformed, sums, transformed) }
        weightFromTransform(sums, kernelDepth: kd, cin: cin, cout: cout, into: dW)
        return true
    }

    /// dW = Gᵀ · du · G (along each axis), overwritten: the [kd, 3, 3, Cin, Cout] weight gradient
    /// from its sums in the transform's domain (16 or 64 · Cin · Cout floats), in ranges of input
    /// channels on the worker pool (dk_conv_winograd_weight_from_transform_f32).
    func weightFromTransform(
        _ du: UnsafePointer<Float>, kernelDepth kd: Int32, cin: Int, cout: Int, into dW: UnsafeMutablePointer<Float>
    ) {
        let back = TaskShared((du, dW))
        forEachInputChannelRange(cin: cin, cout: cout, points: Winograd.points(kernelDepth: kd)) { channels in
            let (du, dW) = back.buffers
            dk_conv_winograd_weight_from_transform_f32(du, kd, cin, cout, dW, channels.lowerBound, channels.upperBound)
        }
    }
}
