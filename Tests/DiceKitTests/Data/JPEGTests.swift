// JPEG through libjpeg-turbo: lossy round trips for grey and RGB, and typed errors (never a
// crash, an exit or a hang) for files that are not JPEGs, are cut short, are corrupted byte by
// byte or claim absurd sizes.

import XCTest

@testable import DiceKit

final class JPEGTests: XCTestCase {
    /// A smooth pattern (JPEG keeps smooth images within a few grey levels).
    private func smooth(_ width: Int, _ height: Int, _ channels: Int) throws -> PNGImage {
        var pixels = [UInt8]()
        for y in 0..<height {
            for x in 0..<width {
                for k in 0..<channels { pixels.append(UInt8(min(x * 3 + y * 2 + k * 30 + 20, 255))) }
            }
        }
        return try PNGImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    private func meanAbsoluteError(_ a: PNGImage, _ b: PNGImage) -> Double {
        zip(a.pixels, b.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.pixels.count)
    }

    func testGreyAndRGBRoundTripWithinJPEGLoss() throws {
        let directory = try temporaryDirectory(self)
        for channels in [1, 3] {
            let image = try smooth(37, 21, channels)
            let path = directory.appendingPathComponent("c\(channels).jpg").path
            try JPEG.write(image, to: path, quality: 95)
            let read = try JPEG.read(contentsOf: path)
            XCTAssertEqual([read.width, read.height, read.channels], [37, 21, channels])
            XCTAssertLessThan(meanAbsoluteError(read, image), 3, "\(channels) channels")
        }
    }

    func testWriterRefusesAlphaAndBadQuality() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("x.jpg").path
        XCTAssertThrowsError(try JPEG.write(try smooth(4, 4, 4), to: path)) {
            XCTAssertEqual($0 as? JPEGError, .invalidImage("4 channels; expected 1 (grey) or 3 (RGB)"))
        }
        XCTAssertThrowsError(try JPEG.write(try smooth(4, 4, 3), to: path, quality: 0))
    }

    func testTypedErrorsForMissingEmptyAndForeignFiles() throws {
        let directory = try temporaryDirectory(self)
        XCTAssertThrowsError(try JPEG.read(contentsOf: directory.appendingPathComponent("none.jpg").path)) {
            guard case JPEGError.io(_, "no such file") = $0 else { return XCTFail("\($0)") }
        }
        let empty = directory.appendingPathComponent("empty.jpg").path
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertThrowsError(try JPEG.read(contentsOf: empty)) {
            XCTAssertEqual($0 as? JPEGError, .notJPEG(path: empty))
        }
        let png = directory.appendingPathComponent("really.png").path
        try PNG.write(try smooth(4, 4, 1), to: png)
        XCTAssertThrowsError(try JPEG.read(contentsOf: png)) { XCTAssertEqual($0 as? JPEGError, .notJPEG(path: png)) }
    }

    func testEveryTruncationThrows() throws {
        let bytes = try JPEG.encode(try smooth(24, 16, 3), quality: 80)
        // Every prefix that keeps the signature but loses the end-of-image marker.
        for length in 2..<(bytes.count - 2) {
            XCTAssertThrowsError(try JPEG.decode(Array(bytes.prefix(length))), "prefix of \(length) bytes") { error in
                guard let error = error as? JPEGError else { return XCTFail("\(error)") }
                switch error {
                case .truncated, .corrupt: break
                default: XCTFail("prefix of \(length) bytes: \(error)")
                }
                XCTAssertFalse(error.description.contains("\n"))
            }
        }
    }

    /// 600 mutated files by default; a long run: DICEKIT_JPEG_FUZZ=100000 swift test --filter JPEGTests.
    func testCorruptedBytesNeverCrash() throws {
        let trials = ProcessInfo.processInfo.environment["DICEKIT_JPEG_FUZZ"].flatMap { Int($0) } ?? 600
        let progressive = try Data(contentsOf: fixtureURL("jpeg/progressive.jpg"))
        let sources = [
            try JPEG.encode(try smooth(32, 24, 3), quality: 75), try JPEG.encode(try smooth(17, 9, 1)),
            [UInt8](progressive),
        ]
        var generator = SeededGenerator(seed: 7)
        var failures = 0
        for trial in 0..<trials {
            let bytes = sources[trial % sources.count]
            var mutated = bytes
            for _ in 0..<(1 + trial / sources.count % 4) {
                let position = 2 + Int(generator.next() % UInt64(mutated.count - 2))
                mutated[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            do {
                let image = try JPEG.decode(mutated)
                XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels)
            } catch let error as JPEGError {
                failures += 1
                XCTAssertFalse(error.description.isEmpty)
            }
        }
        XCTAssertGreaterThan(failures, 0, "no mutation was detected as corrupt")
    }

    /// SOF0 claims 60000 × 60000: refused before any pixel buffer is allocated.
    func testAbsurdSizesAreRefused() throws {
        var bytes = try JPEG.encode(try smooth(8, 8, 1))
        let sof = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        bytes.replaceSubrange((sof + 5)..<(sof + 9), with: [0xEA, 0x60, 0xEA, 0x60])
        XCTAssertThrowsError(try JPEG.decode(bytes, path: "huge.jpg")) {
            guard case JPEGError.unsupported("huge.jpg", let reason) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("60000"), reason)
        }
    }

    /// Files written by Pillow (Scripts/make_jpeg_fixtures.py): pixel(x, y) = (8x, 12y, 128), grey 8x + 4y.
    func testReadsFilesOfAnotherEncoder() throws {
        for name in ["rgb.jpg", "progressive.jpg"] {
            let image = try JPEG.read(contentsOf: fixtureURL("jpeg/\(name)").path)
            XCTAssertEqual([image.width, image.height, image.channels], [24, 16, 3], name)
            var error = 0.0
            for y in 0..<16 {
                for x in 0..<24 {
                    for (k, value) in [8 * x, 12 * y, 128].enumerated() {
                        error += abs(Double(image.pixels[(y * 24 + x) * 3 + k]) - Double(value))
                    }
                }
            }
            XCTAssertLessThan(error / Double(24 * 16 * 3), 4, name)
        }
        let grey = try JPEG.read(contentsOf: fixtureURL("jpeg/grey.jpg").path)
        XCTAssertEqual(grey.channels, 1)
        XCTAssertEqual(Double(grey.pixels[5 * 24 + 7]), Double(8 * 7 + 4 * 5), accuracy: 4)
        let cmyk = fixtureURL("jpeg/cmyk.jpg").path
        XCTAssertThrowsError(try JPEG.read(contentsOf: cmyk)) {
            guard case JPEGError.unsupported(cmyk, let reason) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("CMYK") && reason.contains("convert"), reason)
        }
    }
}
