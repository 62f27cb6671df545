// Seeded data augmentation, switchable by name (`Augmentation.Kind`): the dihedral transforms
// of the H–W plane (flips, quarter turns) and a depth flip for volumes; a random scale-crop and
// a small affine map (rotation, scale, shear), resampled bilinearly for images and by nearest
// neighbour for masks; brightness/contrast, gamma, Gaussian noise and Gaussian blur, which touch
// the image only. Geometric
// transforms move image and labels together. The per-sample work is in Augmentation+Apply.swift.

/// Random per-sample augmentation, drawn from a seeded generator.
///
/// For each sample, in this order: flips (each with its probability); a quarter turn in the H–W
/// plane by k·90°, k uniform in {0, 1, 2, 3} (only with `rotate90`, and only when H = W:
/// non-square samples keep their orientation); a scale-crop (a window of side fraction s,
/// s uniform in [1 − scaleCrop, 1], at a uniform position, stretched back to H × W); an affine
/// map about the centre (rotation uniform in ±`affineRotation` degrees, scale in
/// [1 − affineScale, 1 + affineScale], horizontal shear in ±`affineShear`), positions that fall
/// outside the sample becoming 0 in the image and background in the mask (the ignore index when
/// the data set has one); with probability `noiseProbability`, Gaussian noise of standard
/// deviation σ uniform in [0, `noiseStandardDeviation`] added to every value (MONAI's
/// `RandGaussianNoise`); with probability `blurProbability`, a Gaussian blur of σ uniform in
/// [`blurSigma`/2, `blurSigma`] pixels on every spatial axis (scipy's `gaussian_filter`, mode
/// "reflect", truncated at 4σ; nnU-Net's blur); gamma,
/// x ← lo + (hi − lo)·((x − lo)/(hi − lo))^γ with lo, hi the sample's extremes and
/// γ = (1 + gamma)^u, u uniform in [−1, 1] (MONAI's `RandAdjustContrast`); then
/// x ← (x − m)·c + m + b with m the sample's mean over all channels, contrast factor c uniform
/// in [1 − contrast, 1 + contrast] and brightness shift b uniform in [−brightness, brightness].
/// Values are not clamped. Volumes get the same scale-crop and affine map in every depth slice.
///
/// The generator is drawn in a fixed order (flips, turn, contrast, brightness, then scale-crop,
/// affine, gamma, noise and blur only when enabled, the noise values last), so the
/// flip/turn/intensity set gives the same samples whether or not the later augmentations exist.
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
    /// Largest share of each side a scale-crop removes, in [0, 1) (0: off).
    public var scaleCrop: Double
    /// Half-width of the affine rotation in degrees, 0…180 (0 with scale and shear 0: no affine map).
    public var affineRotation: Double
    /// Half-width of the affine scale factor around 1, in [0, 1).
    public var affineScale: Double
    /// Half-width of the affine horizontal shear (x += shear·y), 0…1.
    public var affineShear: Double
    /// Gamma range: γ lies in [1/(1 + gamma), 1 + gamma], gamma ≥ 0 (0: off).
    public var gamma: Double
    /// Probability of adding Gaussian noise to a sample, in [0, 1].
    public var noiseProbability: Double
    /// The largest standard deviation of the noise, ≥ 0 (0: off).
    public var noiseStandardDeviation: Double
    /// Probability of blurring a sample, in [0, 1].
    public var blurProbability: Double
    /// The largest blur σ in pixels, 0…8 (0: off); σ is drawn from [blurSigma/2, blurSigma].
    public var blurSigma: Double

    /// An augmentation; every default is "off".
    public init(
        horizontalFlip: Double = 0, verticalFlip: Double = 0, depthFlip: Double = 0, rotate90: Bool = false,
        brightness: Double = 0, contrast: Double = 0, scaleCrop: Double = 0, affineRotation: Double = 0,
        affineScale: Double = 0, affineShear: Double = 0, gamma: Double = 0, noiseProbability: Double = 0,
        noiseStandardDeviation: Double = 0, blurProbability: Double = 0, blurSigma: Double = 0
    ) {
        self.noiseProbability = noiseProbability
        self.noiseStandardDeviation = noiseStandardDeviation
        self.blurProbability = blurProbability
        self.blurSigma = blurSigma
        self.horizontalFlip = horizontalFlip
        self.verticalFlip = verticalFlip
        self.depthFlip = depthFlip
        self.rotate90 = rotate90
        self.brightness = brightness
        self.contrast = contrast
        self.scaleCrop = scaleCrop
        self.affineRotation = affineRotation
        self.affineScale = affineScale
        self.affineShear = affineShear
        self.gamma = gamma
    }

    /// No augmentation.
    public static let none = Augmentation()
    /// `flip`, `rot90` and `intensity` (the default of `dicekit train`): flips with probability
    /// 0.5 on every axis, quarter turns, brightness ±0.1, contrast ±10%.
    public static let standard = Augmentation(kinds: [.flip, .rot90, .intensity])

    /// Whether the sample is resampled (scale-crop or affine map).
    var resamples: Bool { scaleCrop > 0 || hasAffine }
    var hasAffine: Bool { affineRotation > 0 || affineScale > 0 || affineShear > 0 }
    var hasNoise: Bool { noiseProbability > 0 && noiseStandardDeviation > 0 }
    var hasBlur: Bool { blurProbability > 0 && blurSigma > 0 }

    /// Checks the settings against a sample's spatial shape.
    ///
    /// - Throws: `DiceKitError.option` naming the setting that is out of range (see the
    ///   properties). (Quarter turns are skipped for non-square H × W, not refused.)
    public func validate(spatialShape: [Int]) throws {
        for (name, p) in [
            ("horizontal flip", horizontalFlip), ("vertical flip", verticalFlip), ("depth flip", depthFlip),
            ("noise", noiseProbability), ("blur", blurProbability),
        ]
        where !(0...1).contains(p) {
            throw DiceKitError.option("\(name) probability \(p); expected a value in [0, 1]")
        }
        guard brightness >= 0, (0..<1).contains(contrast) else {
            throw DiceKitError.option(
                "brightness \(brightness), contrast \(contrast); expected brightness ≥ 0 and 0 ≤ contrast < 1")
        }
        guard (0..<1).contains(scaleCrop) else {
            throw DiceKitError.invalidOption(name: "scale-crop", value: "\(scaleCrop)", expected: "0 ≤ value < 1")
        }
        guard (0...180).contains(affineRotation), (0..<1).contains(affineScale), (0...1).contains(affineShear) else {
            throw DiceKitError.option(
                "affine rotation \(affineRotation)°, scale \(affineScale), shear \(affineShear); expected 0…180, [0, 1) and 0…1"
            )
        }
        guard gamma >= 0, gamma.isFinite else {
            throw DiceKitError.invalidOption(name: "gamma", value: "\(gamma)", expected: "a finite value ≥ 0")
        }
        guard noiseStandardDeviation >= 0, noiseStandardDeviation.isFinite else {
            throw DiceKitError.invalidOption(
                name: "noise standard deviation", value: "\(noiseStandardDeviation)", expected: "a finite value ≥ 0")
        }
        guard (0...8).contains(blurSigma) else {
            throw DiceKitError.invalidOption(name: "blur sigma", value: "\(blurSigma)", expected: "0…8 pixels")
        }
    }
}

