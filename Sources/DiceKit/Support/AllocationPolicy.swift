// How the C allocator treats the large blocks that tensors are made of.
//
// glibc's malloc maps every block above its mmap threshold (128 KiB, raised dynamically up to
// 32 MiB) directly from the kernel and unmaps it on free, and gives the top of its heap back
// above a trim threshold. A training or benchmark loop that allocates a 16 MiB activation per
// layer and step then page-faults every page of it anew each time: measured here, that costs
// about a fifth of a 3×3 convolution's forward+backward time (32→32 channels, 8 × 128²).
// PyTorch avoids the same cost with its caching allocator. DiceKit does not change the
// process's allocator behind the caller's back; an executable opts in with one call.

#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide policy of the C allocator for large tensor buffers (glibc on Linux).
public enum AllocationPolicy {
    /// Serves blocks up to `threshold` bytes from malloc's heap and keeps up to `retained` bytes
    /// of freed memory at its top, so buffers of recurring sizes are reused without page faults.
    ///
    /// It changes the whole process's allocator (glibc `mallopt` M_MMAP_THRESHOLD, M_MMAP_MAX and
    /// M_TRIM_THRESHOLD), so call it once from an executable (a training loop, a benchmark), not
    /// from a library. Freed memory stays with the process up to `retained` bytes.
    ///
    /// glibc's threshold cannot exceed 32 MiB, so with the default `threshold` (32 MiB or more)
    /// malloc maps no block on its own at all (M_MMAP_MAX = 0): larger blocks come from the heap
    /// too. A 3-D activation of 2 × 64³ × 16 Floats is 33.5 MB, and mapped anew on every call it
    /// cost a 3×3×3 convolution's forward pass about a fifth of its time (`dicekit-bench --filter
    /// conv3x3x3`: 205 → 260 GFLOP/s); a U-Net activation at 512² (8 × 16 channels) is 134 MB.
    ///
    /// - Parameters:
    ///   - threshold: largest block taken from the heap; default 32 MiB, which means every block.
    ///     Below 32 MiB, larger blocks are mapped on their own as glibc does by default.
    ///   - retained: free memory kept at the top of the heap; default 1 GiB.
    /// - Returns: true when the allocator accepted the settings (always false off glibc).
    @discardableResult
    public static func retainLargeBlocks(threshold: Int = 32 << 20, retained: Int = 1 << 30) -> Bool {
        #if canImport(Glibc)
            // mallopt is declared in <malloc.h>, which the Glibc module does not export; look it up.
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
            // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX
            let (trimThreshold, mmapThreshold, mmapMax): (Int32, Int32, Int32) = (-1, -3, -4)
            let mmap = mallopt(mmapThreshold, Int32(clamping: Swift.max(0, Swift.min(threshold, 32 << 20))))
            let unmapped = threshold < 32 << 20 || mallopt(mmapMax, 0) == 1
            let trim = mallopt(trimThreshold, Int32(clamping: Swift.max(0, retained)))
            return mmap == 1 && unmapped && trim == 1
        #else
            return false
        #endif
    }
}
