// An embedded synthetic polyp data set: colonoscopy-like frames generated from a seed, with no
// download. Each image is painted independently from its own seed (so generation parallelises
// and the first n images never depend on the count):
//
// 1. Mucosa: a pinkish-red base colour per image, low-frequency shading, vignetting around a
//    jittered centre, fine texture and dark vessel-like ridges.
// 2. Polyps (none in `emptyFraction` of the images, else 1–3): perturbed, rotated ellipses
//    (harmonics 2–4 on the radius) with areas log-uniform in [0.4%, 30%] of the image (later
//    polyps ≤ 8%), a redder or paler tint than the mucosa, dome shading, their own finer
//    texture, a soft edge (~1.5 px), a shadow rim outside, and specular highlights.
// 3. Mucus glints: 0–3 small specular spots on the background, so highlights alone do not
//    give the polyp away.
// 4. With `classes == 3`: in `instrumentFraction` of the images, a grey metallic bar (class 2)
//    entering from one edge, drawn over everything, with cylinder shading and a specular streak.
// 5. Sensor noise, uniform ±0.015 per channel; values clamped to [0, 1].
//
// The label of a pixel is the last object whose hard boundary (ρ < 1) contains it.

/// Settings of the synthetic polyp data set.
public struct SyntheticPolypConfiguration: Sendable, Equatable {
    /// Image height H (default 128, ≥ 8).
    public var height: Int
    /// Image width W (default 128, ≥ 8).
    public var width: Int
    /// 2 (background, polyp) or 3 (background, polyp, instrument); default 2.
    public var classes: Int
    /// Fraction of images without any polyp (default 0.1).
    public var emptyFraction: Double
    /// Fraction of images with an instrument when `classes == 3` (default 0.35).
    public var instrumentFraction: Double

    /// A configuration; see the properties for the defaults.
    public init(
        height: Int = 128, width: Int = 128, classes: Int = 2, emptyFraction: Double = 0.1,
        instrumentFraction: Double = 0.35
    ) {
        self.height = height
        self.width = width
        self.classes = classes
        self.emptyFraction = emptyFraction
        self.instrumentFraction = instrumentFraction
    }

    /// Square images of `size` × `size`.
    public init(size: Int, classes: Int = 2) { self.init(height: size, width: size, classes: classes) }

    /// - Throws: `DiceKitError.option` for sizes below 8, classes other than 2 or 3, or
    ///   fractions outside [0, 1].
    public func validate() throws {
        guard height >= 8, width >= 8 else {
            throw DiceKitError.option("synthetic image size \(height) × \(width); expected at least 8 × 8")
        }
        guard classes == 2 || classes == 3 else {
            throw DiceKitError.invalidOption(
                name: "synthetic classes", value: "\(classes)", expected: "2 (polyp) or 3 (polyp, instrument)")
        }
        guard (0...1).contains(emptyFraction), (0...1).contains(instrumentFraction) else {
            throw DiceKitError.option(
                "synthetic fractions empty \(emptyFraction), instrument \(instrumentFraction); expected values in [0, 1]"
            )
        }
    }
}

extension SegmentationDataset {
    /// The synthetic polyp data set: `count` RGB images [N, H, W, 3] in [0, 1] and labels
    /// [N, H, W] (0 background, 1 polyp, 2 instrument), deterministic per `seed`.
    ///
    /// About 2 ms per 128 × 128 image per core in release builds; uses `Parallelism.threadCount` threads.
    ///
    /// - Throws: `DiceKitError.option` for count < 1 or an invalid configuration.
    public static func syntheticPolyps(
        count: Int, seed: UInt64,
        configuration: SyntheticPolypConfiguration = .init()
    ) throws -> SegmentationDataset {
        guard count >= 1 else {
            throw DiceKitError.invalidOption(name: "synthetic image count", value: "\(count)", expected: "≥ 1")
        }
        try configuration.validate()
        let (h, w) = (configuration.height, configuration.width)
        var pixels = [Float](repeating: 0, count: count * h * w * 3)
        var labels = [Int32](repeating: 0, count: count * h * w)
        pixels.withUnsafeMutableBufferPointer { pixelBuffer in
            labels.withUnsafeMutableBufferPointer { labelBuffer in
                // Item n paints its own image.
                let shared = TaskShared((pixelBuffer, labelBuffer))
                WorkerPool.shared.run(count) { n in
                    let (p, l) = shared.buffers
                    var painter = PolypPainter(seed: itemSeed(seed, n), configuration: configuration)
                    painter.paint(
                        pixels: UnsafeMutableBufferPointer(rebasing: p[(n * h * w * 3)..<((n + 1) * h * w * 3)]),
                        labels: UnsafeMutableBufferPointer(rebasing: l[(n * h * w)..<((n + 1) * h * w)]))
                }
            }
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: [count, h, w, 3], storage: pixels),
            labels: labels, classes: configuration.classes, ignoreIndex: nil)
    }
}
