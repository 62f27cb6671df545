// The errors DiceKit throws for bad user input. Programmer errors inside the library are
// preconditions instead; nothing a user can type or feed in should reach one of those.
//
// One type per concern (Docs/Architecture.md, "Errors"): `DiceKitError` for tensors and shapes,
// values, options and files; `NPYError`, `SafetensorsError`, `PNGError` and `JPEGError` for
// what is wrong inside a file of that format. The structured cases carry the offending value and
// what was expected; the message cases (`shape`, `value`, `option`) remain for checks whose
// sentence does not fit the "<name> <value>; expected <expected>" form.

/// An error caused by user input: a wrong shape, a value out of range, an inconsistent option,
/// or a file that cannot be read. Its `description` is one line that names the offending value
/// and what was expected.
public enum DiceKitError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A tensor has the wrong shape or the wrong number of elements.
    case shape(String)
    /// A value is out of its range or not finite (NaN, infinity, a label ≥ the class count).
    case value(String)
    /// Options that make no sense, alone or together.
    case option(String)
    /// A file cannot be read or written.
    case file(path: String, reason: String)
    /// An option outside its range: "option error: `name` `value`; expected `expected`"
    /// (e.g. name "BatchNorm momentum", value "1.5", expected "0...1").
    case invalidOption(name: String, value: String, expected: String)
    /// A value outside its range: "value error: `name` `value`; expected `expected`"
    /// (e.g. name "percentile", value "101", expected "a value in 0...100").
    case invalidValue(name: String, value: String, expected: String)
    /// A shape whose element count differs from the number of elements given:
    /// "shape error: shape `shape` holds `expected` elements, got `actual`".
    case elementCount(shape: [Int], expected: Int, actual: Int)

    /// The concern an error belongs to, for callers that branch on it rather than on the case.
    public enum Kind: Sendable, Equatable {
        /// Tensor shapes and element counts.
        case shape
        /// Values out of range or not finite.
        case value
        /// Options, alone or together.
        case option
        /// Files that cannot be read or written.
        case file
    }

    /// The concern: `.shape` for `shape` and `elementCount`, `.value` for `value` and
    /// `invalidValue`, `.option` for `option` and `invalidOption`, `.file` for `file`.
    public var kind: Kind {
        switch self {
        case .shape, .elementCount: return .shape
        case .value, .invalidValue: return .value
        case .option, .invalidOption: return .option
        case .file: return .file
        }
    }

    /// One line: what is wrong and what was expected.
    public var description: String {
        switch self {
        case .shape(let message): return "shape error: \(message)"
        case .value(let message): return "value error: \(message)"
        case .option(let message): return "option error: \(message)"
        case .file(let path, let reason): return "\(path): \(reason)"
        case .invalidOption(let name, let value, let expected):
            return "option error: \(name) \(value); expected \(expected)"
        case .invalidValue(let name, let value, let expected):
            return "value error: \(name) \(value); expected \(expected)"
        case .elementCount(let shape, let expected, let actual):
            return "shape error: shape \(shape) holds \(expected) elements, got \(actual)"
        }
    }
}

/// Throws `DiceKitError.invalidOption(name:value:expected:)` unless `condition` holds: the one
/// check layers and optimisers run on their options (a NaN fails every range).
func requireOption<V>(_ condition: Bool, _ name: String, _ value: V, expected: String) throws {
    guard condition else { throw DiceKitError.invalidOption(name: name, value: "\(value)", expected: expected) }
}
