// PNG through libpng: round trips for every channel layout, palette indices, 16-bit input,
// and typed errors for files that are not PNGs or are cut short.

import XCTest

@testable import DiceKit

final class PNGTests: XCTestCase {
    private func pattern(_ width: Int, _ height: Int, _ channels: Int) throws -> PNGImage {
        try PNGImage(
            width: width, height: height, channels: channels,
            pixels: (0..<(width * height * channels)).map { UInt8(($0 * 37 + $0 / 7) % 256) })
    }

    func testRoundTripsEveryChannelLayout() throws {
        let directory = try temporaryDirectory(self)
        for channels in 1...4 {
            let image = try pattern(13, 7, channels)
            let path = directory.appendingPathComponent("c\(channels).png").path
            try PNG.write(image, to: path)
            XCTAssertEqual(try PNG.read(contentsOf: path), image, "\(channels) channels")
        }
    }

    func testPaletteImagesGiveColoursOrIndices() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("palette.png").path
        let palette: [(red: UInt8, green: UInt8, blue: UInt8)] = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (10, 20, 30)]
        let indices: [UInt8] = [0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 3, 3]
        try PNG.writeIndexed(indices, width: 4, height: 3, palette: palette, to: path)
        let read = try PNG.readIndices(contentsOf: path)
        XCTAssertEqual(read.width, 4)
        XCTAssertEqual(read.height, 3)
        XCTAssertEqual(read.values, indices)
        let rgb = try PNG.read(contentsOf: path)
        XCTAssertEqual(rgb.channels, 3)
        XCTAssertEqual(Array(rgb.pixels[9..<12]), [10, 20, 30])
        XCTAssertThrowsError(try PNG.writeIndexed([4], width: 1, height: 1, palette: palette, to: path))
    }

    func testGreyLevelsReadAsIndices() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("grey.png").path
        try PNG.write(PNGImage(width: 3, height: 1, channels: 1, pixels: [0, 2, 255]), to: path)
        XCTAssertEqual(try PNG.readIndices(contentsOf: path).values, [0, 2, 255])
    }

    /// A 2 × 1 16-bit grey PNG (no gAMA chunk), built by hand: 16-bit samples map to 8 bits by ÷257.
    func testSixteenBitInputIsReducedToEightBits() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("16.png").path
        try Data(sixteenBitGreyPNG()).write(to: URL(fileURLWithPath: path))
        let image = try PNG.read(contentsOf: path)
        XCTAssertEqual(image.channels, 1)
        XCTAssertEqual(image.pixels, [0x12, 0xFF])
    }

    func testAbsurdSizesAreRefused() throws {
        var bytes = sixteenBitGreyPNG()
        // IHDR width and height (bytes 16–23) → 100000 × 100000, CRC fixed up.
        let huge: [UInt8] = [0, 1, 0x86, 0xA0]
        bytes.replaceSubrange(16..<20, with: huge)
        bytes.replaceSubrange(20..<24, with: huge)
        bytes.replaceSubrange(29..<33, with: crcBytes(Array(bytes[12..<29])))
        let path = try temporaryDirectory(self).appendingPathComponent("huge.png").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try PNG.read(contentsOf: path)) {
            guard case PNGError.corrupt(_, let reason) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("100000"), reason)
        }
    }

    func testTensorConversions() throws {
        let tensor = try Tensor<Float>(shape: [1, 2, 3], scalars: [0, 0.5, 1, 2, -1, .nan])
        let image = try PNGImage(tensor)
        XCTAssertEqual(image.pixels, [0, 128, 255, 255, 0, 0])
        XCTAssertEqual(image.tensor(of: Float.self).shape, [1, 2, 3])
        // Each sample divided by 255 in the requested type (each type takes its own concrete code).
        XCTAssertEqual(image.tensor(of: Float.self).scalars, image.pixels.map { Float($0) / 255 })
        XCTAssertEqual(image.tensor(of: Double.self).scalars, image.pixels.map { Double($0) / 255 })
        XCTAssertThrowsError(try PNGImage(Tensor<Float>(shape: [2, 2])))
    }

    func testTypedErrors() throws {
        let directory = try temporaryDirectory(self)
        XCTAssertThrowsError(try PNG.read(contentsOf: directory.appendingPathComponent("none.png").path)) {
            guard case PNGError.io(_, "no such file") = $0 else { return XCTFail("\($0)") }
        }
        let text = directory.appendingPathComponent("text.png").path
        try Data("hello, not a png at all".utf8).write(to: URL(fileURLWithPath: text))
        XCTAssertThrowsError(try PNG.read(contentsOf: text)) {
            XCTAssertEqual($0 as? PNGError, .notPNG(path: text))
        }
        let good = directory.appendingPathComponent("good.png").path
        try PNG.write(pattern(64, 64, 3), to: good)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        for keep in [12, 40, bytes.count / 2] {
            let cut = directory.appendingPathComponent("cut\(keep).png").path
            try bytes.prefix(keep).write(to: URL(fileURLWithPath: cut))
            XCTAssertThrowsError(try PNG.read(contentsOf: cut), "kept \(keep) bytes") { error in
                guard case PNGError.truncated(cut, _)? = error as? PNGError else {
                    return XCTFail("kept \(keep): \(error)")
                }
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        XCTAssertThrowsError(try PNGImage(width: 2, height: 2, channels: 5, pixels: []))
        XCTAssertThrowsError(try PNG.write(pattern(2, 2, 1), to: "/nonexistent-dir/x.png")) {
            guard case PNGError.io = $0 else { return XCTFail("\($0)") }
        }
    }
}

/// The big-endian CRC-32 of `bytes` (PNG chunk type + data).
private func crcBytes(_ bytes: [UInt8]) -> [UInt8] {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    crc = ~crc
    return [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
}

/// A minimal 16-bit greyscale PNG, 2 × 1 pixels with samples 0x1234 and 0xFFFF (stored zlib block).
private func sixteenBitGreyPNG() -> [UInt8] {
    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }
    func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }
    let raw: [UInt8] = [0, 0x12, 0x34, 0xFF, 0xFF] // filter byte, two 16-bit samples
    var adler = (a: UInt32(1), b: UInt32(0))
    for byte in raw {
        adler.a = (adler.a + UInt32(byte)) % 65521
        adler.b = (adler.b + adler.a) % 65521
    }
    let zlib: [UInt8] =
        [0x78, 0x01, 0x01, UInt8(raw.count), 0, ~UInt8(raw.count), 0xFF] + raw + be32(adler.b << 16 | adler.a)
    let header = be32(2) + be32(1) + [16, 0, 0, 0, 0] // width, height, bit depth 16, grey
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", zlib)
        + chunk("IEND", [])
}

