// How many threads DiceKit computes on: the one setting that bounds the worker pool (losses,
// optimisers, activations, concatenation, convolution workers, synthetic data) and OpenBLAS.
// It sits in Linalg/ because it sets OpenBLAS's threads; the pool itself is in Support/.
//
// Results are bit-identical for the same seed and the same thread count (see Docs/Architecture.md,
// "Threads and reproducibility"): every parallel reduction sums per-task partials in task order,
// and how work is split into tasks depends on the thread count and the shapes only, never on
// which thread took which task or on the number of processors.

import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The number of threads DiceKit's computations use.
public enum Parallelism {
    /// The environment variable read for the initial thread count ("DICEKIT_THREADS", a positive
    /// integer up to `maximumThreadCount`); tests use it to run with more workers than cores.
    public static let environmentVariable = "DICEKIT_THREADS"

    /// The largest accepted thread count.
    public static let maximumThreadCount = 256

    /// The thread count before any assignment: `DICEKIT_THREADS` when it holds a valid count,
    /// else the number of online processors.
    public static var defaultThreadCount: Int {
        environmentThreadCount ?? System.activeProcessorCount
    }

    /// `DICEKIT_THREADS` parsed, or nil when it is unset or not an integer in 1...256.
    public static var environmentThreadCount: Int? {
        guard let raw = getenv(environmentVariable), let value = Int(String(cString: raw)),
            (1...maximumThreadCount).contains(value)
        else { return nil }
        return value
    }

    /// The number of threads every DiceKit computation uses, the caller's included (default
    /// `defaultThreadCount`, range 1...256; other values are clamped). Setting it replaces the
    /// worker pool (T − 1 threads beside the caller) and sets OpenBLAS to T threads, for the
    /// whole process. Same seed and same count give bit-identical results.
    public static var threadCount: Int {
        get { state.withLock { $0.current().workers + 1 } }
        set {
            let count = Swift.min(Swift.max(newValue, 1), maximumThreadCount)
            // The replaced pool is returned and released here, outside the lock: it ends (joining
            // its threads) when its last running call returns.
            _ = state.withLock { current -> WorkerPool? in
                let previous = current.pool
                if previous?.workers != count - 1 { current.pool = WorkerPool(workers: count - 1) }
                return previous
            }
            BLAS.threadCount = count
        }
    }

    /// The current pool; created on first use with `defaultThreadCount` (also applied to OpenBLAS).
    static var pool: WorkerPool { state.withLock { $0.current() } }

    private struct State: ~Copyable {
        var pool: WorkerPool?

        mutating func current() -> WorkerPool {
            if let pool { return pool }
            let count = Parallelism.defaultThreadCount
            let created = WorkerPool(workers: count - 1)
            pool = created
            BLAS.threadCount = count
            return created
        }
    }

    private static let state = Mutex(State())
}

extension WorkerPool {
    /// The process-wide pool: one thread fewer than `Parallelism.threadCount` (the caller is one).
    static var shared: WorkerPool { Parallelism.pool }
}
