// Winograd F(4×4, 3×3) for the 2-D Float forward passes (and input gradients) at the AVX-512
// level (conv_winograd4.c): 36 multiplications per 4 × 4 outputs and channel pair, where
// F(2×2, 3×3) makes 64, wherever the output extents are multiples of 4 and the pass does not
// split by elements (WinogradElementSplit.swift). Each worker streams the transformed kernel once
// per block of tiles, 36 · Cin · Cout floats a block against F(2×2, 3×3)'s 16 · Cin · Cout, and a
// block holds as many tiles either way, so large images stream less of it; small ones more, but
// in the U-Nets F(4×4, 3×3) still won there: against a rule that kept F(2×2, 3×3) below 24 tiles
// a worker (8² at a batch of 8, 16² alone), taking it everywhere ran the base-16 inference 1.06×
// and the base-32 one-image inference 1.04× as fast, the steps level (Emerald Rapids, alternated
// `dicekit-bench` runs), though in process (`Scripts/conv_costs.c`, WINOGRAD4=1 against 0) 8²
// 256 → 256 at 16 tiles a worker ran at 0.85× (that layer splits by elements in a U-Net), 16²
// 256 → 256 at 1.03×, 16² 128 → 128 at 1.21× and from 32² up at 1.34–1.45×. Its larger
// interpolation points round more (Docs/Convolution.md, "Winograd F(4×4, 3×3)"). The weight
// gradient stays F(2×2, 3×3). Each output is a fixed sequence of operations on its own window and
// the transformed kernel: the same bits for any worker count.

internal import CDiceKitKernels
import Foundation
import Synchronization

/// Whether a pass runs as F(4×4, 3×3).
enum Winograd4 {
    /// DICEKIT_WINOGRAD4=0 keeps F(2×2, 3×3) for the whole process (to measure both in one binary).
    private static let allowedByEnvironment = ProcessInfo.processInfo.environment["DICEKIT_WINOGRAD4"] != "0"

    /// `force`'s choice: −1 none, 0 off, 1 on.
    private static let forced = Atomic<Int>(-1)

    /// Forces F(4×4, 3×3) off (false) or on (true) for the whole process, over the environment;
    /// nil: the environment's choice again. For the tests that hold F(2×2, 3×3) to its bits and
    /// bounds, and F(4×4, 3×3) to its own.
    static func force(_ on: Bool?) { forced.store(on.map { $0 ? 1 : 0 } ?? -1, ordering: .relaxed) }

    /// Whether the Winograd pass `g` (a 2-D forward pass that `Winograd.qualifies` for, Float
    /// products) runs as F(4×4, 3×3): `force` or the environment leaves it on, the level in use is
    /// AVX-512, and its output rows and columns are multiples of 4.
    static func runs(_ g: dk_conv_geometry) -> Bool {
        let code = forced.load(ordering: .relaxed)
        return (code >= 0 ? code == 1 : allowedByEnvironment) && dk_conv_winograd4_enabled() != 0 && g.kd == 1
            && g.oh % 4 == 0 && g.ow % 4 == 0
    }
}

extension ConvGeometry {
    /// y = conv(padded, weight) (+ bias) as F(4×4, 3×3) where `Winograd4.runs` says so: the
    /// Winograd forward pass `wg` (`winogradForward`'s, its output stored as `wg.round_output`
    /// says) with the kernel handed over by `packedKernel`, transformed and kept in `cache` (or
    /// made for this pass without one), the input padded whole, or in slabs of bands of 4 output
    /// rows (`WinogradInput`: in L2 for fewer samples than workers; within the bound where the
    /// whole batch exceeds it), the workers taking equal ranges of the tiles. Returns false, having
    /// done nothing, when F(4×4, 3×3) does not run here or the input, the transformed kernel and
    /// the workers' scratch do not fit `workspaceLimit` bytes.
    func winograd4Forward(
        _ g: dk_conv_geometry, wg: dk_winograd_geometry, padded: PaddedSource,
        packedKernel: ((UnsafePointer<Float>) -> Void) -> Void, bias: UnsafePointer<Float>?,
        y: UnsafeMutablePointer<Float>, workers: Int, workspaceLimit: Int, cache: BFloat16WeightCache?,
        roundedOperands: Bool
    ) -> Bool {
        guard Winograd4.runs(g) else { return false }
        let (cin, cout) = (Int(g.cin), Int(g.cout))
        var wg = wg
        wg.block = ConvBlocking.current.winogradBlock(inChannels: cin, outChannels: cout, points: 36)
        let tiles = padded.batch * Int(g.oh / 4) * Int(g.ow / 4)
        let count = Swift.min(workers, tiles)
        let transformed = 36 * cin * cout
        let scratchFloats = Int(dk_conv_winograd4_scratch_floats(&wg))
        let budget = workspaceLimit - (transformed + count * scratchFloats) * MemoryLayout<Float>.stride
        // Slabs in L2 only for fewer samples than workers (one image: `dicekit predict`), whose
        // whole padded copy the workers would pad sample by sample, one of them alone: there the
        // slabs ran the U-Nets' one-image inference 1.06–1.10× as fast as the whole batch. At a
        // batch of 8 they ran the steps at 0.97–1.02× and inference at 0.93–1.01× its speed
        // (Emerald Rapids, alternated `dicekit-bench` runs), so the whole batch is padded there.
        let slabBytes = padded.batch < count ? ConvBlocking.current.winogradSlabBytes : nil
        guard
            let input = WinogradInput(
                wg, padded: padded, workers: count, budget: budget, slabBytes: slabBytes, tileLines: 4)
        else { return false }
        let make = { (u: UnsafeMutablePointer<Float>) in
            packedKernel { weight in
                let kernel = TaskShared((weight, u))
                forEachInputChannelRange(cin: cin, cout: cout, points: 36) { channels in
                    let (weight, u) = kernel.buffers
                    dk_conv_winograd4_transform_kernel_f32(
                        weight, cin, cout, u, channels.lowerBound, channels.upperBound)
                }
            }
        }
        Self.withDirectPacking(cache, .winograd4(rounded: roundedOperands), count: transformed, make: make) { u in
            let shared = TaskShared((u, bias, y))
            forEachWinogradRange(wg, padded: padded, input: input, workers: workers, count: count, tileLines: 4) {
                _, gp, xp, offset, tiles in
                let (u, bias, y) = shared.buffers
                let scratch = Self.allocateAligned(scratchFloats)
                defer { scratch.deallocate() }
                dk_conv_winograd4_forward_f32(gp, xp, tiles.lowerBound, tiles.upperBound, u, bias, y + offset, scratch)
            }
        }
        return true
    }
}
