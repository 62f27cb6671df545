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

        /// Writes this packing of the [kd·kh·kw·cin, cout] Float kernel `weight` of forward
        /// geometry `g` to `packed` (kd·kh·kw·cin·cout elements); the dot-product kernels'
        /// packings are split by rows between `workers` (the same bits with any count).
        func pack(
            _ g: UnsafePointer<dk_conv_geometry>, _ weight: UnsafePointer<Float>,
            into packed: UnsafeMutablePointer<UInt16>, workers: Int = 1
        ) {
            let taps = Int(g.pointee.kd * g.pointee.kh * g.pointee.kw)
            let (cin, cout) = (Int(g.pointee.cin), Int(g.pointee.cout))
            let shared = TaskShared((g, weight, packed))
            switch self {
            case .forward:
                // Row pairs (k, k + 1): split at even rows.
                Self.splitRows(taps * cin, unit: 2, workers: workers) { k0, k1 in
                    let (g, weight, packed) = shared.buffers
                    dk_bf16_pack_weight_rows(g, weight, packed, k0, k1)
                }
            case .flipped:
                // Rows t·cout + co: split at multiples of 16 (the vector blocks) where cout allows.
                Self.splitRows(taps * cout, unit: cout % 16 == 0 ? 16 : 2, workers: workers) { r0, r1 in
                    let (g, weight, packed) = shared.buffers
                    dk_bf16_pack_weight_flipped_rows(g, weight, packed, r0, r1)
                }
            case .tilesForward: dk_bf16_pack_weight_tiles(g, weight, packed, 0)
            case .tilesFlipped: dk_bf16_pack_weight_tiles(g, weight, packed, 1)
            }
        }

        /// Runs `body(r0, r1)` on `workers` (at most) contiguous ranges of [0, rows) whose bounds
        /// are multiples of `unit` (rows is one), in parallel.
        private static func splitRows(_ rows: Int, unit: Int, workers: Int, _ body: @Sendable (Int, Int) -> Void) {
            let units = rows / unit
            let count = Swift.max(1, Swift.min(workers, units))
            runWorkers(count) { worker in
                let (u0, u1) = (units * worker / count, units * (worker + 1) / count)
                if u1 > u0 { body(u0 * unit, u1 * unit) }
            }
        }
    }

    private let packings = Mutex<[Packing: [UInt16]]>([:])
    private let roundedKernel = Mutex<[Float]?>(nil)

    /// An empty cache.
    init() {}

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
