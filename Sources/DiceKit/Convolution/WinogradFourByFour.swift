// Winograd F(4×4, 3×3) for the 2-D Float forward passes (and input gradients) at the AVX-512
// level (conv_winograd4.c): 36 multiplications per 4 × 4 outputs and channel pair, where
// F(2×2, 3×3) makes 64, for the layers whose products outweigh the transforms: output extents
// multiples of 4, and a transformed kernel (36 · Cin · Cout floats) that the blocks of tiles can
// stream from L2 (`ConvBlocking.winograd4Runs`). Its larger interpolation points round more
// (Docs/Convolution.md, "Winograd F(4×4, 3×3)"). The weight gradient stays F(2×2, 3×3). Each
// output is a fixed sequence of operations on its own window and the transformed kernel: the
// same bits for any worker count.

internal import CDiceKitKernels
import Foundation
import Synchronization

/// Whether a pass runs as F(4×4, 3×3).
enum Winograd4 {
    /// DICEKIT_WINOGRAD4=0 keeps F(2×2, 3×3) for the whole process; =1 takes F(4×4, 3×3) wherever
    /// the shapes allow (to measure both in one binary); unset, `ConvBlocking.winograd4Runs` decides.
    private static let environment: Bool? =
        switch ProcessInfo.processInfo.environment["DICEKIT_WINOGRAD4"] {
        case "0": false
        case "1": true
        default: nil
        }

    /// `force`'s choice: −1 none, 0 never, 1 wherever the shapes allow.
    private static let forced = Atomic<Int>(-1)

    /// Forces F(4×4, 3×3) off (false) or on wherever the shapes allow (true) for the whole
    /// process, over the environment; nil: the environment's or the rule's choice again. For the
    /// tests that hold F(2×2, 3×3) to its bits and bounds, and F(4×4, 3×3) to its own.
    static func force(_ on: Bool?) { forced.store(on.map { $0 ? 1 : 0 } ?? -1, ordering: .relaxed) }

    /// Whether the Winograd pass `g` (a 2-D forward pass that `Winograd.qualifies` for, Float
    /// products) over `batch` samples on `workers` workers runs as F(4×4, 3×3): the level in use is
    /// AVX-512, its output rows and columns are multiples of 4, and `force`, the environment or the
    /// rule says so.
    static func runs(_ g: dk_conv_geometry, batch: Int, workers: Int) -> Bool {
        let code = forced.load(ordering: .relaxed)
        let choice = code >= 0 ? code == 1 : environment
        guard choice != false, dk_conv_winograd4_enabled() != 0, g.kd == 1, g.oh % 4 == 0, g.ow % 4 == 0
        else { return false }
        let tiles = batch * Int(g.oh / 4) * Int(g.ow / 4)
        return choice == true
            || ConvBlocking.current.winograd4Runs(
                inChannels: Int(g.cin), outChannels: Int(g.cout),
                tilesPerWorker: (tiles + workers - 1) / Swift.max(1, workers))
    }
}

extension ConvGeometry {
    /// y = conv(padded, weight) (+ bias) as F(4×4, 3×3), where `Winograd4.runs` says so: the
    /// Winograd forward pass `wg` (`winogradForward`'s, its output stored as `wg.round_output`
    /// says) with the kernel handed over by `packedKernel`, transformed and kept in `cache` (or
    /// made for this pass without one), the whole batch padded and the workers taking equal
    /// ranges of its tiles. Returns false, having done nothing, when F(4×4, 3×3) does not run
    /// here or the padded batch, the transformed kernel and the workers' scratch exceed
    /// `workspaceLimit` bytes.
    func winograd4Forward(
        _ g: dk_conv_geometry, wg: dk_winograd_geometry, padded: PaddedSource,
        packedKernel: ((UnsafePointer<Float>) -> Void) -> Void, bias: UnsafePointer<Float>?,
        y: UnsafeMutablePointer<Float>, workers: Int, workspaceLimit: Int, cache: BFloat16WeightCache?,
        roundedOperands: Bool
    ) -> Bool {
        guard Winograd4.runs(g, batch: padded.batch, workers: workers) else { return false }
        let (cin, cout) = (Int(g.cin), Int(g.cout))
        var wg = wg
        wg.block = ConvBlocking.current.winogradBlock(inChannels: cin, outChannels: cout, points: 36)
        let tiles = padded.batch * Int(g.oh / 4) * Int(g.ow / 4)
        let count = Swift.min(workers, tiles)
        let transformed = 36 * cin * cout
        let scratchFloats = Int(dk_conv_winograd4_scratch_floats(&wg))
        let paddedFloats = padded.readsInPlace ? 0 : padded.batch * padded.sampleCount + padded.slack
        guard (paddedFloats + transformed + count * scratchFloats) * MemoryLayout<Float>.stride <= workspaceLimit
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
            padded.withPaddedBatch(workers: count) { xp in
                withUnsafePointer(to: wg) { gp in
                    let shared = TaskShared((gp, xp, u, bias, y))
                    runWorkers(count) { w in
                        let (gp, xp, u, bias, y) = shared.buffers
                        let scratch = Self.allocateAligned(scratchFloats)
                        defer { scratch.deallocate() }
                        dk_conv_winograd4_forward_f32(
                            gp, xp, tiles * w / count, tiles * (w + 1) / count, u, bias, y, scratch)
                    }
                }
            }
        }
        return true
    }
}
