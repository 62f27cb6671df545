// The bfloat16 packings of one convolution's Float kernel, kept between calls (and, for the
// rounded-operand arithmetic, the kernel rounded to bfloat16 as Float values), and the Float
// direct kernels' packing of it (of the rounded kernel, for the rounded-operand arithmetic).
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
//
// The Float direct kernels read the kernel in 64-channel blocks (dk_conv_pack_weights), a copy
// of every weight. Inference and validation call a convolution many times with one kernel value
// (a sliding window, `dicekit predict` image by image), so that packing is kept here too, made
// on the first forward pass in parallel over the workers. A training step's forward pass makes
// it once, as it did on every call.

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
        /// The transposed forward pass of an exact tiling (BFloat16ExactTiling.swift): the
        /// kernel [K × Co] read as one tap, flipped and transposed, in the dot-product kernels'
        /// row pairs or, with `tiles`, the tile kernels' blocks. A key of its own: the same
        /// kernel's `.flipped` packing over kd·kh·kw taps holds other values.
        case transposedRows(tiles: Bool)

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
            case .flipped, .transposedRows(tiles: false):
                Self.splitChannels(cout, unit: unit, workers: workers) { c0, c1 in
                    let (g, weight, packed) = shared.buffers
                    dk_bf16_pack_weight_flipped_channels(g, weight, layout, packed, c0, c1)
                }
            case .tilesForward, .tilesFlipped, .transposedRows(tiles: true):
                let flipped: Int32 = self == .tilesForward ? 0 : 1
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
    /// Which packing of the Float direct kernels.
    enum DirectPacking: Hashable, Sendable {
        /// The forward pass's, [K·Cin, Cout] in 64-channel blocks (dk_conv_pack_weights), of the
        /// kernel or, `rounded`, of its bfloat16 rounding.
        case forward(rounded: Bool)
        /// The exact tiling's scattered pass, the kernel transposed [Cout, K·Cin] in the same
        /// blocks (DirectUpsampling.swift: a 2×2 up-sampling's forward pass).
        case scattered(rounded: Bool)
        /// The Winograd forward pass's transformed kernel, [16][Cout / 16][Cin][16] (64 elements
        /// for a 3×3×3 kernel; dk_conv_winograd_transform_kernel_f32; Winograd.swift); of the
        /// rounded kernel for the rounded-operand arithmetic.
        case winograd(rounded: Bool)
        /// Winograd F(4×4, 3×3)'s transformed kernel, [36][Cout / 16][Cin][16]
        /// (dk_conv_winograd4_transform_kernel_f32; WinogradFourByFour.swift); of the rounded
        /// kernel for the rounded-operand arithmetic.
        case winograd4(rounded: Bool)
        /// The same rounded to bfloat16 in input-channel pairs, [ξ][Cout / 16][Cin / 2][16][2], two
        /// to a Float's room (dk_conv_winograd_round_kernel_bf16; the bfloat16 products).
        case winogradBFloat16
    }

    /// The direct kernels' packings.
    private let directPackings = Mutex<[DirectPacking: AlignedFloats]>([:])
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

    /// The Float direct kernels' packing `packing` (64-byte aligned), `count` elements, of the
    /// kernel the passes hand over or, when `rounded`, of its bfloat16 rounding (the
    /// rounded-operand arithmetic): the kept one, or the one `make` writes into uninitialised
    /// storage on first use. The caller keeps the returned buffer alive while a pass reads it.
    func directPacked(
        _ packing: DirectPacking, count: Int, make: (UnsafeMutablePointer<Float>) -> Void
    ) -> AlignedFloats {
        directPackings.withLock { kept in
            if let found = kept[packing], found.count == count { return found }
            let made = AlignedFloats(count: count)
            make(made.pointer)
            kept[packing] = made
            return made
        }
    }

    /// How many packings are kept, the rounded Float kernel included (tests); the direct kernels'
    /// packings are counted by `directCount`.
    var count: Int { packings.withLock { $0.count } + roundedKernel.withLock { $0 == nil ? 0 : 1 } }

    /// How many direct-kernel packings are kept (tests).
    var directCount: Int { directPackings.withLock { $0.count } }
}

/// A 64-byte aligned Float buffer, freed with its last reference: a packed kernel that the
/// direct kernels read (their vector loads want whole cache lines). Written once, by the maker,
/// before it is shared; read-only after.
final class AlignedFloats: @unchecked Sendable {
    /// The first element.
    let pointer: UnsafeMutablePointer<Float>
    /// How many elements.
    let count: Int

    /// Uninitialised storage for `count` elements.
    init(count: Int) {
        pointer = ConvGeometry.allocateAligned(count)
        self.count = count
    }

    deinit { pointer.deallocate() }
}
