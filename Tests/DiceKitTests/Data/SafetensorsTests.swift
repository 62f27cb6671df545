// Safetensors: interop with the Python reference package, round trips, atomic writes, and one
// test per way a malformed file must be rejected.

import XCTest

@testable import DiceKit

final class SafetensorsTests: XCTestCase {
    /// Made by Scripts/make_safetensors_fixtures.py with safetensors 0.8 / torch 2.15.
    func testReadsFileWrittenByPythonSafetensors() throws {
        let file = try SafetensorsFile.read(contentsOf: fixtureURL("safetensors/reference.safetensors").path)
        XCTAssertEqual(file.metadata, ["format": "pt", "origin": "make_safetensors_fixtures"])
        XCTAssertEqual(file.names, ["brain", "bytes", "counter", "double", "half", "labels", "weight"])
        let weight = try file.tensor(named: "weight", as: Float.self)
        XCTAssertEqual(weight.shape, [2, 3])
        XCTAssertEqual(weight.scalars, [-0.5, -0.25, 0, 0.25, 0.5, 0.75])
        XCTAssertEqual(try file.tensor(named: "double", as: Double.self).scalars, [1.0 / 3, -2.5, 1e-300, 6.02e23])
        XCTAssertEqual(try file.tensors["labels"]!.integers(), [0, 1, 2, -7])
        XCTAssertEqual(file.tensors["counter"]!.shape, [])
        XCTAssertEqual(try file.tensors["counter"]!.integers(), [12_345_678_901])
        XCTAssertEqual(try file.tensor(named: "half", as: Float.self).scalars, [0.5, -2, 65504])
        XCTAssertEqual(try file.tensor(named: "brain", as: Float.self).scalars, [1.5, -3])
        XCTAssertEqual(try file.tensors["bytes"]!.integers(), [0, 128, 255])
        XCTAssertThrowsError(try file.tensor(named: "nope", as: Float.self)) {
            XCTAssertEqual($0 as? SafetensorsError, .missingTensor("nope"))
        }
    }

    func testRoundTripPreservesEverything() throws {
        var file = SafetensorsFile(metadata: ["epoch": "3", "quote\"d": "a\\b\nc"])
        file.setTensor(Tensor<Float>(shape: [2, 2], repeating: 1.25), named: "down.0.0.weight")
        file.setTensor(Tensor<Double>([1, 2, 3]), named: "ä/ü")
        file.tensors["bn.num_batches_tracked"] = try SafetensorsTensor(integers: [7], shape: [])
        file.tensors["empty"] = try SafetensorsTensor(dtype: .float32, shape: [0, 3], data: [])
        let bytes = file.encode()
        XCTAssertEqual((8 + Int(bytes[0]) + Int(bytes[1]) << 8) % 8, 0, "the data section starts 8-byte aligned")
        XCTAssertEqual(try SafetensorsFile.decode(bytes), file)
        let path = try temporaryDirectory(self).appendingPathComponent("a.safetensors").path
        try file.write(to: path)
        XCTAssertEqual(try SafetensorsFile.read(contentsOf: path), file)
    }

