// The .npy format (NumPy Enhancement Proposal 1, format versions 1.0, 2.0, 3.0):
//
//   "\x93NUMPY" | major (u8) | minor (u8) | header length (u16 LE in 1.0, u32 LE in 2.0/3.0)
//   | header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//     padded with spaces and ended by '\n' so the data starts at a multiple of 64 bytes
//   | data: count × itemsize bytes in C order.
//
// The reader checks everything a file can lie about before it touches the data: version, header
// length against the file size, dtype, order, the shape's element count (overflow), and the data
// length against the shape (truncated or trailing).

import Foundation

/// Reading and writing NumPy `.npy` files.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    /// Reads a `.npy` file.
    ///
    /// - Throws: `NPYError` naming what is wrong with the file.
    public static func read(contentsOf path: String) throws -> NPYArray {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch DiceKitError.file(let path, let reason) {
            throw NPYError.io(
                path: path,
                reason: reason == "is a directory; expected a file" ? "is a directory; expected a .npy file" : reason)
        }
        return try decode(bytes)
    }

    /// Parses the bytes of a `.npy` file.
    ///
    /// - Throws: `NPYError` naming what is wrong.
    public static func decode(_ bytes: [UInt8]) throws -> NPYArray {
        let header = try parseHeader(bytes)
        let available = bytes.count - header.dataOffset
        if available < header.byteCount {
            throw NPYError.truncated(expectedBytes: header.byteCount, actualBytes: available)
        }
        if available > header.byteCount {
            throw NPYError.trailingData(expectedBytes: header.byteCount, actualBytes: available)
        }
        return try NPYArray(dtype: header.dtype, shape: header.shape, data: Array(bytes[header.dataOffset...]))
    }

    /// What a `.npy` header says: the element type, the shape, where the data starts and how
    /// many bytes it takes.
    struct Header: Equatable {
        let dtype: NPYDType
        let shape: [Int]
        let dataOffset: Int
        let byteCount: Int
    }

    /// Parses the header at the start of `bytes` (which need hold only the header); the data
    /// length is not checked here.
    ///
    /// - Throws: `NPYError` naming what is wrong.
    static func parseHeader(_ bytes: [UInt8]) throws -> Header {
        guard bytes.count >= 8, Array(bytes[0..<6]) == magic else { throw NPYError.notNPY }
        let (major, minor) = (Int(bytes[6]), Int(bytes[7]))
        guard (1...3).contains(major), minor == 0 else { throw NPYError.unsupportedVersion(major: major, minor: minor) }
        let lengthBytes = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthBytes else {
            throw NPYError.malformedHeader("the file ends inside the header length field")
        }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let headerStart = 8 + lengthBytes
        guard headerStart + headerLength <= bytes.count else {
            throw NPYError.malformedHeader(
                "header length \(headerLength) runs past the end of the \(bytes.count)-byte file")
        }
        let headerBytes = bytes[headerStart..<(headerStart + headerLength)]
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw NPYError.malformedHeader("the header is not valid text")
        }
        var parser = HeaderParser(header)
        let fields = try parser.parseDictionary()
        guard case .string(let descr) = fields["descr"] ?? .other else {
            if fields["descr"] == nil { throw NPYError.malformedHeader("missing key 'descr'") }
            throw NPYError.unsupportedDType(descr: header.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard case .bool(let fortran) = fields["fortran_order"] ?? .other else {
            throw NPYError.malformedHeader("missing or non-boolean key 'fortran_order'")
        }
        guard case .tuple(let shape) = fields["shape"] ?? .other else {
            throw NPYError.malformedHeader("missing key 'shape' or it is not a tuple of integers")
        }
        let dtype = try parseDescriptor(descr)
        if fortran && shape.filter({ $0 > 1 }).count > 1 { throw NPYError.fortranOrder }
        guard let count = Tensor<Float>.elementCount(shape) else {
            throw NPYError.shapeOverflow(shape: "(" + shape.map(String.init).joined(separator: ", ") + ")")
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        if overflow { throw NPYError.shapeOverflow(shape: "(" + shape.map(String.init).joined(separator: ", ") + ")") }
        return Header(dtype: dtype, shape: shape, dataOffset: headerStart + headerLength, byteCount: needed)
    }

    /// The bytes of a `.npy` file (format 1.0, or 2.0 when the header needs it) holding `array`.
    public static func encode(_ array: NPYArray) -> [UInt8] {
        let shapeText: String
        switch array.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(array.shape[0]),)"
        default: shapeText = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(array.dtype.descriptor)', 'fortran_order': False, 'shape': \(shapeText), }"
        var major: UInt8 = 1
        var prefix = 10
        if header.utf8.count + 1 + prefix > 65_535 {
            major = 2
            prefix = 12
        }
        let padding = (64 - (prefix + header.utf8.count + 1) % 64) % 64
        header += String(repeating: " ", count: padding) + "\n"
        var bytes = magic + [major, 0]
        let length = header.utf8.count
        for i in 0..<(major == 1 ? 2 : 4) { bytes.append(UInt8((length >> (8 * i)) & 0xFF)) }
        bytes += Array(header.utf8)
        bytes += array.data
        return bytes
    }

    /// Writes `array` to `path`, atomically (a temporary file renamed into place).
    ///
    /// - Throws: `NPYError.io` when the file cannot be written.
    public static func write(_ array: NPYArray, to path: String) throws {
        do {
            try AtomicFile.write(encode(array), to: path)
        } catch DiceKitError.file(_, let reason) {
            throw NPYError.io(path: path, reason: reason)
        }
    }

    /// Writes a tensor as float32 (Float) or float64 (Double), atomically.
    ///
    /// - Throws: `NPYError.io` when the file cannot be written.
    public static func write<T: BLASScalar>(_ tensor: Tensor<T>, to path: String) throws {
        try write(NPYArray(tensor), to: path)
    }

    static func parseDescriptor(_ descr: String) throws -> NPYDType {
        guard let order = descr.first else { throw NPYError.unsupportedDType(descr: descr) }
        let code = String(descr.dropFirst())
        if code.first == "O" || descr == "O" { throw NPYError.objectDType(descr: descr) }
        if order == ">" {
            // Single-byte types have no byte order; NumPy writes them with '|', but accept '>' too.
            if !["i1", "u1", "b1"].contains(code) { throw NPYError.bigEndian(descr: descr) }
        } else if !["<", "|", "="].contains(order) {
            throw NPYError.unsupportedDType(descr: descr)
        }
        switch code {
        case "f4": return .float32
        case "f8": return .float64
        case "i1": return .int8
        case "i2": return .int16
        case "i4": return .int32
        case "i8": return .int64
        case "u1": return .uint8
        case "u2": return .uint16
        case "u4": return .uint32
        case "u8": return .uint64
        case "b1", "?": return .bool
        default: throw NPYError.unsupportedDType(descr: descr)
        }
    }
}

