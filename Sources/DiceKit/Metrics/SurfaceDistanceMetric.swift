// Hausdorff distance (and its percentile), average (symmetric) surface distance and normalised
// surface Dice per (sample, class), as MONAI's HausdorffDistanceMetric, SurfaceDistanceMetric and
// SurfaceDiceMetric (Euclidean, no sub-voxel areas), from the distances of SurfaceDistances.swift.
//
// Per (sample, class), with D₁ = predicted→target and D₂ = target→predicted distances:
//   Hausdorff    max(H(D₁), H(D₂)) (H(D₁) alone when directed), H(D) = max D, or the
//                percentile of D by linear interpolation (torch.quantile) when one is given;
//                NaN when D is empty (neither mask has the class).
//   ASD / ASSD   mean of D₁ (directed), or of D₁ ∪ D₂ (symmetric); NaN when empty.
//   NSD          (|{d ∈ D₁ : d ≤ τ}| + |{d ∈ D₂ : d ≤ τ}|) / (|D₁| + |D₂|); NaN when both are empty.
// MONAI's conventions carry over: a class missing from the prediction or the target (not both)
// gives ∞ distances, so Hausdorff and ASD are ∞, NSD is 0, and a percentile is NaN (torch's lerp
// of ∞ and ∞); `percentile: 0` means the maximum (MONAI tests `if not percentile`).

/// Which surface-distance score.
public enum SurfaceDistanceScore: Sendable, Equatable {
    /// Hausdorff distance (MONAI `HausdorffDistanceMetric`): the maximum surface distance, or
    /// its `percentile` (0...100; e.g. 95 for HD95; nil or 0: the maximum); both directions
    /// unless `directed`.
    case hausdorff(percentile: Double?, directed: Bool)
    /// Average surface distance (MONAI `SurfaceDistanceMetric`): predicted→target only, or the
    /// average symmetric surface distance (ASSD) over both directions when `symmetric`.
    case averageSurfaceDistance(symmetric: Bool)
    /// Normalised surface Dice (MONAI `SurfaceDiceMetric`) at the tolerance τ (physical units,
    /// ≥ 0): one value for every class, or one per scored class.
    case surfaceDice(tolerances: [Double])

    /// Whether the score needs the target→predicted distances.
    var needsBothDirections: Bool {
        switch self {
        case .hausdorff(_, let directed): return !directed
        case .averageSurfaceDistance(let symmetric): return symmetric
        case .surfaceDice: return true
        }
    }
}

/// A surface-distance metric over batches of class masks.
///
/// ```
/// let hd95 = SurfaceDistanceMetric(score: .hausdorff(percentile: 95, directed: false), spacing: [2.5, 0.8, 0.8])
/// let perClass = try hd95.scores(predicted: p, target: t)   // [N, C-1], background excluded
/// let mean = hd95.reduction.reduce(perClass, samples: p.samples, classes: p.classes - 1)
/// ```
public struct SurfaceDistanceMetric: Sendable {
    /// The score (no default: `.hausdorff`, `.averageSurfaceDistance` or `.surfaceDice`).
    public var score: SurfaceDistanceScore
    /// Score class 0 too (default false, as MONAI's distance metrics).
    public var includeBackground: Bool
    /// Physical size of a step along each spatial axis (default nil: 1 each); each > 0.
    public var spacing: [Double]?
    /// How `evaluate` reduces the [N, C'] scores (default `.mean`).
    public var reduction: ScoreReduction
    /// Surface Dice only: measure the surfaces on the corners between voxels, each weighted by
    /// its marching-cubes area (3-D) or contour length (2-D), as MONAI's
    /// `SurfaceDiceMetric(use_subvoxels=True)` (default false: count surface voxels). Affects
    /// `scores` and `evaluate`; `distances` stays the voxel surfaces'.
    public var useSubvoxels: Bool

    /// A metric with MONAI's defaults: background excluded, unit spacing, mean reduction, no
    /// sub-voxel surfaces.
    public init(
        score: SurfaceDistanceScore, includeBackground: Bool = false, spacing: [Double]? = nil,
        reduction: ScoreReduction = .mean, useSubvoxels: Bool = false
    ) {
        self.score = score
        self.includeBackground = includeBackground
        self.spacing = spacing
        self.reduction = reduction
        self.useSubvoxels = useSubvoxels
    }

