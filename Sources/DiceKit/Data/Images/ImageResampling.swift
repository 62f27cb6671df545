// Resizing on load: images by area averaging (shrinking) or bilinear interpolation with
// half-pixel centres (enlarging, PyTorch's align_corners=False), masks by nearest neighbour, each
// placed on the target canvas by a `ResizeMode` (stretch, fit with padding, crop).
//
// Both resamplers are separable: a per-axis table of (source index, weight) taps, applied to
// rows then columns. Area weights are the overlaps of the output pixel's footprint
// [i·s, (i + 1)·s) (s = source/target) with each source pixel, divided by s, so a constant
// image stays constant and the mean is preserved.

/// Where a resized image lands on the target canvas.
struct ResizePlacement: Equatable {
    /// The scaled image's extents.
    let height: Int, width: Int
    /// Its top-left corner on the canvas (negative when cropped).
    let top: Int, left: Int

    /// The placement of an h × w image on `size` under `mode`.
    init(height h: Int, width w: Int, size: ImageSize, mode: ResizeMode) {
        switch mode {
        case .stretch:
            (height, width, top, left) = (size.height, size.width, 0, 0)
        case .fit, .crop:
            let (sy, sx) = (Double(size.height) / Double(h), Double(size.width) / Double(w))
            let scale = mode == .fit ? min(sy, sx) : max(sy, sx)
            let scaledH = max(1, Int((Double(h) * scale).rounded()))
            let scaledW = max(1, Int((Double(w) * scale).rounded()))
            // Rounding may leave a 1-pixel gap or overhang on the side that should match exactly.
            height = mode == .fit ? min(scaledH, size.height) : max(scaledH, size.height)
            width = mode == .fit ? min(scaledW, size.width) : max(scaledW, size.width)
            (top, left) = ((size.height - height) / 2, (size.width - width) / 2)
        }
    }
}

enum ImageResampling {
    /// The taps of output index i (0..<target) into a source axis of `source` samples.
    static func taps(source: Int, target: Int) -> [[(index: Int, weight: Float)]] {
        let scale = Double(source) / Double(target)
        return (0..<target).map { i in
            if target < source { // shrinking: area average over the footprint
                let (start, end) = (Double(i) * scale, Double(i + 1) * scale)
                var result = [(index: Int, weight: Float)]()
                var j = Int(start)
                while Double(j) < end, j < source {
                    let overlap = min(end, Double(j + 1)) - max(start, Double(j))
                    if overlap > 0 { result.append((j, Float(overlap / scale))) }
                    j += 1
                }
                return result
            }
            // Enlarging (or equal): bilinear at the half-pixel centre, clamped at the edges.
            let x = min(max((Double(i) + 0.5) * scale - 0.5, 0), Double(source - 1))
            let j0 = Int(x)
            let j1 = min(j0 + 1, source - 1)
            let t = Float(x - Double(j0))
            return t == 0 || j1 == j0 ? [(j0, Float(1))] : [(j0, 1 - t), (j1, t)]
        }
    }

    /// An h × w × c image (row-major, interleaved) resized onto `size` (padding is 0).
    static func resizeImage(
        _ pixels: [Float], height h: Int, width w: Int, channels c: Int,
        to size: ImageSize, mode: ResizeMode
    ) -> [Float] {
        let place = ResizePlacement(height: h, width: w, size: size, mode: mode)
        if (place.height, place.width, place.top, place.left) == (h, w, 0, 0), (h, w) == (size.height, size.width) {
            return pixels
        }
        let rows = taps(source: h, target: place.height)
        let columns = taps(source: w, target: place.width)
        var output = [Float](repeating: 0, count: size.height * size.width * c)
        var row = [Float](repeating: 0, count: w * c)
        for y in 0..<size.height {
            let sy = y - place.top
            guard sy >= 0, sy < place.height else { continue }
            for k in 0..<row.count { row[k] = 0 }
            for (j, weight) in rows[sy] {
                let base = j * w * c
                for k in 0..<(w * c) { row[k] += weight * pixels[base + k] }
            }
            for x in 0..<size.width {
                let sx = x - place.left
                guard sx >= 0, sx < place.width else { continue }
                let target = (y * size.width + x) * c
                for (j, weight) in columns[sx] {
                    for k in 0..<c { output[target + k] += weight * row[j * c + k] }
                }
            }
        }
        return output
    }

    /// The inverse of `resizeImage` for `.stretch` and `.fit`: `values` [size.height, size.width, c]
    /// on the canvas (a network's class scores) brought back to the h × w image they came from:
    /// the scaled image's region cut from the canvas (the padding dropped), then resampled to
    /// h × w with the same taps (area averaging when shrinking, bilinear when enlarging).
    ///
    /// - Precondition: `mode` is not `.crop` (its canvas lacks the parts it cut off).
    /// - Throws: `DiceKitError.option` when h or w lies outside `ImageSize`'s range.
    static func restoreImage(
        _ values: [Float], from size: ImageSize, channels c: Int, height h: Int, width w: Int, mode: ResizeMode
    ) throws -> [Float] {
        precondition(mode != .crop, "ImageResampling.restoreImage: a cropped canvas cannot be brought back")
        let place = ResizePlacement(height: h, width: w, size: size, mode: mode)
        var region = values
        if (place.height, place.width) != (size.height, size.width) {
            region = []
            region.reserveCapacity(place.height * place.width * c)
            for y in place.top..<(place.top + place.height) {
                let start = (y * size.width + place.left) * c
                region += values[start..<(start + place.width * c)]
            }
        }
        return resizeImage(
            region, height: place.height, width: place.width, channels: c, to: try ImageSize(height: h, width: w),
            mode: .stretch)
    }

    /// An h × w label map resized onto `size` by nearest neighbour; padding (`.fit`) is `fill`
    /// (default 0, the background; the ignore index for data sets that have one).
    static func resizeLabels(
        _ labels: [Int32], height h: Int, width w: Int, to size: ImageSize, mode: ResizeMode, fill: Int32 = 0
    ) -> [Int32] {
        let place = ResizePlacement(height: h, width: w, size: size, mode: mode)
        if (h, w) == (size.height, size.width), (place.height, place.width) == (h, w) { return labels }
        let nearest = { (i: Int, source: Int, target: Int) in
            min(source - 1, Int((Double(i) + 0.5) * Double(source) / Double(target)))
        }
        var output = [Int32](repeating: fill, count: size.height * size.width)
        for y in 0..<size.height {
            let sy = y - place.top
            guard sy >= 0, sy < place.height else { continue }
            let from = nearest(sy, h, place.height) * w
            for x in 0..<size.width {
                let sx = x - place.left
                guard sx >= 0, sx < place.width else { continue }
                output[y * size.width + x] = labels[from + nearest(sx, w, place.width)]
            }
        }
        return output
    }
}
