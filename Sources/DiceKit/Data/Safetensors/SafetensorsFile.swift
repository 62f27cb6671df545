// The .safetensors format (Hugging Face, https://github.com/huggingface/safetensors):
//
//   header length N (u64 little-endian) | N bytes of UTF-8 JSON | data section
//
// The JSON object maps each tensor name to {"dtype": "F32", "shape": [2, 3],
// "data_offsets": [begin, end]} (byte offsets into the data section, end exclusive), plus an
// optional "__metadata__" object of string → string. The writer pads the header with spaces so
// the data section starts at a multiple of 8 bytes, and orders tensors by element size
// (largest first) then name, so every tensor is aligned to its element size.
//
// The reader checks everything a file can lie about before it touches the data: the header
// length against the file size, the JSON structure, each dtype, each shape's element count
// against its byte range, ranges inside the data section and not overlapping.

import Foundation

/// The contents of a `.safetensors` file: named tensors and string metadata.
///
/// PyTorch's `safetensors.torch.save_file(state_dict, path)` writes this format; DiceKit's
/// checkpoints use PyTorch's names and layouts so either side can load the other's files.
public struct SafetensorsFile: Sendable, Equatable {
    /// The tensors by name.
    public var tensors: [String: SafetensorsTensor]
    /// The `__metadata__` strings (empty when the file has none).
    public var metadata: [String: String]

    /// A file holding the given tensors and metadata (both default to empty).
    public init(tensors: [String: SafetensorsTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// The tensor called `name` converted to a DiceKit tensor of `T`.
    ///
    /// - Throws: `SafetensorsError.missingTensor` when there is no such tensor.
    public func tensor<T: BLASScalar>(named name: String, as type: T.Type = T.self) throws -> Tensor<T> {
        guard let entry = tensors[name] else { throw SafetensorsError.missingTensor(name) }
        return entry.tensor(of: T.self)
    }

    /// Stores a DiceKit tensor under `name` as F32 (Float) or F64 (Double).
    public mutating func setTensor<T: BLASScalar>(_ tensor: Tensor<T>, named name: String) {
        tensors[name] = SafetensorsTensor(tensor)
    }

    // MARK: - Files

    /// Reads a `.safetensors` file.
    ///
    /// - Throws: `SafetensorsError` naming what is wrong with the file.
    public static func read(contentsOf path: String) throws -> SafetensorsFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SafetensorsError.io(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw SafetensorsError.io(path: path, reason: "is a directory; expected a .safetensors file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafetensorsError.io(path: path, reason: "cannot be read")
        }
        return try decode([UInt8](data))
    }

    /// Writes the file atomically: a temporary file in the same directory is renamed into place,
    /// so an interrupted write leaves any previous file at `path` intact.
    ///
    /// - Throws: `SafetensorsError.io` when the file cannot be written.
    public func write(to path: String) throws {
        try write(to: path, failAfterBytes: nil)
    }

    /// Test hook: `write(to:)` with a failure injected after `failAfterBytes` bytes.
    func write(to path: String, failAfterBytes: Int?) throws {
        do {
            try AtomicFile.write(encode(), to: path, failAfterBytes: failAfterBytes)
        } catch DiceKitError.file(_, let reason) {
            throw SafetensorsError.io(path: path, reason: reason)
        }
    }

    // MARK: - Bytes

    /// The bytes of the file: header length, JSON header, data.
    public func encode() -> [UInt8] {
        let order = tensors.keys.sorted { a, b in
            let (sa, sb) = (tensors[a]!.dtype.size, tensors[b]!.dtype.size)
            return sa != sb ? sa > sb : a < b
        }
        var fields = [String]()
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for name in order {
            let entry = tensors[name]!
            let shape = entry.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + entry.data.count)]}")
            offset += entry.data.count
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        for name in order { bytes += tensors[name]!.data }
        return bytes
    }

    /// Parses the bytes of a `.safetensors` file.
    ///
    /// - Throws: `SafetensorsError` naming what is wrong.
    public static func decode(_ bytes: [UInt8]) throws -> SafetensorsFile {
        guard bytes.count >= 8 else { throw SafetensorsError.badHeaderLength(length: 0, fileSize: bytes.count) }
        let length = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length >= 2, length <= UInt64(bytes.count - 8) else {
            throw SafetensorsError.badHeaderLength(length: length, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(length)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
        } catch {
            throw SafetensorsError.malformedHeader("the header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw SafetensorsError.malformedHeader("the header is not a JSON object")
        }
        var file = SafetensorsFile()
        var ranges = [(name: String, begin: Int, end: Int)]()
        let available = bytes.count - dataStart
        for (name, value) in object {
            if name == "__metadata__" {
                guard let strings = value as? [String: String] else {
                    throw SafetensorsError.malformedHeader("__metadata__ must map strings to strings")
                }
                file.metadata = strings
                continue
            }
            let info = try TensorInfo(name: name, json: value)
            ranges.append((name, info.begin, info.end))
            guard info.end <= available else { continue }  // reported as truncation below
            file.tensors[name] = try SafetensorsTensor(
                dtype: info.dtype, shape: info.shape, data: Array(bytes[(dataStart + info.begin)..<(dataStart + info.end)]))
        }
        if let needed = ranges.map(\.end).max(), needed > available {
            throw SafetensorsError.truncated(expectedBytes: needed, actualBytes: available)
        }
        ranges.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.begin < a.end && b.begin < b.end && a.begin < a.end {
            throw SafetensorsError.overlappingTensors(a.name, b.name)
        }
        return file
    }
}

/// One tensor's entry in the JSON header, validated.
private struct TensorInfo {
    let dtype: SafetensorsDType
    let shape: [Int]
    let begin: Int
    let end: Int

    init(name: String, json: Any) throws {
        guard let fields = json as? [String: Any] else {
            throw SafetensorsError.malformedHeader("entry '\(name)' is not an object")
        }
        guard let dtypeName = fields["dtype"] as? String else {
            throw SafetensorsError.malformedHeader("entry '\(name)' has no string 'dtype'")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw SafetensorsError.unknownDType(tensor: name, dtype: dtypeName)
        }
        guard let shape = integerList(fields["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw SafetensorsError.malformedHeader("entry '\(name)' needs 'shape': a list of integers ≥ 0")
        }
        guard let offsets = integerList(fields["data_offsets"]), offsets.count == 2 else {
            throw SafetensorsError.malformedHeader("entry '\(name)' needs 'data_offsets': [begin, end]")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, end >= begin else {
            throw SafetensorsError.badOffsets(tensor: name, reason: "[\(begin), \(end)] is not a range with 0 ≤ begin ≤ end")
        }
        guard let count = Tensor<Float>.elementCount(shape),
              count.multipliedReportingOverflow(by: dtype.size) == (end - begin, false) else {
            throw SafetensorsError.badOffsets(
                tensor: name, reason: "[\(begin), \(end)] holds \(end - begin) bytes; shape \(shape) of \(dtypeName) needs \(Tensor<Float>.elementCount(shape).map { "\($0 * dtype.size)" } ?? "too many")")
        }
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }
}

/// A JSON array of whole numbers, or nil.
private func integerList(_ value: Any?) -> [Int]? {
    guard let array = value as? [Any] else { return nil }
    var result = [Int]()
    for element in array {
        guard let number = element as? NSNumber else { return nil }
        let integer = number.int64Value
        guard Double(integer) == number.doubleValue else { return nil }
        result.append(Int(integer))
    }
    return result
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
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
