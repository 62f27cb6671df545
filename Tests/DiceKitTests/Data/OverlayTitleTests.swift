// Overlay titles: the built-in bitmap font and the title strip above a picture.

import XCTest

@testable import DiceKit

final class OverlayTitleTests: XCTestCase {
    func testGlyphsAreFiveBySeven() {
        for (character, rows) in BitmapFont.glyphs {
            XCTAssertEqual(rows.count, 7, "\(character)")
            XCTAssertTrue(rows.allSatisfy { $0.count == 5 }, "\(character)")
        }
        XCTAssertTrue(Set("DICE 0123456789.-").isSubset(of: BitmapFont.characters))
        XCTAssertEqual(BitmapFont.width(of: "DICE", scale: 2), (4 * 6 - 1) * 2)
    }

    func testDrawingInksTheGlyph() {
        var pixels = [UInt8](repeating: 255, count: 6 * 7 * 3)
        BitmapFont.draw("1", into: &pixels, width: 6, at: 0, 0)
        let ink = (0..<42).filter { pixels[$0 * 3] == 0 }.map { [$0 % 6, $0 / 6] }
        let expected = BitmapFont.glyphs["1"]!.enumerated().flatMap { y, row in
            row.enumerated().filter { $0.element == "#" }.map { [$0.offset, y] }
        }
        XCTAssertEqual(ink, expected)
        BitmapFont.draw("8", into: &pixels, width: 6, at: 4, 5, scale: 3) // mostly outside: clipped, no trap
    }

    func testTitleStripAboveThePicture() throws {
        let picture = try PNGImage(width: 8, height: 4, channels: 3, pixels: [UInt8](repeating: 100, count: 96))
        let titled = try SegmentationOverlay.titled(picture, "DICE 0.5")
        XCTAssertEqual(titled.width, BitmapFont.width(of: "DICE 0.5") + 4, "widened to hold the title")
        XCTAssertEqual(titled.height, 4 + 7 + 4)
        let strip = titled.height - 4
        XCTAssertTrue(titled.pixels[0..<(strip * titled.width * 3)].contains(0), "ink in the strip")
        XCTAssertEqual(
            Array(titled.pixels[(strip * titled.width * 3)..<(strip * titled.width * 3 + 24)]),
            [UInt8](repeating: 100, count: 24))
        XCTAssertThrowsError(
            try SegmentationOverlay.titled(try PNGImage(width: 2, height: 2, channels: 1, pixels: [0, 0, 0, 0]), "X"))
    }
}
