// Standard output and error written through their file descriptors rather than C's `stdout`
// and `stderr` (mutable globals): each call reaches the terminal or pipe at once, as a
// line-buffered stream would deliver it, so progress lines stream and a killed process loses no
// finished line. The command-line tools and the progress reporter write through it.

#if canImport(Glibc)
    import Glibc
#endif

/// One of the process's standard output streams.
public enum StandardStream: Sendable {
    /// Standard output (file descriptor 1).
    case output
    /// Standard error (file descriptor 2).
    case error

    /// The stream's file descriptor.
    public var descriptor: Int32 { self == .output ? STDOUT_FILENO : STDERR_FILENO }

    /// Writes `text` whole, retrying after short writes and interruptions; stops at the first
    /// other error (a closed pipe), as stdio does.
    public func write(_ text: String) {
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
}
