// Prediction overlays for `dicekit predict`: the image, the ground truth and the prediction side
// by side, the labels drawn as translucent class colours with solid outlines.

/// Side-by-side overlay pictures of segmentations.
public enum SegmentationOverlay {
    /// Class colours (index = class): background (unused), then hues that stand out on reddish
    /// mucosa: green (polyp), blue (instrument), yellow, magenta, cyan, orange, white.
    public static let palette: [(red: UInt8, green: UInt8, blue: UInt8)] = [
        (0, 0, 0), (0, 230, 90), (40, 140, 255), (255, 220, 0), (230, 60, 255), (0, 230, 230), (255, 140, 0),
        (255, 255, 255),
    ]

    /// An RGB picture: the image, then (if given) the image with the ground truth, then the
    /// image with the prediction, separated by 4-pixel white gaps.
    ///
    /// - Parameters:
    ///   - image: [H, W, C] with C = 1 (grey) or ≥ 3 (the first three channels are RGB), values in [0, 1].
    ///   - truth: H × W class indices, or nil.
    ///   - prediction: H × W class indices.
    ///   - opacity: of the class colour inside a region (default 0.45); outlines are opaque.
    /// - Throws: `DiceKitError.shape` when the image is not [H, W, C] or a label map does not
    ///   have H × W entries.
    public static func sideBySide<T: BLASScalar>(
        image: Tensor<T>, truth: [Int32]?, prediction: [Int32],
        opacity: Double = 0.45
    ) throws -> PNGImage {
        guard image.rank == 3, image.shape[2] == 1 || image.shape[2] >= 3 else {
            throw DiceKitError.shape("overlay image shape \(image.shape); expected [H, W, 1] or [H, W, ≥3]")
        }
        let (h, w, c) = (image.shape[0], image.shape[1], image.shape[2])
        for labels in [truth, prediction].compactMap({ $0 }) where labels.count != h * w {
            throw DiceKitError.shape("overlay labels hold \(labels.count) values; expected H × W = \(h * w)")
        }
        var base = [Double](repeating: 0, count: h * w * 3)
        for p in 0..<(h * w) {
            for k in 0..<3 { base[p * 3 + k] = min(max(Double(image.scalars[p * c + (c == 1 ? 0 : k)]), 0), 1) * 255 }
        }
        let panels = [nil, truth, prediction].enumerated().filter { $0.offset != 1 || truth != nil }.map(\.element)
        let gap = 4
        let width = panels.count * w + (panels.count - 1) * gap
        var pixels = [UInt8](repeating: 255, count: width * h * 3)
        for (index, labels) in panels.enumerated() {
            let left = index * (w + gap)
            for y in 0..<h {
                for x in 0..<w {
                    let p = y * w + x
                    var rgb = (base[p * 3], base[p * 3 + 1], base[p * 3 + 2])
                    if let labels, labels[p] > 0 {
                        let colour = palette[Int(labels[p]) % palette.count]
                        let edge = isEdge(labels, x, y, w, h)
                        let a = edge ? 1 : opacity
                        rgb = (
                            rgb.0 + (Double(colour.red) - rgb.0) * a, rgb.1 + (Double(colour.green) - rgb.1) * a,
                            rgb.2 + (Double(colour.blue) - rgb.2) * a
                        )
                    }
                    let q = (y * width + left + x) * 3
                    (pixels[q], pixels[q + 1], pixels[q + 2]) = (
                        UInt8(rgb.0.rounded()), UInt8(rgb.1.rounded()), UInt8(rgb.2.rounded())
                    )
                }
            }
        }
        return try PNGImage(width: width, height: h, channels: 3, pixels: pixels)
    }

    /// True when a 4-neighbour of (x, y) has another label (or lies outside the image).
    private static func isEdge(_ labels: [Int32], _ x: Int, _ y: Int, _ w: Int, _ h: Int) -> Bool {
        let label = labels[y * w + x]
        for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let (nx, ny) = (x + dx, y + dy)
            if nx < 0 || ny < 0 || nx >= w || ny >= h || labels[ny * w + nx] != label { return true }
        }
        return false
    }
}

extension SegmentationOverlay {
    /// `picture` (RGB) below a white title strip holding `title` in black, drawn with
    /// `BitmapFont` at a scale that suits the picture (1 below 200 pixels wide, 2 below 400, else 3);
    /// the canvas widens when the title is wider than the picture.
    ///
    /// - Throws: `DiceKitError.shape` when `picture` is not RGB.
    public static func titled(_ picture: PNGImage, _ title: String) throws -> PNGImage {
        guard picture.channels == 3 else {
            throw DiceKitError.shape("titled overlay of \(picture.channels) channel(s); expected RGB")
        }
        let scale = picture.width < 200 ? 1 : (picture.width < 400 ? 2 : 3)
        let margin = 2 * scale
        let strip = BitmapFont.height(scale: scale) + 2 * margin
        let width = max(picture.width, BitmapFont.width(of: title, scale: scale) + 2 * margin)
        var pixels = [UInt8](repeating: 255, count: width * (strip + picture.height) * 3)
        BitmapFont.draw(title, into: &pixels, width: width, at: margin, margin, scale: scale)
        for y in 0..<picture.height {
            let from = y * picture.width * 3
            let to = ((strip + y) * width) * 3
            pixels.replaceSubrange(
                to..<(to + picture.width * 3), with: picture.pixels[from..<(from + picture.width * 3)])
        }
        return try PNGImage(width: width, height: strip + picture.height, channels: 3, pixels: pixels)
    }
}
