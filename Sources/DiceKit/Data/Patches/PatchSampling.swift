// Where a training patch is cut from a case, as nnU-Net's data loader (nnunetv2
// `nnUNetDataLoader.get_bbox`) and MONAI's `RandCropByPosNegLabel` choose it: with probability
// `foregroundProbability` the patch is centred on a foreground voxel (a class drawn uniformly
// among the foreground classes the case holds, then one of its voxels uniformly), otherwise its
// position is uniform. Along an axis where the case is shorter than the patch, the case sits in
// the middle of the patch and the rest is padding: 0 in the image, background in the labels (the
// ignore index when the data set has one), as the augmentation pads.
//
// The generator is drawn in a fixed order: the foreground coin, then (when forced and the case
// holds foreground) the class and the voxel, else one start per axis.

/// How fixed-size training patches are cut from cases (see the file header).
public struct PatchSampling: Sendable, Equatable {
    /// The patch's extents: [H, W] or [D, H, W].
    public let extents: [Int]
    /// The probability that a patch is centred on a foreground voxel, in [0, 1] (default 1/3:
    /// nnU-Net's `oversample_foreground_percent` of 0.33).
    public let foregroundProbability: Double
    /// Patches cut from each case per epoch, ≥ 1 (default 1).
    public let patchesPerCase: Int

    /// Checked settings.
    ///
    /// - Throws: `DiceKitError.option` naming the value when an extent is < 1 or there are not 2
    ///   or 3, the probability lies outside [0, 1] or the patch count is < 1.
    public init(extents: [Int], foregroundProbability: Double = 0.33, patchesPerCase: Int = 1) throws {
        guard (2...3).contains(extents.count), extents.allSatisfy({ (1...65536).contains($0) }) else {
            throw DiceKitError.invalidOption(
                name: "patch size", value: extents.map(String.init).joined(separator: ","),
                expected: "H,W or D,H,W with extents in 1...65536")
        }
        guard foregroundProbability.isFinite, (0...1).contains(foregroundProbability) else {
            throw DiceKitError.invalidOption(
                name: "foreground oversampling", value: "\(foregroundProbability)", expected: "a probability in [0, 1]")
        }
        guard (1...10_000).contains(patchesPerCase) else {
            throw DiceKitError.invalidOption(
                name: "patches per case", value: "\(patchesPerCase)", expected: "1...10000")
        }
        (self.extents, self.foregroundProbability, self.patchesPerCase) = (
            extents, foregroundProbability, patchesPerCase
        )
    }

    /// The patch's first position along each axis of a case of `caseExtents` with `labels`: in
    /// 0...E − P where the case is at least as long as the patch, −⌊(P − E)/2⌋ where it is
    /// shorter. Foreground is every label in 1..<`classes`.
    public func corner(
        caseExtents: [Int], labels: [Int32], classes: Int, using generator: inout SeededGenerator
    ) -> [Int] {
        precondition(caseExtents.count == extents.count, "PatchSampling.corner: rank \(caseExtents.count)")
        let forced = generator.nextUnit() < foregroundProbability
        let ranges = zip(caseExtents, extents).map { e, p in e >= p ? 0...(e - p) : (-((p - e) / 2))...(-((p - e) / 2))
        }
        if forced, let voxel = Self.foregroundVoxel(labels, classes: classes, using: &generator) {
            var position = [Int](repeating: 0, count: caseExtents.count)
            var rest = voxel
            for axis in caseExtents.indices.reversed() {
                (position[axis], rest) = (rest % caseExtents[axis], rest / caseExtents[axis])
            }
            return ranges.indices.map { a in
                min(max(position[a] - extents[a] / 2, ranges[a].lowerBound), ranges[a].upperBound)
            }
        }
        return ranges.map { range in range.lowerBound + Int(generator.next() % UInt64(range.count)) }
    }

    /// A voxel of a foreground class drawn uniformly among those present, itself drawn uniformly
    /// among that class's voxels; nil when the case holds no foreground.
    static func foregroundVoxel(_ labels: [Int32], classes: Int, using generator: inout SeededGenerator) -> Int? {
        guard classes > 1 else { return nil }
        var counts = [Int](repeating: 0, count: classes)
        for label in labels where label > 0 && Int(label) < classes { counts[Int(label)] += 1 }
        let present = (1..<classes).filter { counts[$0] > 0 }
        guard !present.isEmpty else { return nil }
        let chosen = present[Int(generator.next() % UInt64(present.count))]
        var remaining = Int(generator.next() % UInt64(counts[chosen]))
        for (position, label) in labels.enumerated() where label == Int32(chosen) {
            if remaining == 0 { return position }
            remaining -= 1
        }
        preconditionFailure("PatchSampling.foregroundVoxel: class \(chosen) counted but not found")
    }

    /// The patch at `corner` of a case of `caseExtents` (`channels` channels, channels-last):
    /// positions outside the case are 0 in the image and `padLabel` in the labels.
    public func cut(
        _ sample: SegmentationSample, caseExtents: [Int], channels: Int, corner: [Int], padLabel: Int32
    ) -> SegmentationSample {
        // Rank 2 is rank 3 with one slice.
        let (source, patch, start) =
            extents.count == 2
            ? ([1] + caseExtents, [1] + extents, [0] + corner) : (caseExtents, extents, corner)
        var image = [Float](repeating: 0, count: patch.reduce(1, *) * channels)
        var labels = [Int32](repeating: padLabel, count: patch.reduce(1, *))
        // The W run that lies inside the case, in patch coordinates.
        let first = max(0, -start[2])
        let last = min(patch[2], source[2] - start[2])
        guard first < last else { return SegmentationSample(image: image, labels: labels) }
        sample.image.withUnsafeBufferPointer { from in
            sample.labels.withUnsafeBufferPointer { fromLabels in
                for d in 0..<patch[0] {
                    let z = start[0] + d
                    guard z >= 0, z < source[0] else { continue }
                    for h in 0..<patch[1] {
                        let y = start[1] + h
                        guard y >= 0, y < source[1] else { continue }
                        let to = (d * patch[1] + h) * patch[2]
                        let at = (z * source[1] + y) * source[2] + start[2]
                        for w in first..<last {
                            labels[to + w] = fromLabels[at + w]
                        }
                        for i in (first * channels)..<(last * channels) {
                            image[to * channels + i] = from[at * channels + i]
                        }
                    }
                }
            }
        }
        return SegmentationSample(image: image, labels: labels)
    }
}
