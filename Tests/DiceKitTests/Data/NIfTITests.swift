// NIfTI through libnifti2: every layout of Fixtures/nifti (made by nibabel,
// Scripts/make_nifti_fixtures.py) reads as nibabel reads it, in DiceKit's axis order; written label
// maps and float volumes read back with the reference's geometry; hostile files (truncated,
// not NIfTI, lying extents, NaN, fractional labels) give typed one-line errors.

import Foundation
import XCTest

@testable import DiceKit

final class NIfTITests: XCTestCase {
    private struct Case: Decodable {
        let file: String
        let kind: String
        let error: String?
        let extents: [Int]?
        let channels: Int?
        let spacing: [Double]?
        let values: [Double]?
    }

    private struct Expected: Decodable { let cases: [Case] }

    private func cases() throws -> [Case] {
        let data = try Data(contentsOf: fixtureURL("nifti/expected.json"))
        return try JSONDecoder().decode(Expected.self, from: data).cases
    }

    func testEveryFixtureReadsAsNibabelReadsIt() throws {
        let all = try cases()
        XCTAssertEqual(all.count, 10)
        for item in all {
            let path = fixtureURL("nifti/" + item.file).path
            if let error = item.error {
                let thrown: Error?
                do {
                    if item.kind == "labels" {
                        _ = try NIfTI.readLabels(contentsOf: path)
                    } else {
                        _ = try NIfTI.read(contentsOf: path)
                    }
                    thrown = nil
                } catch { thrown = error }
                guard case .invalidValue(_, let reason)? = thrown as? NIfTIError else {
                    XCTFail("\(item.file): expected an invalid value error, got \(String(describing: thrown))")
                    continue
                }
                XCTAssertTrue(reason.hasPrefix(error), "\(item.file): \(reason)")
                continue
            }
            let expected = item.values!
            if item.kind == "labels" {
                let map = try NIfTI.readLabels(contentsOf: path)
                XCTAssertEqual(map.extents, item.extents, item.file)
                XCTAssertEqual(map.labels.map(Double.init), expected, item.file)
                assertSpacing(map.spacing, item.spacing!, item.file)
            } else {
                let volume = try NIfTI.read(contentsOf: path)
                XCTAssertEqual(volume.extents, item.extents, item.file)
                XCTAssertEqual(volume.channels, item.channels, item.file)
                assertSpacing(volume.spacing, item.spacing!, item.file)
                XCTAssertEqual(volume.values.count, expected.count, item.file)
                for (value, golden) in zip(volume.values, expected) {
                    // Float32 storage of float64 or scaled values: within one Float ulp.
                    XCTAssertEqual(Double(value), golden, accuracy: 1e-6 * max(1, abs(golden)), item.file)
                }
            }
        }
    }

    private func assertSpacing(_ spacing: [Double], _ golden: [Double], _ file: String) {
        XCTAssertEqual(spacing.count, 3, file)
        for (a, b) in zip(spacing, golden) { XCTAssertEqual(a, b, accuracy: 1e-6, file) }
    }

