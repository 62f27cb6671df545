// `dicekit metrics PRED.npy TARGET.npy`: segmentation metrics of a prediction against a target
// as MONAI computes them — Hausdorff (and HD95), average (symmetric) surface distance, normalised
// surface Dice, Dice, IoU, generalized Dice score, the confusion-matrix metrics and the
// lesion-wise panoptic quality — per
// (sample, class), per class and reduced, as one JSON object (see Docs/Metrics.md).

import DiceKit

enum MetricsCommand: Command {
    static let spec = CommandSpec(
        name: "metrics",
        summary: "Hausdorff/HD95, surface distance, surface Dice, confusion metrics of PRED.npy against TARGET.npy",
        help: """
            usage: dicekit metrics PRED.npy TARGET.npy [options]

            PRED and TARGET are label maps [N, spatial...] (integers, or floats holding whole numbers),
            or, with --one-hot, masks of 0s and 1s with a channel axis: [N, spatial..., C]
            (channels-last, default) or [N, C, spatial...] (--layout channels-first). A one-hot PRED
            may be scored against a label-map TARGET (PRED has one axis more). 2-D and 3-D.

              --metrics LIST           comma-separated, default hd95,assd,nsd,dice:
                                       hd, hd95, asd, assd, nsd, dice, iou, gds, and the confusion
                                       metrics sensitivity, specificity, precision, f1, balanced-accuracy
                                       (or any MONAI ConfusionMatrixMetric name or alias, spaces as hyphens),
                                       and the lesion-wise pq, sq, rq, lesion-sensitivity, lesion-precision
                                       (a class's lesions are its connected components; MONAI's panoptic quality)
              --classes K              classes of label maps (default: the largest label + 1, at least 2)
              --spacing S,S[,S]        voxel size per spatial axis (default 1 each); each > 0
              --percentile P           the percentile of hd95 (default 95), in 0...100
              --tolerance T[,T...]     NSD tolerance in spacing units: one, or one per scored class (default 1)
              --use-subvoxels          nsd on the corners between voxels, weighted by their surface area
                                       (contour length in 2-D), as MONAI's use_subvoxels
              --include-background     score class 0 too (default: excluded, as MONAI's distance metrics)
              --directed               hd and hd95 from the prediction to the target only
              --reduction R            mean|sum|mean-batch|sum-batch|mean-classes|sum-classes|none (default mean)
              --compute-sample         confusion and lesion metrics: the ratio per (sample, class), then the
                                       reduction (default: reduce the counts, then take the ratio, as MONAI)
              --match-iou T            lesion metrics: the IoU a predicted and a true lesion must exceed to
                                       match, in (0, 1] (default 0.5; below 0.5 the matching of largest IoU sum)
              --connectivity K         lesion metrics: neighbours along at most K axes, 1 to the rank (default)
              --gds-weight W           square|simple|uniform (default square)
              --one-hot                PRED (and TARGET when it has PRED's rank) are one-hot masks
              --layout L               channels-last|channels-first, the channel axis of one-hot inputs

            Prints {"classes": [scored class indices], "metrics": {NAME: {"value": reduced,
            "per_class": mean over samples, "per_sample": [[per class] per sample]}}}. NaN (a class
            absent from both sides, or a zero denominator) is null; infinity (a class present on one
            side only) is the string "inf". Means skip NaN, as MONAI's reductions.

            Exit status: 0 on success, 1 on bad input (one line on stderr), 2 on bad usage.
            """,
        valueOptions: [
            "metrics", "classes", "spacing", "percentile", "tolerance", "reduction", "gds-weight", "layout",
            "match-iou", "connectivity",
        ],
        flags: ["include-background", "directed", "compute-sample", "one-hot", "use-subvoxels"],
        positionals: 2...2
    )

    /// One requested metric.
    enum Requested {
        case surface(String, SurfaceDistanceScore)
        case overlap(String, OverlapScore)
        case generalizedDice
        case confusion(String, ConfusionMetricName)
        case lesion(String, PanopticScore)

        var name: String {
            switch self {
            case .surface(let name, _), .overlap(let name, _), .confusion(let name, _), .lesion(let name, _):
                return name
            case .generalizedDice: return "gds"
            }
        }
    }