final class SegmentationOverlayTests: XCTestCase {
    func testSideBySidePanels() throws {
        let image = Tensor<Float>(shape: [4, 5, 3], repeating: 0.5)
        var truth = [Int32](repeating: 0, count: 20)
        truth[7] = 1
        let prediction = [Int32](repeating: 1, count: 20)
        let both = try SegmentationOverlay.sideBySide(image: image, truth: truth, prediction: prediction)
        XCTAssertEqual(both.width, 3 * 5 + 2 * 4)
        XCTAssertEqual(both.height, 4)
        XCTAssertEqual(Array(both.pixels[0..<3]), [128, 128, 128], "the plain image")
        XCTAssertEqual(Array(both.pixels[15..<18]), [255, 255, 255], "the gap")
        let truthPixel = (1 * both.width + 9 + 2) * 3 // row 1, column 2 of panel 2
        XCTAssertEqual(
            Array(both.pixels[truthPixel..<(truthPixel + 3)]), [0, 230, 90], "a one-pixel region is all outline")
        let single = try SegmentationOverlay.sideBySide(
            image: Tensor<Float>(shape: [4, 5, 1], repeating: 0), truth: nil, prediction: prediction)
        XCTAssertEqual(single.width, 2 * 5 + 4)
        XCTAssertThrowsError(try SegmentationOverlay.sideBySide(image: image, truth: [0], prediction: prediction))
        XCTAssertThrowsError(
            try SegmentationOverlay.sideBySide(
                image: Tensor<Float>(shape: [4, 5, 2]), truth: nil, prediction: prediction))
    }
}