    /// The distances of every scored (sample, class) pair, row-major [N, C'] (C' = C without
    /// the background unless `includeBackground`); each direction as the score needs.
    ///
    /// - Throws: `DiceKitError.shape` for masks of different shapes; `DiceKitError.value` for
    ///   a bad spacing, percentile or tolerance.
    public func distances(predicted: ClassMasks, target: ClassMasks) throws -> [SurfaceDistances] {
        try predicted.checkMatches(target)
        try validate(
            scoredClasses: predicted.scoredClasses(includeBackground: includeBackground).count,
            rank: predicted.spatialShape.count)
        let steps = try DistanceTransform.checkedSpacing(spacing, rank: predicted.spatialShape.count)
        let symmetric = score.needsBothDirections
        var result: [SurfaceDistances] = []
        for b in 0..<predicted.samples {
            for k in predicted.scoredClasses(includeBackground: includeBackground) {
                let p = predicted.mask(sample: b, class: k)
                let t = target.mask(sample: b, class: k)
                result.append(
                    p.withUnsafeBufferPointer { pp in
                        t.withUnsafeBufferPointer { tt in
                            SurfaceDistances.compute(
                                pp, tt, shape: predicted.spatialShape, spacing: steps, symmetric: symmetric)
                        }
                    })
            }
        }
        return result
    }

    /// Scores per (sample, class), row-major [N, C']; NaN where MONAI gives NaN.
    ///
    /// - Throws: as `distances(predicted:target:)`.
    public func scores(predicted: ClassMasks, target: ClassMasks) throws -> [Double] {
        let scored = predicted.scoredClasses(includeBackground: includeBackground).count
        if useSubvoxels { return try subvoxelSurfaceDice(predicted: predicted, target: target) }
        return try distances(predicted: predicted, target: target).enumerated().map { i, d in
            value(of: d, classIndex: i % scored)
        }
    }

    /// The scores reduced by `reduction` (shape `reduction.shape(samples:classes:)`).
    ///
    /// - Throws: as `distances(predicted:target:)`.
    public func evaluate(predicted: ClassMasks, target: ClassMasks) throws -> [Double] {
        let values = try scores(predicted: predicted, target: target)
        return reduction.reduce(values, samples: predicted.samples, classes: values.count / predicted.samples)
    }

    /// The sub-voxel surface Dice of every scored (sample, class) pair, row-major [N, C'].
    func subvoxelSurfaceDice(predicted: ClassMasks, target: ClassMasks) throws -> [Double] {
        try predicted.checkMatches(target)
        let classes = predicted.scoredClasses(includeBackground: includeBackground)
        try validate(scoredClasses: classes.count, rank: predicted.spatialShape.count)
        guard case .surfaceDice(let tolerances) = score else { return [] }
        let steps = try DistanceTransform.checkedSpacing(spacing, rank: predicted.spatialShape.count)
        var result: [Double] = []
        for b in 0..<predicted.samples {
            for (i, k) in classes.enumerated() {
                let p = predicted.mask(sample: b, class: k)
                let t = target.mask(sample: b, class: k)
                let tau = tolerances.count == 1 ? tolerances[0] : tolerances[i]
                result.append(
                    p.withUnsafeBufferPointer { pp in
                        t.withUnsafeBufferPointer { tt in
                            SubvoxelSurface.surfaceDice(
                                pp, tt, shape: predicted.spatialShape, spacing: steps, tolerance: tau)
                        }
                    })
            }
        }
        return result
    }

    /// The score of one pair's distances; `classIndex` picks the tolerance among the scored classes.
    public func value(of distances: SurfaceDistances, classIndex: Int = 0) -> Double {
        switch score {
        case .hausdorff(let percentile, let directed):
            let forward = Self.hausdorff(distances.predictedToTarget, percentile: percentile)
            if directed { return forward }
            let backward = Self.hausdorff(distances.targetToPredicted, percentile: percentile)
            // torch.max propagates NaN.
            return forward.isNaN || backward.isNaN ? .nan : Swift.max(forward, backward)
        case .averageSurfaceDistance(let symmetric):
            let all = symmetric ? distances.all : distances.predictedToTarget
            return all.isEmpty ? .nan : all.reduce(0, +) / Double(all.count)
        case .surfaceDice(let tolerances):
            let tau = tolerances.count == 1 ? tolerances[0] : tolerances[classIndex]
            let complete = distances.predictedToTarget.count + distances.targetToPredicted.count
            guard complete > 0 else { return .nan }
            let correct =
                distances.predictedToTarget.lazy.filter { $0 <= tau }.count
                + distances.targetToPredicted.lazy.filter { $0 <= tau }.count
            return Double(correct) / Double(complete)
        }
    }

