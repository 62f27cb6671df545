// Typed control of OpenBLAS's thread pool.

internal import COpenBLAS

extension BLAS {
    /// The number of threads OpenBLAS uses for one call. Setting it changes the pool for the
    /// whole process (values below 1 are raised to 1).
    public static var threadCount: Int {
        get {
            ensureCoreGuard()
            return Int(openblas_get_num_threads())
        }
        set {
            ensureCoreGuard()
            openblas_set_num_threads(Int32(clamping: Swift.max(newValue, 1)))
        }
    }

    /// OpenBLAS's build configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64".
    public static var configuration: String {
        ensureCoreGuard()
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config).trimmingSpaces()
    }

    /// The CPU core type OpenBLAS runs, e.g. "SkylakeX", after the core guard (see `coreSelection`).
    public static var coreName: String {
        ensureCoreGuard()
        return currentCoreName()
    }

    /// How OpenBLAS was built to parallelise: sequential, pthreads or OpenMP.
    public static var parallelism: String {
        switch openblas_get_parallel() {
        case 0: return "sequential"
        case 1: return "pthreads"
        case 2: return "openmp"
        default: return "unknown"
        }
    }

    /// Runs `body` with OpenBLAS limited to `count` threads, then restores the previous count.
    public static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        let previous = threadCount
        threadCount = count
        defer { threadCount = previous }
        return try body()
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" { s.removeLast() }
        return String(s)
    }
}
