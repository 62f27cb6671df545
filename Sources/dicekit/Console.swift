// Output helpers: standard output and error, exit codes, and JSON rendering of numbers (no Foundation formatting,
// so the tool prints the shortest round-tripping decimal of each value).

import DiceKit

#if canImport(Glibc)
    import Glibc
#endif

/// The tool's output streams, written through their file descriptors rather than C's `stdout`
/// and `stderr` (mutable globals): each call reaches the terminal or pipe at once, as a
/// line-buffered stream would deliver it, so progress and per-image lines stream and a killed
/// run loses no finished line.
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
}

/// Writes `text` and `terminator` to standard output.
func printOutput(_ text: String, terminator: String = "\n") {
    Console.write(text + terminator, to: STDOUT_FILENO)
}

/// Writes one line to standard error.
func printError(_ text: String) {
    Console.write(text + "\n", to: STDERR_FILENO)
}

/// Exit statuses of the tool.
enum ExitStatus: Int32 {
    case success = 0
    /// Bad input: a file, a shape, a value.
    case failure = 1
    /// Bad usage: an unknown option, a missing argument.
    case usage = 2
}

/// A JSON number for a finite value, `null` otherwise (JSON has no NaN).
func jsonNumber<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) -> String {
    value.isFinite ? String(describing: value) : "null"
}

/// Escapes a string for a JSON document (the library's `JSONValue` encoder).
func jsonString(_ text: String) -> String { JSONValue.string(text).encoded }
