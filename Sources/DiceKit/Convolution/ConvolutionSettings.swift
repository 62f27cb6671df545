// Tuning knobs of the lowered (im2col + GEMM) convolution: the workspace bound, the tile size
// and the number of workers. The defaults follow measurements on a 2-core AVX-512 machine:
// tiles of a few hundred output pixels keep the lowered tile in cache, and one OpenBLAS thread
// in each of two workers that own half of the batch beats two OpenBLAS threads on small GEMMs.

/// How a convolution lowers its input: workspace bound, tile size and parallel workers.
///
/// Peak memory of one call, besides its inputs and outputs: every worker owns an im2col tile of
/// `tileRows × (kernel volume · input channels per group)` scalars (all tiles together at most
/// `workspaceLimit` bytes, unless a single row is already larger), plus for the backward pass a
/// private weight-gradient accumulator per worker beyond the first (kernel volume · Cin/groups ·
/// Cout scalars) and, only when the batch is smaller than the worker count, a private
/// input-gradient buffer of the input's size per worker beyond the first.
///
/// With more than one worker, OpenBLAS's process-wide thread count is set to 1 for the duration
/// of the call and restored afterwards, so convolutions should not run concurrently from
/// several threads of the caller (they parallelise themselves).
public struct ConvolutionSettings: Sendable, Equatable {
    /// Upper bound, in bytes, of all workers' im2col tiles together. Default 64 MiB; at least one
    /// lowered row per worker is always allocated. It also bounds the padded copies of the
    /// direct kernels (`allowsDirect`): a pass whose copies would exceed it takes the lowered path.
    /// What counts is what a pass holds: whole padded samples, or a border strip per worker for a
    /// pass that reads its input in place, or a window of rows per worker for a weight gradient
    /// with fewer than two samples per worker.
    public var workspaceLimit: Int
    /// Output pixels (lowered rows) per tile; nil (default) picks about one L2 cache of lowered
    /// tile per worker (`CPUInfo.current.caches.l2`, 256 KiB when unknown; 1 MiB on Zen 4/5),
    /// between 256 and 1024 rows.
    public var tileRows: Int?
    /// Parallel workers, each running OpenBLAS on one thread over the samples it takes; nil
    /// (default) uses `Parallelism.threadCount`. With 1, the GEMMs run on OpenBLAS's own thread pool.
    public var workers: Int?
    /// Whether Float convolutions that qualify (stride 1, no dilation, one group, input and
    /// output channels multiples of 16, on a CPU with AVX2 or AVX-512) run on the direct kernels
    /// instead of im2col + GEMM. Default true; false forces the lowered path (tests compare the
    /// two). The direct path allocates zero-padded copies of its input (for the weight gradient,
    /// and where `readsInPlace` does not apply) instead of the im2col tiles.
    public var allowsDirect: Bool
    /// The arithmetic of Float convolutions: `.float` (default) or `.bfloat16` operands with Float
    /// accumulation where the direct kernels and the CPU allow it (see `ComputePrecision`;
    /// BFloat16Convolution.swift). Double convolutions ignore it.
    public var precision: ComputePrecision
    /// Whether the direct kernels' stride-1 forward passes (a convolution's forward pass and its
    /// input gradient) read their input in place, with only its border strips padded
    /// (InPlaceForward.swift), instead of a padded copy of every sample. Default true; the bits
    /// are the same either way (tests compare the two).
    public var readsInPlace: Bool
    /// Whether the direct path's 3×3, stride-1 Float passes over 2-D inputs of even height and
    /// width (forward passes, input and weight gradients) run as Winograd F(2×2, 3×3) where the
    /// level in use is AVX2 or AVX-512 (Winograd.swift): 16 multiplications per 2 × 2 outputs and
    /// channel pair instead of 36, and other rounding than the direct kernels', of the same order.
    /// The 3×3×3 passes over 3-D inputs of even extents run as F(2×2×2, 3×3×3): 64 per 2 × 2 × 2
    /// outputs instead of 216.
    /// Default true; false keeps the direct kernels (tests compare the two), as does
    /// DICEKIT_WINOGRAD=0 in the environment for the whole process (to measure both in one binary).
    public var allowsWinograd: Bool

    /// How a Winograd pass divides its products between the workers: `.automatic` (the default)
    /// leaves it to the shapes and the caches (`ConvBlocking.winogradSplitsElements`); tests force
    /// either way to compare their bits.
    var winogradSplit = WinogradSplit.automatic

    /// Settings with the given bounds; every parameter defaults to the values described above.
    public init(
        workspaceLimit: Int = 64 << 20, tileRows: Int? = nil, workers: Int? = nil, allowsDirect: Bool = true,
        precision: ComputePrecision = .float, readsInPlace: Bool = true,
        allowsWinograd: Bool = true
    ) {
        self.readsInPlace = readsInPlace
        self.allowsWinograd = allowsWinograd
        self.workspaceLimit = workspaceLimit
        self.tileRows = tileRows
        self.workers = workers
        self.allowsDirect = allowsDirect
        self.precision = precision
    }

    /// Whether Winograd (F(2×2, 3×3) and F(2×2×2, 3×3×3)) runs in this process where
    /// `allowsWinograd` lets it: the kernel level in use is AVX2 or AVX-512 (`InstructionSet.current`) and
    /// DICEKIT_WINOGRAD is not 0.
    public static var winogradRuns: Bool { Winograd.runs }

    /// The defaults: 64 MiB workspace, automatic tile, `Parallelism.threadCount` workers, direct kernels allowed.
    public static let `default` = ConvolutionSettings()

    /// Lowered rows per tile for a lowered matrix with `patch` columns of `elementSize` bytes.
    func tileRows(patch: Int, elementSize: Int, workers: Int) -> Int {
        let rowBytes = Swift.max(patch * elementSize, 1)
        let automatic = Swift.min(Swift.max(ConvBlocking.current.l2 / rowBytes, 256), 1024)
        let bound = Swift.max(workspaceLimit / (rowBytes * Swift.max(workers, 1)), 1)
        return Swift.max(1, Swift.min(tileRows ?? automatic, bound))
    }
}
