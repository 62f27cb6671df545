// `--threads T` (train, eval, predict) and the DICEKIT_THREADS environment variable: the number
// of threads every computation of the command uses (DiceKit's worker pool and OpenBLAS alike).

import DiceKit

enum ThreadsOption {
    /// The help lines of `--threads`, for the commands that take it.
    static let help = """
        --threads T  threads for every computation (worker pool and OpenBLAS; 1–256; default
                     $DICEKIT_THREADS, else the processor count). Same seed and same T: the same bits.
        """

    /// Applies `--threads` when given. Call before any data is generated or read.
    static func apply(_ arguments: ParsedArguments) throws {
        if let threads = try arguments.int("threads", in: 1...Parallelism.maximumThreadCount) {
            Parallelism.threadCount = threads
        }
    }

    /// Refuses a DICEKIT_THREADS that is set but not a thread count (the library would ignore
    /// it), then applies the default count to the pool and OpenBLAS before any computation.
    static func applyEnvironment() throws {
        if let raw = ProcessEnvironment.value(Parallelism.environmentVariable),
            Parallelism.environmentThreadCount == nil
        {
            throw DiceKitError.option(
                "\(Parallelism.environmentVariable)='\(raw)'; expected an integer in 1...\(Parallelism.maximumThreadCount)"
            )
        }
        _ = Parallelism.threadCount
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// Reads the process environment without Foundation.
enum ProcessEnvironment {
    static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}