    func testWrittenLabelsKeepTheReferenceGeometryAndValues() throws {
        let directory = try temporaryDirectory(self)
        let reference = fixtureURL("nifti/image_4d.nii.gz").path
        let extents = [3, 4, 5]
        let small: [Int32] = (0..<60).map { Int32($0 % 3) }
        let wide: [Int32] = (0..<60).map { Int32($0 * 40 - 300) }
        let huge: [Int32] = (0..<60).map { Int32($0 == 7 ? 100_000 : $0) }
        let cases: [(String, [Int32])] = [("small.nii.gz", small), ("wide.nii", wide), ("huge.nii.gz", huge)]
        for (name, labels) in cases {
            let path = directory.appendingPathComponent(name).path
            try NIfTI.writeLabels(labels, extents: extents, to: path, geometryOf: reference)
            let back = try NIfTI.readLabels(contentsOf: path)
            XCTAssertEqual(back.labels, labels, name)
            XCTAssertEqual(back.extents, extents, name)
            assertSpacing(back.spacing, [2.5, 0.8, 0.8], name)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
                $0.hasPrefix(".")
            }
            XCTAssertEqual(leftovers, [], "temporary files left by \(name)")
        }
        let values = (0..<120).map { Float($0) / 7 }
        let path = directory.appendingPathComponent("probabilities.nii.gz").path
        try NIfTI.write(values, extents: extents, channels: 2, to: path, geometryOf: nil)
        let back = try NIfTI.read(contentsOf: path)
        XCTAssertEqual(back.values, values)
        XCTAssertEqual(back.channels, 2)
        XCTAssertEqual(back.spacing, [1, 1, 1])
    }

    func testWritingRefusesWhatIsNotAVolumeAndKeepsTheOldFile() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("out.nii.gz").path
        try NIfTI.writeLabels([Int32](repeating: 1, count: 8), extents: [2, 2, 2], to: path, geometryOf: nil)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try NIfTI.writeLabels([1, 2], extents: [2, 2, 2], to: path, geometryOf: nil)) {
            XCTAssertTrue("\($0)".contains("2 values for extents [2, 2, 2]"), "\($0)")
        }
        XCTAssertThrowsError(
            try NIfTI.writeLabels(
                [Int32](repeating: 0, count: 8), extents: [2, 2, 2], to: path,
                geometryOf: fixtureURL("nifti/image_f32.nii.gz").path)
        ) { XCTAssertTrue("\($0)".contains("whose extents are [3, 4, 5]"), "\($0)") }
        XCTAssertThrowsError(
            try NIfTI.writeLabels(
                [Int32](repeating: 0, count: 8), extents: [2, 2, 2], to: path + ".png", geometryOf: nil)
        ) { XCTAssertTrue("\($0)".contains("expected a .nii or .nii.gz"), "\($0)") }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        let missing = directory.appendingPathComponent("no/such/folder/x.nii.gz").path
        XCTAssertThrowsError(
            try NIfTI.writeLabels([Int32](repeating: 0, count: 8), extents: [2, 2, 2], to: missing, geometryOf: nil)
        ) { XCTAssertTrue($0 is NIfTIError, "\($0)") }
    }

    func testHostileFilesGiveOneLineErrors() throws {
        let directory = try temporaryDirectory(self)
        let source = try Data(contentsOf: fixtureURL("nifti/image_i16_scaled.nii"))
        func attempt(_ bytes: Data, _ name: String = "bad.nii") -> String {
            let path = directory.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: path, contents: bytes)
            do {
                _ = try NIfTI.read(contentsOf: path)
                return "read"
            } catch {
                XCTAssertTrue(error is NIfTIError, "\(error)")
                XCTAssertFalse("\(error)".contains("\n"), "\(error)")
                return "\(error)"
            }
        }
        XCTAssertTrue(attempt(Data("not a volume at all".utf8)).contains("not a NIfTI file"))
        XCTAssertTrue(attempt(source.prefix(352 + 50)).contains("truncated NIfTI file"))
        // dim[1] (int16 at byte 42) set to 30000, dim[2] and dim[3] as well: 2.7·10¹³ voxels.
        var lying = source
        for offset in [42, 44, 46] { lying.replaceSubrange(offset..<(offset + 2), with: [0x30, 0x75]) }
        XCTAssertTrue(attempt(lying).contains("more than 1073741824 voxels"), attempt(lying))
        var complex = source
        complex.replaceSubrange(70..<72, with: [32, 0]) // datatype 32 = complex64
        XCTAssertTrue(attempt(complex).contains("datatype"), attempt(complex))
        // (libnifti itself reads an extent or a spacing ≤ 0 as 1, as ITK does.)
        XCTAssertTrue("\(NIfTIError.io(path: "x", reason: "no such file"))" == "x: no such file")
        XCTAssertThrowsError(try NIfTI.read(contentsOf: directory.appendingPathComponent("absent.nii").path)) {
            XCTAssertTrue("\($0)".hasSuffix("no such file"), "\($0)")
        }
        XCTAssertThrowsError(try NIfTI.readLabels(contentsOf: fixtureURL("nifti/image_4d.nii.gz").path)) {
            XCTAssertTrue("\($0)".contains("a label map of 2 channels"), "\($0)")
        }
    }

    func testTheHostileFileMatrixNeverCrashes() throws {
        // Every prefix length and a flipped byte at every header position: a typed error or a read.
        let directory = try temporaryDirectory(self)
        let source = try Data(contentsOf: fixtureURL("nifti/image_f32.nii.gz"))
        let path = directory.appendingPathComponent("m.nii.gz").path
        // The last 8 bytes are gzip's CRC and length: without them every voxel is still there.
        for length in stride(from: 0, to: source.count - 8, by: 7) {
            _ = FileManager.default.createFile(atPath: path, contents: source.prefix(length))
            XCTAssertThrowsError(try NIfTI.read(contentsOf: path), "prefix \(length)")
        }
        let plain = try Data(contentsOf: fixtureURL("nifti/image_i16_scaled.nii"))
        let raw = directory.appendingPathComponent("m.nii").path
        for offset in 0..<352 {
            var bytes = plain
            bytes[offset] ^= 0xA5
            _ = FileManager.default.createFile(atPath: raw, contents: bytes)
            do { _ = try NIfTI.read(contentsOf: raw) } catch {
                XCTAssertTrue(error is NIfTIError, "\(offset): \(error)")
            }
        }
    }
}
