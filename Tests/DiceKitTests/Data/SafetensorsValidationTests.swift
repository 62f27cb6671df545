// The safetensors reader against hostile headers: byte counts that overflow Int (the message
// must be formatted without overflowing too), duplicate names, huge or non-integer numbers,
// offsets beyond the file, and an over-long header. Each rejection is checked in the header-only
// reader too (`readMetadata(contentsOf:)`), which must throw the same error as a whole read.

import XCTest

@testable import DiceKit

final class SafetensorsValidationTests: XCTestCase {
    private func file(header: String, data: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        return bytes + Array(header.utf8) + data
    }

    /// Decoding `bytes` throws a one-line `SafetensorsError` whose text contains `fragment`, and
    /// reading only the metadata of a file of these bytes throws the same error.
    private func assertRejects(
        _ bytes: [UInt8], mentioning fragment: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        var decodeError: SafetensorsError?
        XCTAssertThrowsError(try SafetensorsFile.decode(bytes), file: file, line: line) { error in
            guard let error = error as? SafetensorsError else {
                return XCTFail("untyped \(error)", file: file, line: line)
            }
            decodeError = error
            XCTAssertTrue(error.description.contains(fragment), "\(error)", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
        }
        assertHeaderReadThrows(decodeError, for: bytes, file: file, line: line)
    }

    /// `readMetadata(contentsOf:)` on a file holding `bytes` throws `expected`.
    private func assertHeaderReadThrows(
        _ expected: SafetensorsError?, for bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let path = try temporaryDirectory(self).appendingPathComponent("hostile.safetensors").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try SafetensorsFile.readMetadata(contentsOf: path), file: file, line: line) {
                XCTAssertEqual($0 as? SafetensorsError, expected, file: file, line: line)
            }
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    func testShapeWhoseByteCountOverflowsIsAnErrorNotATrap() {
        // 2⁶² · 2⁶² elements, and 2⁶¹ F64 elements whose byte count alone overflows.
        assertRejects(
            file(
                header:
                    #"{"a": {"dtype": "F32", "shape": [4611686018427387904, 4611686018427387904], "data_offsets": [0, 4]}}"#,
                data: [0, 0, 0, 0]), mentioning: "more than \(Int.max)")
        assertRejects(
            file(
                header: #"{"a": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 8]}}"#,
                data: .init(repeating: 0, count: 8)), mentioning: "more than \(Int.max)")
    }

    func testNumbersBeyondInt64AreMalformedNotATrap() {
        for number in ["1e300", "9223372036854775808", "18446744073709551616", "1.5", "-1e30", "true"] {
            assertRejects(
                file(
                    header: #"{"a": {"dtype": "F32", "shape": [\#(number)], "data_offsets": [0, 4]}}"#,
                    data: [0, 0, 0, 0]),
                mentioning: "'shape'")
            assertRejects(
                file(
                    header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, \#(number)]}}"#,
                    data: [0, 0, 0, 0]),
                mentioning: "a")
        }
    }

    func testOffsetsBeyondTheFileAreTruncationNotACopy() {
        assertRejects(
            file(
                header:
                    #"{"a": {"dtype": "U8", "shape": [4611686018427387904], "data_offsets": [0, 4611686018427387904]}}"#
            ),
            mentioning: "truncated")
        assertRejects(
            file(
                header:
                    #"{"a": {"dtype": "U8", "shape": [4], "data_offsets": [4611686018427387900, 4611686018427387904]}}"#
            ),
            mentioning: "truncated")
        // Int64.max is not exact as a JSON number read through a Double: refused as malformed.
        assertRejects(
            file(header: #"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 9223372036854775807]}}"#),
            mentioning: "data_offsets")
    }

    func testDuplicateTensorNamesAreRefused() {
        let entry = #"{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}"#
        let other = #"{"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}"#
        let data = [UInt8](repeating: 0, count: 8)
        assertRejects(file(header: #"{"w": \#(entry), "w": \#(other)}"#, data: data), mentioning: "'w' appears twice")
        // The same key spelled with an escape is the same name.
        assertRejects(
            file(header: #"{"w": \#(entry), "\u0077": \#(other)}"#, data: data), mentioning: "'w' appears twice")
        // A key repeated inside an entry is refused too.
        assertRejects(
            file(header: #"{"w": {"dtype": "F32", "dtype": "F64", "shape": [1], "data_offsets": [0, 4]}}"#, data: data),
            mentioning: "'dtype' appears twice")
        // Equal strings that are values, not keys, are fine.
        XCTAssertNoThrow(
            try SafetensorsFile.decode(
                file(header: #"{"a": \#(entry), "b": \#(other), "__metadata__": {"x": "a", "y": "a"}}"#, data: data)))
    }

    func testHeaderLongerThanTheLimitIsRefused() {
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(SafetensorsFile.maximumHeaderLength + 8).littleEndian) { bytes += $0 }
        bytes += [UInt8](repeating: 0x20, count: SafetensorsFile.maximumHeaderLength + 8)
        XCTAssertThrowsError(try SafetensorsFile.decode(bytes)) {
            guard case SafetensorsError.badHeaderLength = $0 else { return XCTFail("\($0)") }
        }
        assertHeaderReadThrows(
            .badHeaderLength(length: UInt64(SafetensorsFile.maximumHeaderLength + 8), fileSize: bytes.count), for: bytes
        )
    }

    /// Files too short for their header: fewer than 8 bytes, or a length beyond the file.
    func testShortFilesAreRefusedByBothReaders() {
        assertRejects([1, 0, 0], mentioning: "header length")
        assertRejects([], mentioning: "header length")
        assertRejects(file(header: #"{"a": 1}"#).dropLast(2), mentioning: "header length")
    }

    /// The header-only read gives the metadata a whole read gives, without the tensors' bytes.
    func testReadingTheMetadataAloneGivesTheWholeReadsMetadata() throws {
        var saved = SafetensorsFile(metadata: ["epoch": "3", "options": #"{"base": "16"}"#])
        saved.setTensor(Tensor<Float>(shape: [2, 3], repeating: 1.5), named: "w")
        saved.setTensor(Tensor<Double>(shape: [4], repeating: -2), named: "b")
        let path = try temporaryDirectory(self).appendingPathComponent("saved.safetensors").path
        try saved.write(to: path)
        XCTAssertEqual(try SafetensorsFile.readMetadata(contentsOf: path), saved.metadata)
        XCTAssertEqual(try SafetensorsFile.read(contentsOf: path), saved)
    }

    func testNestedOverlapIsFound() {
        // b lies inside a but does not overlap its immediate neighbour in sorted order.
        let header =
            #"{"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}, "b": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}, "c": {"dtype": "U8", "shape": [1], "data_offsets": [4, 5]}}"#
        assertRejects(file(header: header, data: .init(repeating: 0, count: 8)), mentioning: "overlap")
    }

    func testReadingADeviceOrDirectoryIsAOneLineError() throws {
        let directory = try temporaryDirectory(self).path
        let reads: [(String) throws -> Any] = [
            { try SafetensorsFile.read(contentsOf: $0) }, { try SafetensorsFile.readMetadata(contentsOf: $0) },
        ]
        for read in reads {
            XCTAssertThrowsError(try read("/dev/zero")) {
                XCTAssertEqual($0 as? SafetensorsError, .io(path: "/dev/zero", reason: "is not a regular file"))
            }
            XCTAssertThrowsError(try read(directory)) {
                XCTAssertEqual(
                    $0 as? SafetensorsError,
                    .io(path: directory, reason: "is a directory; expected a .safetensors file"))
            }
            XCTAssertThrowsError(try read(directory + "/none.safetensors")) {
                XCTAssertEqual(
                    $0 as? SafetensorsError, .io(path: directory + "/none.safetensors", reason: "no such file"))
            }
        }
    }

    /// The byte-count check of an in-memory tensor throws its format's error in both readers:
    /// `SafetensorsError.byteCount` here, `NPYError.truncated` / `.trailingData` for `.npy`.
    func testByteCountMismatchThrowsTheFormatError() throws {
        XCTAssertThrowsError(try SafetensorsTensor(dtype: .float32, shape: [2], data: [UInt8](repeating: 0, count: 7)))
        { error in
            XCTAssertEqual(error as? SafetensorsError, .byteCount(shape: [2], dtype: .float32, actualBytes: 7))
            XCTAssertEqual("\(error)", "shape [2] of F32 needs 2 × 4 bytes, got 7")
        }
        XCTAssertThrowsError(try SafetensorsTensor(dtype: .int64, shape: [-1], data: [])) { error in
            XCTAssertEqual(error as? SafetensorsError, .invalidShape([-1]))
        }
        XCTAssertThrowsError(try NPYArray(dtype: .float32, shape: [2], data: [UInt8](repeating: 0, count: 7))) {
            error in
            XCTAssertEqual(error as? NPYError, .truncated(expectedBytes: 8, actualBytes: 7))
        }
        XCTAssertThrowsError(try NPYArray(dtype: .float32, shape: [2], data: [UInt8](repeating: 0, count: 9))) {
            error in
            XCTAssertEqual(error as? NPYError, .trailingData(expectedBytes: 8, actualBytes: 9))
        }
    }
}
