// Output helpers: standard output and error (the library's `StandardStream`), exit codes, and JSON rendering of numbers (no Foundation formatting,
// so the tool prints the shortest round-tripping decimal of each value).

import DiceKit

#if canImport(Glibc)
    import Glibc
#endif

/// Writes `text` and `terminator` to standard output.
func printOutput(_ text: String, terminator: String = "\n") {
    StandardStream.output.write(text + terminator)
}

/// Writes one line to standard error.
func printError(_ text: String) {
    StandardStream.error.write(text + "\n")
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

/// `count` and `noun`, the noun in the plural unless `count` is 1 ("1 epoch", "40 steps").
func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