    /// The maximum or a percentile of one direction's distances (NaN when empty).
    static func hausdorff(_ distances: [Double], percentile: Double?) -> Double {
        guard !distances.isEmpty else { return .nan }
        guard let percentile, percentile != 0 else { return distances.max()! }
        var values = distances
        return quantile(selecting: &values, percentile / 100)
    }

    /// `quantile(_:_:)` of `values` without sorting them all: the two order statistics it
    /// interpolates between are found by selection in linear time (`values` is reordered).
    static func quantile(selecting values: inout [Double], _ q: Double) -> Double {
        let position = q * Double(values.count - 1)
        let below = Int(position.rounded(.down))
        let above = Int(position.rounded(.up))
        select(&values, below)
        let a = values[below]
        let b = above == below ? a : values[(below + 1)...].min()!
        let w = position - Double(below)
        return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)
    }

    /// Reorders `values` so that `values[k]` is the k-th smallest, the ones before it no larger
    /// and the ones after it no smaller (quickselect with a median-of-three pivot; after 64
    /// rounds it sorts what is left, so it never goes quadratic). No value may be NaN.
    static func select(_ values: inout [Double], _ k: Int) {
        values.withUnsafeMutableBufferPointer { v in
            var low = 0
            var high = v.count - 1
            var rounds = 0
            while high > low {
                rounds += 1
                if rounds > 64 {
                    v[low...high].sort()
                    return
                }
                let a = v[low]
                let b = v[low + (high - low) / 2]
                let c = v[high]
                let pivot = Swift.max(Swift.min(a, b), Swift.min(Swift.max(a, b), c))
                var i = low
                var j = high
                while i <= j {
                    while v[i] < pivot { i += 1 }
                    while v[j] > pivot { j -= 1 }
                    if i <= j {
                        v.swapAt(i, j)
                        i += 1
                        j -= 1
                    }
                }
                if k <= j {
                    high = j
                } else if k >= i {
                    low = i
                } else {
                    return
                }
            }
        }
    }

    /// torch.quantile's linear interpolation, with torch.lerp's two-sided formula (so ∞ − ∞
    /// gives NaN exactly where torch does).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = Int(position.rounded(.up))
        let a = sorted[below]
        let b = sorted[above]
        let w = position - Double(below)
        return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)
    }

    /// Checks the percentile and the tolerances against the number of scored classes, and
    /// `useSubvoxels` against the score and the spatial rank.
    func validate(scoredClasses: Int, rank: Int) throws {
        if useSubvoxels {
            guard case .surfaceDice = score else {
                throw DiceKitError.invalidOption(
                    name: "useSubvoxels", value: "true",
                    expected: "false unless the score is the surface Dice (MONAI's use_subvoxels)")
            }
            guard rank == 2 || rank == 3 else {
                throw DiceKitError.invalidOption(
                    name: "useSubvoxels", value: "true with \(rank) spatial axes",
                    expected: "2-D or 3-D masks")
            }
        }
        switch score {
        case .hausdorff(let percentile?, _):
            guard percentile.isFinite, (0...100).contains(percentile) else {
                throw DiceKitError.value("percentile \(percentile); expected a value in 0...100")
            }
        case .surfaceDice(let tolerances):
            guard tolerances.count == 1 || tolerances.count == scoredClasses else {
                throw DiceKitError.value(
                    "\(tolerances.count) tolerances for \(scoredClasses) scored classes; expected 1 or \(scoredClasses)"
                )
            }
            if let bad = tolerances.first(where: { !($0.isFinite && $0 >= 0) }) {
                throw DiceKitError.value("tolerance \(bad); expected a finite value ≥ 0")
            }
        default: break
        }
    }
}
