// A small JSON value for the files DiceKit writes (metrics.jsonl, summary.json): object keys
// keep the order they were given in, so files read well and diff cleanly.

/// A JSON value whose objects keep their key order.
///
/// Non-finite numbers (NaN, ±∞) encode as `null`, since JSON has no spelling for them.
public indirect enum JSONValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// `null`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// An integer, written without a fraction.
    case integer(Int)
    /// A number, written in Swift's shortest round-tripping form (`null` when not finite).
    case number(Double)
    /// A string, escaped as JSON requires.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object: keys in the given order.
    case object([JSONField])

    /// A string literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer literal.
    public init(integerLiteral value: Int) { self = .integer(value) }
    /// A floating-point literal.
    public init(floatLiteral value: Double) { self = .number(value) }
    /// A Boolean literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An array literal.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// A dictionary literal; keys keep their order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(elements.map { JSONField($0.0, $0.1) })
    }

    /// An array of numbers.
    public static func numbers(_ values: [Double]) -> JSONValue { .array(values.map(JSONValue.number)) }

    /// The compact encoding, on one line.
    public var encoded: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .number(let x): return x.isFinite ? "\(x)" : "null" // Swift's shortest form is valid JSON: 0.1, 3.0, 1e-05
        case .string(let s): return jsonString(s)
        case .array(let items): return "[" + items.map(\.encoded).joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.map { jsonString($0.key) + ":" + $0.value.encoded }.joined(separator: ",") + "}"
        }
    }

    /// The encoding with two-space indentation and a trailing newline (for summary files).
    public var prettyEncoded: String { pretty(indent: "") + "\n" }

    private func pretty(indent: String) -> String {
        let inner = indent + "  "
        switch self {
        case .array(let items) where !items.isEmpty && items.contains(where: \.isContainer):
            return "[\n" + items.map { inner + $0.pretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let fields) where !fields.isEmpty:
            return "{\n"
                + fields.map { inner + jsonString($0.key) + ": " + $0.value.pretty(indent: inner) }.joined(
                    separator: ",\n")
                + "\n" + indent + "}"
        default:
            return encoded
        }
    }

    private var isContainer: Bool {
        switch self {
        case .array, .object: return true
        default: return false
        }
    }
}

/// One key and value of a `JSONValue.object`.
public struct JSONField: Sendable, Equatable {
    /// The key.
    public let key: String
    /// The value.
    public let value: JSONValue

    /// A field.
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// `text` as a JSON string literal, with quotes, backslashes and control characters escaped.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16) // "\u001f": four lowercase digits, as printf's %04x
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
