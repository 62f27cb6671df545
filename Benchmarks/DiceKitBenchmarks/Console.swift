// Output of dicekit-bench: the library's `StandardStream` (whole writes through the file
// descriptors), and silencing for ranks other than 0 under mpirun.

import DiceKit

#if canImport(Glibc)
    import Glibc
#endif

/// The benchmark tool's output streams.
enum Console {
    /// Sends standard output and error to /dev/null (ranks other than 0 under mpirun).
    static func silence() {
        let null = open("/dev/null", O_WRONLY)
        guard null >= 0 else { return }
        _ = dup2(null, STDOUT_FILENO)
        _ = dup2(null, STDERR_FILENO)
        close(null)
    }
}

/// Writes `text` and `terminator` to standard output.
func printOut(_ text: String, terminator: String = "\n") {
    StandardStream.output.write(text + terminator)
}

/// Writes one line to standard error.
func printErr(_ text: String) {
    StandardStream.error.write(text + "\n")
}
