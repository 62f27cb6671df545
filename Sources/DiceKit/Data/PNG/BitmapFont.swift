// A 5 × 7 pixel font for the few characters overlay titles use (digits, a handful of capitals
// and punctuation): there is no font library, and a title such as "DICE 0.873" needs no more.

/// Draws short text into RGB pictures with a built-in 5 × 7 bitmap font.
public enum BitmapFont {
    /// The characters the font holds (lower-case letters are drawn as capitals; others as blanks).
    public static let characters: Set<Character> = Set(glyphs.keys)

    /// Glyph rows, top to bottom, "#" for ink.
    static let glyphs: [Character: [String]] = [
        "0": [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
        "1": ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
        "2": [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
        "3": ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
        "4": ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
        "5": ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
        "6": ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
        "7": ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
        "8": [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
        "9": [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
        "A": [" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
        "C": [" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "],
        "D": ["#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "],
        "E": ["#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"],
        "I": [" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
        "N": ["#   #", "##  #", "# # #", "#  ##", "#   #", "#   #", "#   #"],
        "O": [" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
        "U": ["#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
        "T": ["#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "],
        "R": ["#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"],
        "H": ["#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
        ".": ["     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "],
        "-": ["     ", "     ", "     ", "#####", "     ", "     ", "     "],
        ":": ["     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "],
        "/": ["    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "],
        " ": ["     ", "     ", "     ", "     ", "     ", "     ", "     "],
    ]

    /// The width in pixels of `text` at `scale` (6 · scale per character, less the last gap).
    public static func width(of text: String, scale: Int = 1) -> Int { max(0, text.count * 6 - 1) * scale }

    /// The height in pixels of a line at `scale`: 7 · scale.
    public static func height(scale: Int = 1) -> Int { 7 * scale }

    /// Draws `text` into the RGB `pixels` of a `width`-wide picture with its top-left corner at
    /// (`x`, `y`), each font pixel a `scale` × `scale` square; ink outside the picture is dropped.
    public static func draw(
        _ text: String, into pixels: inout [UInt8], width: Int, at x: Int, _ y: Int,
        scale: Int = 1, colour: (UInt8, UInt8, UInt8) = (0, 0, 0)
    ) {
        let height = pixels.count / max(1, width * 3)
        for (index, character) in text.uppercased().enumerated() {
            guard let rows = glyphs[character] else { continue }
            for (row, line) in rows.enumerated() {
                for (column, mark) in line.enumerated() where mark == "#" {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let (px, py) = (x + (index * 6 + column) * scale + dx, y + row * scale + dy)
                            guard px >= 0, py >= 0, px < width, py < height else { continue }
                            let q = (py * width + px) * 3
                            (pixels[q], pixels[q + 1], pixels[q + 2]) = colour
                        }
                    }
                }
            }
        }
    }
}
