// The .npy reader against files written by NumPy (Scripts/make_npy_fixtures.py), round trips,
// and one test per malformed-file error.

import XCTest

@testable import DiceKit

final class NPYTests: XCTestCase {
    private func read(_ name: String) throws -> NPYArray {
        try NPY.read(contentsOf: fixtureURL("npy/\(name)").path)
    }

    private func assertError(_ name: String, _ expected: NPYError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try read(name), file: file, line: line) { error in
            XCTAssertEqual(error as? NPYError, expected, "\(name): \(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), "error messages are one line", file: file, line: line)
        }
    }

    func testEveryDTypeWrittenByNumPy() throws {
        for dtype in NPYDType.allCases {
            let array = try read("\(dtype.rawValue).npy")
            XCTAssertEqual(array.dtype, dtype)
            XCTAssertEqual(array.shape, [2, 3, 4])
            let expected = (0..<24).map { dtype == .bool ? Double($0 % 2) : Double($0) }
            XCTAssertEqual(array.tensor(of: Double.self).scalars, expected, "\(dtype)")
            XCTAssertEqual(try array.integers(), expected.map { Int($0) }, "\(dtype)")
        }
    }

    func testFormatVersionsAndShapes() throws {
        for version in [2, 3] {
            let array = try read("version\(version).npy")
            XCTAssertEqual(array.shape, [5, 2])
            XCTAssertEqual(array.tensor(of: Float.self).scalars, (0..<10).map(Float.init))
        }
        let scalar = try read("scalar.npy")
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.tensor(of: Double.self).scalars, [7.5])
        XCTAssertEqual(try read("vector.npy").shape, [6])
        let empty = try read("empty.npy")
        XCTAssertEqual(empty.shape, [0, 3])
        XCTAssertEqual(empty.count, 0)
    }

    func testRoundTripsOfTensorsAndIntegers() throws {
        let dir = try temporaryDirectory(self)
        var generator = SeededGenerator(seed: 1)
        let f = Tensor<Float>.normal([2, 3, 5], generator: &generator)
        let d = Tensor<Double>.normal([4, 1], generator: &generator)
        try NPY.write(f, to: dir.appendingPathComponent("f.npy").path)
        try NPY.write(d, to: dir.appendingPathComponent("d.npy").path)
        let fBack = try NPY.read(contentsOf: dir.appendingPathComponent("f.npy").path)
        XCTAssertEqual(fBack.dtype, .float32)
        XCTAssertEqual(fBack.tensor(of: Float.self), f)
        XCTAssertEqual(try NPY.read(contentsOf: dir.appendingPathComponent("d.npy").path).tensor(of: Double.self), d)
        for dtype in NPYDType.allCases where !dtype.isFloatingPoint {
            let values = dtype == .bool ? [0, 1, 1, 0, 1, 0] : [0, 1, 2, 3, 4, 5]
            let array = try NPYArray(integers: values, shape: [2, 3], dtype: dtype)
            let path = dir.appendingPathComponent("\(dtype).npy").path
            try NPY.write(array, to: path)
            let back = try NPY.read(contentsOf: path)
            XCTAssertEqual(back, array)
            XCTAssertEqual(try back.integers(), values)
        }
        // Every header is padded so the data starts at a multiple of 64 bytes, as NumPy does.
        let bytes = NPY.encode(NPYArray(f))
        XCTAssertEqual((bytes.count - f.count * 4) % 64, 0)
    }

    func testHeaderWrittenLikeNumPy() throws {
        // DiceKit's encoding of arange(24) float32 (2, 3, 4) is byte-identical to NumPy's.
        let numpy = try [UInt8](Data(contentsOf: fixtureURL("npy/float32.npy")))
        let ours = NPY.encode(NPYArray(try Tensor<Float>(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))))
        XCTAssertEqual(ours, numpy)
    }

    func testIntegerConversionErrors() throws {
        let fractional = NPYArray(Tensor<Float>([0, 1.5]))
        XCTAssertThrowsError(try fractional.integers()) {
            XCTAssertEqual($0 as? NPYError, .conversion("element 1 is 1.5; expected a whole-number label"))
        }
        XCTAssertThrowsError(try NPYArray(integers: [300], shape: [1], dtype: .uint8))
        XCTAssertThrowsError(try NPYArray(integers: [1, 2], shape: [3], dtype: .int32))
    }

    func testMalformedFilesGiveTypedOneLineErrors() {
        assertError("fortran.npy", .fortranOrder)
        assertError("bigendian.npy", .bigEndian(descr: ">f4"))
        assertError("object.npy", .objectDType(descr: "|O"))
        assertError("complex.npy", .unsupportedDType(descr: "<c8"))
        assertError("truncated.npy", .truncated(expectedBytes: 96, actualBytes: 86))
        assertError("trailing.npy", .trailingData(expectedBytes: 96, actualBytes: 104))
        assertError("lying_header.npy", .truncated(expectedBytes: 120, actualBytes: 96))
        assertError("overflow.npy", .shapeOverflow(shape: "(4294967296, 4294967296, 4)"))
        assertError("not_npy.npy", .notNPY)
        assertError("bad_version.npy", .unsupportedVersion(major: 9, minor: 0))
        assertError(
            "header_past_end.npy", .malformedHeader("header length 60000 runs past the end of the 40-byte file"))
        assertError("garbled_header.npy", .malformedHeader("missing key 'shape' or it is not a tuple of integers"))
        XCTAssertThrowsError(try NPY.read(contentsOf: "/nonexistent/x.npy")) {
            XCTAssertEqual($0 as? NPYError, .io(path: "/nonexistent/x.npy", reason: "no such file"))
        }
        XCTAssertThrowsError(try NPY.decode([])) { XCTAssertEqual($0 as? NPYError, .notNPY) }
        XCTAssertThrowsError(try NPY.write(Tensor<Float>([1]), to: "/nonexistent/dir/x.npy")) {
            guard case .io? = $0 as? NPYError else { return XCTFail("expected an io error, got \($0)") }
        }
    }
}
