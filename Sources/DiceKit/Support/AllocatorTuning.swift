// Allocator tuning for training loops. Every layer allocates its output; a U-Net step allocates
// and frees tens of megabytes of tensors, each larger than glibc's default mmap threshold, so by
// default each is a fresh mmap whose pages fault in one by one (measured: ~8 ms for a 16 MiB
// tensor here) and is returned to the kernel when freed. Raising the mmap and trim thresholds
// keeps freed blocks in the heap for the next step.

internal import CDiceKernels

/// Process-wide memory settings that speed up repeated large allocations.
public enum AllocatorTuning {
    /// Asks glibc's malloc to serve blocks up to `bytes` from the heap and to keep freed memory
    /// (`mallopt(M_MMAP_THRESHOLD)`, `mallopt(M_TRIM_THRESHOLD)`). The `dicekit` tool and the
    /// benchmarks call it at start-up; a program that links DiceKit may call it too. The cost is
    /// memory: the peak heap of a training step stays reserved. No effect on other C libraries.
    ///
    /// - Returns: true when the settings were applied (glibc), false otherwise.
    @discardableResult
    public static func keepFreedMemory(upTo bytes: Int = 1 << 30) -> Bool {
        dicekit_keep_freed_memory(Int32(clamping: bytes)) == 1
    }
}