/// A parser for the small subset of Python literals a .npy header uses: a dict with string keys
/// whose values are strings, True/False, or tuples of integers (other values are kept as `.other`).
struct HeaderParser {
    enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case tuple([Int])
        case other
    }

    private let chars: [Character]
    private var index = 0

    init(_ text: String) { chars = Array(text) }

    mutating func parseDictionary() throws -> [String: Value] {
        skipSpace()
        try expect("{")
        var result: [String: Value] = [:]
        while true {
            skipSpace()
            if peek() == "}" {
                index += 1
                break
            }
            guard case .string(let key) = try parseValue() else {
                throw NPYError.malformedHeader("dictionary keys must be strings")
            }
            skipSpace()
            try expect(":")
            skipSpace()
            guard result[key] == nil else { throw NPYError.malformedHeader("key '\(key)' appears twice") }
            result[key] = try parseValue()
            skipSpace()
            if peek() == "," {
                index += 1
                continue
            }
            skipSpace()
            if peek() == "}" {
                index += 1
                break
            }
            throw NPYError.malformedHeader("expected ',' or '}' at character \(index)")
        }
        return result
    }

    private mutating func parseValue() throws -> Value {
        skipSpace()
        guard let c = peek() else { throw NPYError.malformedHeader("unexpected end of header") }
        switch c {
        case "'", "\"":
            index += 1
            var s = ""
            while let d = peek(), d != c {
                s.append(d)
                index += 1
            }
            try expect(c)
            return .string(s)
        case "(":
            index += 1
            var items: [Int] = []
            while true {
                skipSpace()
                if peek() == ")" {
                    index += 1
                    break
                }
                var digits = ""
                if peek() == "-" {
                    digits.append("-")
                    index += 1
                }
                while let d = peek(), d.isASCII, d.isNumber {
                    digits.append(d)
                    index += 1
                }
                if peek() == "L" { index += 1 } // Python 2 long suffix
                guard let value = Int(digits) else {
                    if digits.count > 1 { throw NPYError.shapeOverflow(shape: "(\(digits), …)") }
                    throw NPYError.malformedHeader("shape entries must be integers near character \(index)")
                }
                items.append(value)
                skipSpace()
                if peek() == "," {
                    index += 1
                } else if peek() != ")" {
                    throw NPYError.malformedHeader("expected ',' or ')' in shape at character \(index)")
                }
            }
            return .tuple(items)
        case "[":
            // A structured dtype (list of fields): skip it as an unsupported value.
            var depth = 0
            while let d = peek() {
                if d == "[" { depth += 1 } else if d == "]" { depth -= 1 }
                index += 1
                if depth == 0 { break }
            }
            return .other
        default:
            var word = ""
            while let d = peek(), d.isLetter || d.isNumber {
                word.append(d)
                index += 1
            }
            if word == "True" { return .bool(true) }
            if word == "False" { return .bool(false) }
            throw NPYError.malformedHeader(
                "unexpected value '\(word.isEmpty ? String(c) : word)' at character \(index)")
        }
    }

    private func peek() -> Character? { index < chars.count ? chars[index] : nil }
    private mutating func skipSpace() { while let c = peek(), c == " " || c == "\n" || c == "\t" { index += 1 } }
    private mutating func expect(_ c: Character) throws {
        guard peek() == c else { throw NPYError.malformedHeader("expected '\(c)' at character \(index)") }
        index += 1
    }
}
