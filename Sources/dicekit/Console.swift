// Output helpers: stderr, exit codes, and JSON rendering of numbers (no Foundation formatting,
// so the tool prints the shortest round-tripping decimal of each value).

import DiceKit

#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to standard error.
func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, stderr) }
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
