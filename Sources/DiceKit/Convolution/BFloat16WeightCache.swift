// The bfloat16 packings of one convolution's Float kernel, kept between calls (and, for the
// rounded-operand arithmetic, the kernel rounded to bfloat16 as Float values).
//
// The bfloat16 kernels (BFloat16Convolution.swift) read the kernel rounded to bfloat16 in row
// pairs: [K/2, Cout, 2] for the forward pass, and the flipped, transposed kernel packed the same
// way for the input gradient (in quads when the product has 16 output channels, see dk_bf16.h;
// the same number of elements); the AMX tile kernels read both in 16-channel blocks instead. Packing is a pass over the whole kernel (1.9 M weights in the
// base-16 U-Net, 7.8 M in base 32) that used to run on every call; a `Convolution` now keeps
// its packings here. The cache belongs to one kernel value: assigning or mutating
// `Convolution.weight` replaces it (the property's observer), and the layers build a new
// `Convolution` whenever their parameters' versions change (after an optimiser step, a
// checkpoint load, a fold of new normalisation statistics), so a packing is never older than
// the Float master weights it came from.

internal import CDiceKitKernels
import Synchronization

/// The bfloat16 packings of a convolution's kernel, made on first use and kept.
///
/// Shared by the copies of a `Convolution` value that hold the same kernel; safe to use from
/// several threads (a packing is made once, under the lock).
final class BFloat16WeightCache: Sendable {
    /// Which packing of the kernel.
    enum Packing: Hashable, Sendable {
        /// [K/2, Cout, 2], the forward pass's (dk_bf16_pack_weight).
        case forward
        /// The flipped, transposed kernel [K/2, Cin, 2], the input gradient's (dk_bf16_pack_weight_flipped).
        case flipped
        /// The forward kernel in 16-channel blocks of row pairs, the tile kernels' (dk_bf16_pack_weight_tiles).
        case tilesForward
        /// The flipped, transposed kernel in the tile kernels' blocks (dk_bf16_pack_weight_tiles, flipped).
        case tilesFlipped

        /// The forward or the flipped packing, of the dot-product kernels or with `tiles` of the tile kernels.
        init(flipped: Bool, tiles: Bool) {
            switch (flipped, tiles) {
            case (false, false): self = .forward
            case (true, false): self = .flipped
            case (false, true): self = .tilesForward
            case (true, true): self = .tilesFlipped
            }
        }

        /// Writes this packing of the Float kernel `weight` of forward geometry `g`, in DiceKit's
        /// layout [kd·kh·kw, cin, cout] or, with `pyTorchLayout`, PyTorch's [cout, cin, kd·kh·kw],
        /// to `packed` (kd·kh·kw·cin·cout elements), split by output channels between `workers`
        /// (the same bits with any count and either layout).
        func pack(
            _ g: UnsafePointer<dk_conv_geometry>, _ weight: UnsafePointer<Float>, pyTorchLayout: Bool = false,
            into packed: UnsafeMutablePointer<UInt16>, workers: Int = 1
        ) {
            let cout = Int(g.pointee.cout)
            let layout: Int32 = pyTorchLayout ? 1 : 0
            // Vector blocks of 16 channels where cout allows (and the quads' single block), else pairs.
            let unit = cout % 16 == 0 ? 16 : 2
            let shared = TaskShared((g, weight, packed))
            switch self {
            case .forward:
                Self.splitChannels(cout, unit: unit, workers: workers) { c0, c1 in
                    let (g, weight, packed) = shared.buffers
                    dk_bf16_pack_weight_channels(g, weight, layout, packed, c0, c1)
                }
            case .flipped:
                Self.splitChannels(cout, unit: unit, workers: workers) { c0, c1 in
                    let (g, weight, packed) = shared.buffers
                    dk_bf16_pack_weight_flipped_channels(g, weight, layout, packed, c0, c1)
                }
            case .tilesForward, .tilesFlipped:
                let flipped: Int32 = self == .tilesFlipped ? 1 : 0
                // The tile kernels take multiples of 16 channels; any other count stays one range.
                Self.splitChannels(cout, unit: cout % 16 == 0 ? 16 : Swift.max(cout, 1), workers: workers) { c0, c1 in
                    let (g, weight, packed) = shared.buffers
                    dk_bf16_pack_weight_tiles_channels(g, weight, layout, packed, flipped, c0, c1)
                }
            }
        }

        /// Runs `body(c0, c1)` on `workers` (at most) contiguous ranges of [0, channels) whose
        /// bounds are multiples of `unit` (channels is one), in parallel; 16 channels (the
        /// quads' layout) stay one range.
        private static func splitChannels(
            _ channels: Int, unit: Int, workers: Int, _ body: @Sendable (Int, Int) -> Void
        ) {
            let units = channels / unit
            let count = Swift.max(1, Swift.min(workers, units))
            runWorkers(count) { worker in
                let (u0, u1) = (units * worker / count, units * (worker + 1) / count)
                if u1 > u0 { body(u0 * unit, u1 * unit) }
            }
        }
    }

    private let packings = Mutex<[Packing: [UInt16]]>([:])
    private let roundedKernel = Mutex<[Float]?>(nil)
    /// The kernel in PyTorch's layout [cout, cin, k…], when the convolution was built from it
    /// (`Convolution(pyTorchWeight:…)`): the packings are then made from it, so that a pass on
    /// the bfloat16 kernels never needs the kernel in DiceKit's layout.
    let pyTorchKernel: Tensor<Float>?

    /// An empty cache, whose packings will be made from the kernel in DiceKit's layout that
    /// each pass hands over, or from `pyTorchKernel` when given.
    init(pyTorchKernel: Tensor<Float>? = nil) {
        self.pyTorchKernel = pyTorchKernel
    }

    /// The packing `packing` of `count` elements: the kept one, or the one `make` writes into
    /// uninitialised storage of `count` elements on first use.
    func packed(
        _ packing: Packing, count: Int, make: (UnsafeMutablePointer<UInt16>) -> Void
    ) -> [UInt16] {
        packings.withLock { kept in
            if let found = kept[packing], found.count == count { return found }
            let made = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                make(buffer.baseAddress!)
                initialized = count
            }
            kept[packing] = made
            return made
        }
    }

    /// The kernel rounded to bfloat16 and kept as Float values (the rounded-operand path,
    /// BFloat16RoundedOperands.swift), `count` elements: the kept one, or the one `make` writes
    /// into uninitialised storage on first use.
    func rounded(count: Int, make: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        roundedKernel.withLock { kept in
            if let found = kept, found.count == count { return found }
            let made = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                make(buffer.baseAddress!)
                initialized = count
            }
            kept = made
            return made
        }
    }

    /// How many packings are kept, the rounded Float kernel included (tests).
    var count: Int { packings.withLock { $0.count } + roundedKernel.withLock { $0 == nil ? 0 : 1 } }
}