    static func run(_ arguments: ParsedArguments) throws {
        let percentile = try arguments.double("percentile", default: 95)!
        guard (0...100).contains(percentile) else {
            throw UsageError(
                message: "--percentile expects a value in 0...100, got '\(arguments.string("percentile")!)'")
        }
        let tolerances = try arguments.doubles("tolerance") ?? [1]
        if let bad = tolerances.first(where: { $0 < 0 }) {
            throw UsageError(message: "--tolerance expects values ≥ 0, got \(bad)")
        }
        let spacing = try arguments.doubles("spacing")
        if let bad = spacing?.first(where: { $0 <= 0 }) {
            throw UsageError(message: "--spacing expects values > 0, got \(bad)")
        }
        let directed = arguments.flag("directed")
        let requested = try (arguments.string("metrics") ?? "hd95,assd,nsd,dice").split(separator: ",").map {
            word -> Requested in
            let name = word.trimmingSpaces()
            switch name {
            case "hd": return .surface(name, .hausdorff(percentile: nil, directed: directed))
            case "hd95": return .surface(name, .hausdorff(percentile: percentile, directed: directed))
            case "asd": return .surface(name, .averageSurfaceDistance(symmetric: false))
            case "assd": return .surface(name, .averageSurfaceDistance(symmetric: true))
            case "nsd": return .surface(name, .surfaceDice(tolerances: tolerances))
            case "dice": return .overlap(name, .dice)
            case "iou": return .overlap(name, .iou)
            case "gds": return .generalizedDice
            case _ where PanopticScore(rawValue: name) != nil: return .lesion(name, PanopticScore(rawValue: name)!)
            default:
                guard let metric = ConfusionMetricName(alias: name) else {
                    throw UsageError(
                        message:
                            "--metrics: unknown metric '\(name)'; expected hd, hd95, asd, assd, nsd, dice, iou, gds, "
                            + PanopticScore.allCases.map(\.rawValue).joined(separator: ", ")
                            + " or a confusion metric (\(ConfusionMetricName.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                return .confusion(name, metric)
            }
        }
        let subvoxels = arguments.flag("use-subvoxels")
        if subvoxels && !requested.contains(where: { $0.name == "nsd" }) {
            throw UsageError(message: "--use-subvoxels applies to nsd; add nsd to --metrics")
        }
        let lesionWise = requested.contains { if case .lesion = $0 { true } else { false } }
        let matchIoU = try arguments.double("match-iou", default: 0.5)!
        guard matchIoU > 0 && matchIoU <= 1 else {
            throw UsageError(message: "--match-iou expects an IoU in (0, 1], got \(matchIoU)")
        }
        for option in ["match-iou", "connectivity"] where arguments.string(option) != nil && !lesionWise {
            throw UsageError(
                message:
                    "--\(option) applies to the lesion metrics; add pq, sq, rq, lesion-sensitivity or lesion-precision")
        }
        let connectivity = try arguments.int("connectivity", in: 1...3)
        let reduction = try arguments.choice("reduction", as: ScoreReduction.self, default: .mean)!
        let weight = try arguments.choice("gds-weight", as: GeneralizedWeight.self, default: .square)!
        let layout = try arguments.choice("layout", as: Layout.self, default: .channelsLast)!
        let includeBackground = arguments.flag("include-background")
        if arguments.string("layout") != nil && !arguments.flag("one-hot") {
            throw UsageError(message: "--layout applies to one-hot inputs; add --one-hot")
        }
        if arguments.string("classes") != nil && arguments.flag("one-hot") {
            throw UsageError(
                message: "--classes applies to label maps; a one-hot PRED gives the class count by its channel axis")
        }

        let (predicted, target) = try readMasks(arguments, layout: layout)
        if let spacing, spacing.count != predicted.spatialShape.count {
            throw DiceKitError.value(
                "--spacing has \(spacing.count) values; the inputs have \(predicted.spatialShape.count) spatial axes \(predicted.spatialShape)"
            )
        }
        if subvoxels && !(2...3).contains(predicted.spatialShape.count) {
            throw DiceKitError.value(
                "--use-subvoxels needs 2-D or 3-D inputs; these have spatial shape \(predicted.spatialShape)")
        }
        let scored =
            includeBackground || predicted.classes == 1 ? Array(0..<predicted.classes) : Array(1..<predicted.classes)
        var fields: [JSONField] = []
        for metric in requested {
            let (perSample, columns, reduced, perClass) = try evaluate(
                metric, predicted, target, includeBackground: includeBackground,
                spacing: spacing, reduction: reduction, weight: weight,
                computeSample: arguments.flag("compute-sample"), subvoxels: subvoxels,
                lesions: (matchIoU, connectivity))
            let shape = reduction.shape(samples: predicted.samples, classes: columns)
            fields.append(
                JSONField(
                    metric.name,
                    .object([
                        JSONField("value", nested(reduced, shape: shape)),
                        JSONField("per_class", .array(perClass.map(number))),
                        JSONField("per_sample", nested(perSample, shape: [predicted.samples, columns])),
                    ])))
        }
        let output: JSONValue = .object([
            JSONField("classes", .array(scored.map { .integer($0) })), JSONField("metrics", .object(fields)),
        ])
        printOutput(output.encoded)
    }

    /// Per (sample, class) values with their column count, the reduced values and the per-class means.
    static func evaluate(
        _ metric: Requested, _ p: ClassMasks, _ t: ClassMasks, includeBackground: Bool, spacing: [Double]?,
        reduction: ScoreReduction, weight: GeneralizedWeight, computeSample: Bool, subvoxels: Bool = false,
        lesions: (matchIoU: Double, connectivity: Int?) = (0.5, nil)
    )
        throws -> (perSample: [Double], columns: Int, reduced: [Double], perClass: [Double])
    {
        let n = p.samples
        switch metric {
        case .surface(_, let score):
            var m = SurfaceDistanceMetric(score: score, includeBackground: includeBackground, spacing: spacing)
            if case .surfaceDice = score { m.useSubvoxels = subvoxels }
            let values = try m.scores(predicted: p, target: t)
            let columns = values.count / n
            return (
                values, columns, reduction.reduce(values, samples: n, classes: columns),
                ScoreReduction.meanBatch.reduce(values, samples: n, classes: columns)
            )
        case .overlap(_, let score):
            // MONAI DiceMetric / MeanIoU with ignore_empty: NaN where the target lacks the class.
            let counts = try ConfusionCounts(predicted: p, target: t, includeBackground: includeBackground)
            let values = counts.truePositives.indices.map { i -> Double in
                let (tp, fp, fn) = (counts.truePositives[i], counts.falsePositives[i], counts.falseNegatives[i])
                if tp + fn == 0 { return .nan }
                return score == .dice ? 2 * tp / (2 * tp + fp + fn) : tp / (tp + fp + fn)
            }
            return (
                values, counts.classes, reduction.reduce(values, samples: n, classes: counts.classes),
                ScoreReduction.meanBatch.reduce(values, samples: n, classes: counts.classes)
            )
        case .generalizedDice:
            let perSample = try GeneralizedDiceScore(
                includeBackground: includeBackground, weight: weight, reduction: .none
            )
            .scores(predicted: p, target: t)
            let reduced = try GeneralizedDiceScore(
                includeBackground: includeBackground, weight: weight, reduction: reduction
            )
            .evaluate(predicted: p, target: t)
            let perClass = try GeneralizedDiceScore(
                includeBackground: includeBackground, weight: weight, reduction: .meanBatch
            )
            .evaluate(predicted: p, target: t)
            return (perSample.values, perSample.columns, reduced, perClass)
        case .confusion(_, let name):
            let counts = try ConfusionCounts(predicted: p, target: t, includeBackground: includeBackground)
            let perSample = ConfusionMatrixMetric(name: name, computeSample: true, reduction: .none).evaluate(counts)
            let reduced = ConfusionMatrixMetric(name: name, computeSample: computeSample, reduction: reduction)
                .evaluate(counts)
            let perClass = ConfusionMatrixMetric(name: name, computeSample: computeSample, reduction: .meanBatch)
                .evaluate(counts)
            return (perSample, counts.classes, reduced, perClass)
        case .lesion(_, let score):
            let metric = try PanopticQualityMetric(
                matchThreshold: lesions.matchIoU, connectivity: lesions.connectivity,
                includeBackground: includeBackground)
            let counts = try metric.counts(predicted: p, target: t)
            let columns = counts.count / n
            let perSample = counts.map { $0.score(score) }
            // As MONAI's PanopticQualityMetric: the counts reduced first, then the ratio.
            func ratio(_ reduction: ScoreReduction) -> [Double] {
                let r = { (f: (InstanceMatchCounts) -> Double) in
                    reduction.reduce(counts.map(f), samples: n, classes: columns)
                }
                let (tp, fp, fn) = (
                    r { Double($0.truePositives) }, r { Double($0.falsePositives) }, r { Double($0.falseNegatives) }
                )
                let iou = r(\.iouSum)
                return tp.indices.map {
                    score.value(truePositives: tp[$0], falsePositives: fp[$0], falseNegatives: fn[$0], iouSum: iou[$0])
                }
            }
            return computeSample
                ? (
                    perSample, columns, reduction.reduce(perSample, samples: n, classes: columns),
                    ScoreReduction.meanBatch.reduce(perSample, samples: n, classes: columns)
                ) : (perSample, columns, ratio(reduction), ratio(.meanBatch))
        }
    }

    /// The prediction and target masks the arguments describe.
    static func readMasks(_ arguments: ParsedArguments, layout: Layout) throws -> (ClassMasks, ClassMasks) {
        let predictionPath = arguments.positionals[0]
        let targetPath = arguments.positionals[1]
        let prediction = try NPY.read(contentsOf: predictionPath)
        let target = try NPY.read(contentsOf: targetPath)
        let oneHot = arguments.flag("one-hot")
        let targetIsLabels = !oneHot || target.shape.count == prediction.shape.count - 1
        if !oneHot && prediction.shape != target.shape {
            throw DiceKitError.shape(
                "\(predictionPath) has shape \(prediction.shape) and \(targetPath) \(target.shape); expected the same "
                    + "label-map shape [N, spatial...] (add --one-hot for masks with a channel axis)")
        }
        if oneHot {
            let channelAxis = layout == .channelsLast ? prediction.shape.count - 1 : 1
            var spatial = prediction.shape
            if spatial.count >= 3 { spatial.remove(at: channelAxis) }
            let expected = targetIsLabels ? spatial : prediction.shape
            guard prediction.shape.count >= 3, target.shape == expected else {
                throw DiceKitError.shape(
                    "\(predictionPath) has shape \(prediction.shape) and \(targetPath) \(target.shape); expected a "
                        + "one-hot PRED [N, spatial..., C] (\(layout.rawValue)) and a TARGET of the same shape or its label map"
                )
            }
        }
        let predictedMasks: ClassMasks
        var classes = try arguments.int("classes", in: 1...65_536)
        if oneHot {
            predictedMasks = try ClassMasks(
                oneHot: Tensor(shape: prediction.shape, scalars: doubles(prediction)), layout: layout)
            classes = predictedMasks.classes
        } else {
            let labels = try prediction.integers()
            if classes == nil {
                let largest = max(labels.max() ?? 0, try target.integers().max() ?? 0)
                classes = max(2, largest + 1)
            }
            predictedMasks = try masks(labels, shape: prediction.shape, classes: classes!, path: predictionPath)
        }
        let targetMasks =
            targetIsLabels
            ? try masks(try target.integers(), shape: target.shape, classes: classes!, path: targetPath)
            : try ClassMasks(oneHot: Tensor(shape: target.shape, scalars: doubles(target)), layout: layout)
        return (predictedMasks, targetMasks)
    }

    /// Masks of a label map, with the file named in a label error.
    static func masks(_ labels: [Int], shape: [Int], classes: Int, path: String) throws -> ClassMasks {
        guard shape.count >= 2 else {
            throw DiceKitError.shape("\(path) has shape \(shape); expected a label map [N, spatial...]")
        }
        do {
            return try ClassMasks(labels: LabelMap(shape: shape, labels: labels), classes: classes)
        } catch DiceKitError.value(let message) {
            throw DiceKitError.value("\(path): \(message)")
        }
    }

    /// The elements of an array as Double (whole numbers for integer dtypes).
    static func doubles(_ array: NPYArray) throws -> [Double] {
        array.dtype.isFloatingPoint ? array.tensor(of: Double.self).scalars : try array.integers().map(Double.init)
    }

    /// A metric value: null for NaN, "inf" for infinity.
    static func number(_ x: Double) -> JSONValue {
        x.isNaN ? .null : (x.isInfinite ? .string(x > 0 ? "inf" : "-inf") : .number(x))
    }

    /// Values as nested arrays following `shape` (a bare number for shape []).
    static func nested(_ values: [Double], shape: [Int]) -> JSONValue {
        guard let first = shape.first else { return number(values[0]) }
        let inner = shape.dropFirst().reduce(1, *)
        return .array(
            (0..<first).map { i in
                nested(Array(values[(i * inner)..<((i + 1) * inner)]), shape: Array(shape.dropFirst()))
            })
    }
}
