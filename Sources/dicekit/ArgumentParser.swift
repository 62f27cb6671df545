// A small command-line parser: `--name value`, `--name=value`, boolean flags, positionals and
// `--` to end options. Every mistake becomes a `UsageError` (exit status 2) naming the argument.

import DiceKit

/// A mistake in how the tool was called. Printed on stderr with the command's usage; exit 2.
struct UsageError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// What a subcommand accepts.
struct CommandSpec {
    /// The subcommand's name, e.g. "loss".
    let name: String
    /// One line for the tool's overview.
    let summary: String
    /// The full `--help` text.
    let help: String
    /// Options that take a value (without the leading dashes).
    var valueOptions: Set<String> = []
    /// Options that take no value.
    var flags: Set<String> = []
    /// How many positional arguments are accepted.
    var positionals: ClosedRange<Int> = 0...0

    /// Every option name, with or without a value (without the leading dashes).
    var names: Set<String> { valueOptions.union(flags) }
}

/// Parsed arguments with typed accessors whose errors name the option and the expected value.
struct ParsedArguments {
    var positionals: [String] = []
    var values: [String: String] = [:]
    var flags: Set<String> = []

    /// Parses `arguments` against `spec`.
    static func parse(_ arguments: [String], spec: CommandSpec) throws -> ParsedArguments {
        var result = ParsedArguments()
        var rest = arguments[...]
        var optionsEnded = false
        while let argument = rest.popFirst() {
            if optionsEnded || !argument.hasPrefix("--") || argument == "-" {
                if argument.hasPrefix("-"), !optionsEnded, argument != "-", Double(argument) == nil {
                    throw UsageError(message: "unknown option '\(argument)'")
                }
                result.positionals.append(argument)
                continue
            }
            if argument == "--" {
                optionsEnded = true
                continue
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if spec.flags.contains(name) {
                if inlineValue != nil { throw UsageError(message: "--\(name) takes no value") }
                if result.flags.contains(name) { throw UsageError(message: "--\(name) given twice") }
                result.flags.insert(name)
            } else if spec.valueOptions.contains(name) {
                guard let value = inlineValue ?? rest.popFirst() else {
                    throw UsageError(message: "--\(name) needs a value")
                }
                // `--a --b`: a forgotten value, not a value that starts with dashes (those go as --a=--x).
                if inlineValue == nil, value.hasPrefix("--"),
                    spec.names.contains(String(value.dropFirst(2).prefix { $0 != "=" }))
                {
                    throw UsageError(message: "--\(name) needs a value; got the option '\(value)' after it")
                }
                if result.values[name] != nil { throw UsageError(message: "--\(name) given twice") }
                result.values[name] = value
            } else {
                throw UsageError(message: "unknown option '--\(name)' for '\(spec.name)'")
            }
        }
        guard spec.positionals.contains(result.positionals.count) else {
            let expected =
                spec.positionals.lowerBound == spec.positionals.upperBound
                ? "\(spec.positionals.lowerBound)" : "\(spec.positionals.lowerBound)–\(spec.positionals.upperBound)"
            let extra =
                result.positionals.count > spec.positionals.upperBound
                ? " (unexpected: '\(result.positionals[spec.positionals.upperBound])')" : ""
            throw UsageError(
                message:
                    "'\(spec.name)' takes \(expected) positional argument(s), got \(result.positionals.count)\(extra)")
        }
        return result
    }

    /// True when the flag was given.
    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The raw value of an option, if given.
    func string(_ name: String) -> String? { values[name] }

    /// The value of an option the command cannot run without; a usage error naming it otherwise.
    func required(_ name: String) throws -> String {
        guard let value = values[name] else { throw UsageError(message: "--\(name) is required") }
        return value
    }

    /// A floating-point option; `default` when absent.
    func double(_ name: String, default fallback: Double? = nil) throws -> Double? {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text), value.isFinite else {
            throw UsageError(message: "--\(name) expects a finite number, got '\(text)'")
        }
        return value
    }

    /// An integer option within `range`; `default` when absent.
    func int(_ name: String, default fallback: Int? = nil, in range: ClosedRange<Int> = Int.min...Int.max) throws
        -> Int?
    {
        guard let text = values[name] else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            let bounds = range == Int.min...Int.max ? "" : " in \(range.lowerBound)...\(range.upperBound)"
            throw UsageError(message: "--\(name) expects an integer\(bounds), got '\(text)'")
        }
        return value
    }

    /// A comma-separated list of numbers, e.g. `--class-weights 1,2.5,3`.
    func doubles(_ name: String) throws -> [Double]? {
        guard let text = values[name] else { return nil }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        return try parts.map { part in
            guard let value = Double(part.trimmingSpaces()), value.isFinite else {
                throw UsageError(message: "--\(name) expects comma-separated numbers, got '\(text)'")
            }
            return value
        }
    }

    /// One of a fixed set of words, e.g. `--reduction mean|sum|none`.
    func choice<E: RawRepresentable & CaseIterable>(_ name: String, as type: E.Type, default fallback: E? = nil) throws
        -> E?
    where E.RawValue == String {
        guard let text = values[name] else { return fallback }
        guard let value = E(rawValue: text) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: "|")
            throw UsageError(message: "--\(name) expects one of \(allowed), got '\(text)'")
        }
        return value
    }
}

extension Substring {
    func trimmingSpaces() -> String { String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