extension Augmentation {
    /// The augmentations `dicekit train --augment` names, each with its standard setting.
    public enum Kind: String, Sendable, CaseIterable {
        /// Mirror W, H (and D for volumes), each with probability 0.5.
        case flip
        /// Quarter turns k·90° in the H–W plane, k uniform in 0…3 (square samples only).
        case rot90
        /// Brightness ±0.1 and contrast ±10% (image only).
        case intensity
        /// Gamma in [1/1.5, 1.5] (image only).
        case gamma
        /// A window of 75–100% of each side, stretched back to the sample's size.
        case scaleCrop = "scale-crop"
        /// Rotation ±15°, scale ±10%, shear ±0.1 about the centre.
        case affine
        /// With probability 0.15, Gaussian noise of σ uniform in [0, 0.05] (image only).
        case noise
        /// With probability 0.2, a Gaussian blur of σ uniform in [0.5, 1] pixels (image only).
        case blur
    }

    /// The augmentations `kinds`, each with its standard setting (see `Kind`).
    public init(kinds: Set<Kind>) {
        self.init()
        if kinds.contains(.flip) { (horizontalFlip, verticalFlip, depthFlip) = (0.5, 0.5, 0.5) }
        rotate90 = kinds.contains(.rot90)
        if kinds.contains(.intensity) { (brightness, contrast) = (0.1, 0.1) }
        if kinds.contains(.gamma) { gamma = 0.5 }
        if kinds.contains(.scaleCrop) { scaleCrop = 0.25 }
        if kinds.contains(.affine) { (affineRotation, affineScale, affineShear) = (15, 0.1, 0.1) }
        if kinds.contains(.noise) { (noiseProbability, noiseStandardDeviation) = (0.15, 0.05) }
        if kinds.contains(.blur) { (blurProbability, blurSigma) = (0.2, 1) }
    }

    /// Parses a comma-separated list of `Kind` names ("flip,rot90,scale-crop"); "none" is no
    /// augmentation and "standard" the default set.
    ///
    /// - Throws: `DiceKitError.option` naming an unknown name and listing the known ones.
    public init(names text: String) throws {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: " ") }
        if names == ["none"] {
            self = .none
            return
        }
        if names == ["standard"] {
            self = .standard
            return
        }
        var kinds = Set<Kind>()
        for name in names {
            guard let kind = Kind(rawValue: name) else {
                throw DiceKitError.option(
                    "augmentation '\(name)'; expected a comma-separated list of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")) (or none)"
                )
            }
            kinds.insert(kind)
        }
        guard !kinds.isEmpty else {
            throw DiceKitError.option("augmentation list '\(text)' is empty; expected names or none")
        }
        self.init(kinds: kinds)
    }

    /// The comma-separated names of the kinds whose standard settings this equals ("none"
    /// without augmentation); nil when the settings are not a set of standard kinds.
    public var names: String? {
        let enabled = Kind.allCases.filter { kind in Augmentation(kinds: [kind]).isPart(of: self) }
        guard Augmentation(kinds: Set(enabled)) == self else { return nil }
        return enabled.isEmpty ? "none" : enabled.map(\.rawValue).joined(separator: ",")
    }

    /// Every setting as a number (a quarter turn as 1), in a fixed order.
    private var settings: [Double] {
        [
            horizontalFlip, verticalFlip, depthFlip, rotate90 ? 1 : 0, brightness, contrast, scaleCrop,
            affineRotation, affineScale, affineShear, gamma, noiseProbability, noiseStandardDeviation, blurProbability,
            blurSigma,
        ]
    }

    /// Whether every setting this one turns on is on with the same value in `other`.
    private func isPart(of other: Augmentation) -> Bool {
        let (mine, theirs) = (settings, other.settings)
        return zip(mine, theirs).allSatisfy { $0 == 0 || $0 == $1 } && mine.contains { $0 != 0 }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
