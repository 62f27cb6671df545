// The processors this process may run on, read once: the bound of the default thread count and
// of the worker pools (Parallelism.swift, WorkerPool.swift).

internal import CDiceKitKernels

#if canImport(Glibc)
    import Glibc
#endif

/// The number of processors (a tiny shim so that the module needs no Foundation here).
enum System {
    /// The processors this process may run on: its CPU affinity mask when there is one (mpirun
    /// binds each rank to its cores, so two ranks on two cores get one each and their worker
    /// pools do not compete), else the processors online.
    static let activeProcessorCount: Int = {
        #if canImport(Glibc)
            let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
            let allowed = Int(dk_allowed_cpus())
            if allowed > 0 { return online > 0 ? Swift.min(allowed, online) : allowed }
            return online > 0 ? online : 1
        #else
            return 1
        #endif
    }()
}
