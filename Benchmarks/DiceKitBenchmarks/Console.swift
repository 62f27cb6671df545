// Output of dicekit-bench: standard output and error written through their file descriptors
// rather than C's `stdout` and `stderr` (mutable globals), so each line reaches the terminal or
// pipe at once, as a line-buffered stream would deliver it.

#if canImport(Glibc)
    import Glibc
#endif

/// The benchmark tool's output streams.
enum Console {
    /// Writes `text` whole to `descriptor`, retrying after short writes and interruptions; stops
    /// at the first other error (a closed pipe), as stdio does.
    static func write(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

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
    Console.write(text + terminator, to: STDOUT_FILENO)
}

/// Writes one line to standard error.
func printErr(_ text: String) {
    Console.write(text + "\n", to: STDERR_FILENO)
}
