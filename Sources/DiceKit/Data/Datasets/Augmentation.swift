// Seeded data augmentation: the dihedral transforms of the H–W plane (flips, quarter turns),
// a depth flip for volumes, and brightness/contrast jitter. Geometric transforms move image
// and labels together; photometric ones touch the image only.

/// Random per-sample augmentation, drawn from a seeded generator.
///
/// For each sample, in this order: flips (each with its probability), a quarter turn in the
/// H–W plane by k·90°, k uniform in {0, 1, 2, 3} (only with `rotate90`, and only when H = W:
/// non-square samples keep their orientation, since a quarter turn would change their shape), then
/// x ← (x − m)·c + m + b per sample, with m the sample's mean over all channels, contrast
/// factor c uniform in [1 − contrast, 1 + contrast] and brightness shift b uniform in
/// [−brightness, brightness]. Values are not clamped.
public struct Augmentation: Sendable, Equatable {
    /// Probability of mirroring the W axis (default 0.5 in `.standard`).
    public var horizontalFlip: Double
    /// Probability of mirroring the H axis.
    public var verticalFlip: Double
    /// Probability of mirroring the D axis (volumes only; ignored for 2-D).
    public var depthFlip: Double
    /// Random quarter turns in the H–W plane (applied to square samples only).
    public var rotate90: Bool
    /// Half-width of the additive brightness shift, ≥ 0.
    public var brightness: Double
    /// Half-width of the contrast factor around 1, in [0, 1).
    public var contrast: Double

    /// An augmentation; every default is "off".
    public init(horizontalFlip: Double = 0, verticalFlip: Double = 0, depthFlip: Double = 0, rotate90: Bool = false,
                brightness: Double = 0, contrast: Double = 0) {
        self.horizontalFlip = horizontalFlip
        self.verticalFlip = verticalFlip
        self.depthFlip = depthFlip
        self.rotate90 = rotate90
        self.brightness = brightness
        self.contrast = contrast
    }

    /// No augmentation.
    public static let none = Augmentation()
    /// Flips with probability 0.5 on every axis, quarter turns, brightness ±0.1, contrast ±10%.
    public static let standard = Augmentation(horizontalFlip: 0.5, verticalFlip: 0.5, depthFlip: 0.5, rotate90: true,
                                              brightness: 0.1, contrast: 0.1)

    /// Checks the settings against a sample's spatial shape.
    ///
    /// - Throws: `DiceKitError.option` for a probability outside [0, 1], a negative brightness,
    ///   a contrast outside [0, 1). (Quarter turns are skipped for non-square H × W, not refused.)
    public func validate(spatialShape: [Int]) throws {
        for (name, p) in [("horizontal flip", horizontalFlip), ("vertical flip", verticalFlip), ("depth flip", depthFlip)]
        where !(0...1).contains(p) {
            throw DiceKitError.option("\(name) probability \(p); expected a value in [0, 1]")
        }
        guard brightness >= 0, (0..<1).contains(contrast) else {
            throw DiceKitError.option("brightness \(brightness), contrast \(contrast); expected brightness ≥ 0 and 0 ≤ contrast < 1")
        }
    }

    /// The samples of `batch`, each transformed with a generator seeded by its entry of `seeds`.
    func apply(to batch: SegmentationDataset, seeds: [UInt64]) -> SegmentationDataset {
        let spatial = batch.spatialShape
        let (d, h, w) = spatial.count == 3 ? (spatial[0], spatial[1], spatial[2]) : (1, spatial[0], spatial[1])
        let c = batch.channels
        let positions = d * h * w
        var pixels = [Float](repeating: 0, count: batch.images.count)
        var labels = [Int32](repeating: 0, count: batch.labels.count)
        batch.images.withUnsafeBufferPointer { source in
            for (n, seed) in seeds.enumerated() {
                var generator = SeededGenerator(seed: seed)
                let flipW = generator.nextUnit() < horizontalFlip
                let flipH = generator.nextUnit() < verticalFlip
                let flipD = spatial.count == 3 && generator.nextUnit() < depthFlip
                // The draw happens for every sample, so square and non-square data sets consume
                // the generator alike; the turn is used only where it keeps the shape.
                let draw = rotate90 ? Int(generator.next() % 4) : 0
                let turns = h == w ? draw : 0
                let factor = Float(1 + contrast * (2 * generator.nextUnit() - 1))
                let shift = Float(brightness * (2 * generator.nextUnit() - 1))
                let (imageBase, labelBase) = (n * positions * c, n * positions)
                var mean: Float = 0
                if factor != 1 {
                    var total = 0.0
                    for j in 0..<(positions * c) { total += Double(source[imageBase + j]) }
                    mean = Float(total / Double(positions * c))
                }
                for z in 0..<d {
                    let sz = flipD ? d - 1 - z : z
                    for y in 0..<h {
                        for x in 0..<w {
                            let (y1, x1) = (flipH ? h - 1 - y : y, flipW ? w - 1 - x : x)
                            // np.rot90 on (H, W), k times: out[i, j] = in[j, W−1−i] per turn.
                            let (sy, sx): (Int, Int)
                            switch turns {
                            case 1: (sy, sx) = (x1, w - 1 - y1)
                            case 2: (sy, sx) = (h - 1 - y1, w - 1 - x1)
                            case 3: (sy, sx) = (h - 1 - x1, y1)
                            default: (sy, sx) = (y1, x1)
                            }
                            let target = (z * h + y) * w + x
                            let origin = (sz * h + sy) * w + sx
                            labels[labelBase + target] = batch.labels[labelBase + origin]
                            for k in 0..<c {
                                let value = source[imageBase + origin * c + k]
                                pixels[imageBase + target * c + k] = (value - mean) * factor + mean + shift
                            }
                        }
                    }
                }
            }
        }
        return SegmentationDataset(unchecked: Tensor(uncheckedShape: batch.images.shape, storage: pixels),
                                   labels: labels, classes: batch.classes)
    }
}