    func testInterruptedWriteLeavesPreviousFileLoadable() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("checkpoint.safetensors").path
        var old = SafetensorsFile()
        old.setTensor(Tensor<Float>([1, 2, 3]), named: "w")
        try old.write(to: path)
        var new = SafetensorsFile()
        new.setTensor(Tensor<Float>(shape: [1000], repeating: 9), named: "w")
        for cut in [0, 5, 100, new.encode().count] {
            XCTAssertThrowsError(try new.write(to: path, failAfterBytes: cut)) { error in
                guard case SafetensorsError.io = error else { return XCTFail("\(error)") }
            }
            XCTAssertEqual(try SafetensorsFile.read(contentsOf: path), old, "cut after \(cut) bytes")
        }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: directory.path), ["checkpoint.safetensors"],
            "no temporary file is left behind")
        try new.write(to: path)
        XCTAssertEqual(try SafetensorsFile.read(contentsOf: path), new)
    }

    func testWriteToMissingDirectoryThrows() {
        XCTAssertThrowsError(try SafetensorsFile().write(to: "/nonexistent-dir/x.safetensors")) { error in
            guard case SafetensorsError.io = error else { return XCTFail("\(error)") }
        }
    }

    // MARK: - Malformed files

    private func file(header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        var bytes = [UInt8]()
        withUnsafeBytes(of: (length ?? UInt64(header.utf8.count)).littleEndian) { bytes += $0 }
        return bytes + Array(header.utf8) + data
    }

    private func assertRejects(
        _ bytes: [UInt8], _ check: (SafetensorsError) -> Bool,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try SafetensorsFile.decode(bytes), file: file, line: line) { error in
            guard let error = error as? SafetensorsError else {
                return XCTFail("untyped \(error)", file: file, line: line)
            }
            XCTAssertTrue(check(error), "unexpected \(error)", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
        }
    }

    func testRejectsBadHeaderLength() {
        assertRejects([1, 2, 3]) {
            if case .badHeaderLength = $0 { return true }
            return false
        }
        assertRejects(file(header: "{}", length: 1000)) {
            if case .badHeaderLength = $0 { return true }
            return false
        }
        assertRejects(file(header: "{}", length: UInt64.max)) {
            if case .badHeaderLength = $0 { return true }
            return false
        }
        assertRejects(file(header: "", length: 0)) {
            if case .badHeaderLength = $0 { return true }
            return false
        }
    }

    func testRejectsMalformedJSON() {
        assertRejects(file(header: "{\"a\": ")) {
            if case .malformedHeader = $0 { return true }
            return false
        }
        assertRejects(file(header: "[1, 2]")) {
            if case .malformedHeader = $0 { return true }
            return false
        }
        assertRejects(file(header: #"{"a": {"dtype": "F32", "shape": [1]}}"#, data: [0, 0, 0, 0])) {
            if case .malformedHeader = $0 { return true }
            return false
        }
        assertRejects(file(header: #"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#)) {
            if case .malformedHeader = $0 { return true }
            return false
        }
        assertRejects(file(header: #"{"__metadata__": {"a": 1}}"#)) {
            if case .malformedHeader = $0 { return true }
            return false
        }
    }

    func testRejectsUnknownDType() {
        assertRejects(
            file(
                header: #"{"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}"#,
                data: .init(repeating: 0, count: 8))
        ) {
            $0 == .unknownDType(tensor: "a", dtype: "C64")
        }
    }

    func testRejectsOffsetsThatDoNotMatchTheShape() {
        assertRejects(
            file(
                header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#,
                data: .init(repeating: 0, count: 8))
        ) {
            if case .badOffsets(tensor: "a", _) = $0 { return true }
            return false
        }
        assertRejects(
            file(
                header: #"{"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}"#,
                data: .init(repeating: 0, count: 8))
        ) {
            if case .badOffsets(tensor: "a", _) = $0 { return true }
            return false
        }
    }

    func testRejectsOverlappingTensors() {
        let header =
            #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#
        assertRejects(file(header: header, data: .init(repeating: 0, count: 8))) {
            $0 == .overlappingTensors("a", "b") || $0 == .overlappingTensors("b", "a")
        }
    }

    func testRejectsTruncatedData() throws {
        var good = SafetensorsFile()
        good.setTensor(Tensor<Double>([1, 2, 3, 4]), named: "x")
        let bytes = good.encode()
        assertRejects(Array(bytes.dropLast(3))) { $0 == .truncated(expectedBytes: 32, actualBytes: 29) }
    }

    func testMissingFileAndDirectory() throws {
        XCTAssertThrowsError(try SafetensorsFile.read(contentsOf: "/nonexistent.safetensors")) {
            XCTAssertEqual($0 as? SafetensorsError, .io(path: "/nonexistent.safetensors", reason: "no such file"))
        }
        let directory = try temporaryDirectory(self).path
        XCTAssertThrowsError(try SafetensorsFile.read(contentsOf: directory))
    }

    func testIntegerConversionErrors() throws {
        XCTAssertThrowsError(try SafetensorsTensor(integers: [300], shape: [1], dtype: .uint8)) {
            XCTAssertEqual($0 as? SafetensorsError, .unencodableInteger(value: 300, dtype: .uint8))
            XCTAssertEqual("\($0)", "integer 300 does not fit dtype U8")
        }
        XCTAssertThrowsError(try SafetensorsTensor(integers: [1], shape: [1], dtype: .float32)) {
            XCTAssertEqual($0 as? SafetensorsError, .unencodableInteger(value: nil, dtype: .float32))
        }
        XCTAssertThrowsError(try SafetensorsTensor(Tensor<Float>([0.5])).integers(name: "w")) {
            guard case SafetensorsError.conversion(tensor: "w", _) = $0 else { return XCTFail("\($0)") }
        }
    }
}
