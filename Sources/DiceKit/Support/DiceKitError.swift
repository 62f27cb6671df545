// The errors DiceKit throws for bad user input. Programmer errors inside the library are
// preconditions instead; nothing a user can type or feed in should reach one of those.

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

    /// One line: what is wrong and what was expected.
    public var description: String {
        switch self {
        case .shape(let message): return "shape error: \(message)"
        case .value(let message): return "value error: \(message)"
        case .option(let message): return "option error: \(message)"
        case .file(let path, let reason): return "\(path): \(reason)"
        }
    }
}
