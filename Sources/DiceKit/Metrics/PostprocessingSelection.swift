// nnU-Net's choice of post-processing (`determine_postprocessing`), on predictions whose targets
// are known (best: the out-of-fold predictions of a cross-validation, so no image was trained on):
//
//   1. keep only the largest component of the foreground (all classes above 0 merged); kept when
//      the foreground mean Dice rises and no class's mean Dice falls;
//   2. with more than one foreground class, for each class c in turn, on top of what was kept:
//      keep only the largest component of c; kept when c's mean Dice rises.
//
// With `minimumSizeSearch` (not nnU-Net's: it only ever tries "keep the largest"), a third step
// follows: for each foreground class (region) in turn, on top of what was kept, remove its
// components smaller than S for S = 2, 4, 8, … up to the median size of that class's target
// components (so a typical true object is never a candidate for removal); the S with the highest
// mean Dice of the class joins the plan when it beats the Dice without it (ties: the smaller S).
//
// With regions (LabelRegions, a region-based model or regions scored on a class model), as
// nnU-Net's region-based choice: step 1 keeps the largest component of every covered label
// merged; step 2 tries, region by region in order, the largest component of the region's labels
// merged, kept when the region's mean Dice rises (a region holding every covered label repeats
// step 1, as in nnU-Net, judged then by its own Dice); the columns scored are the background and
// the regions.
//
// Dice as nnU-Net computes it for this choice: per image and class, 2TP / (2TP + FP + FN) with
// ignored positions left out; an image whose target and prediction both lack the class is left
// out, one whose target lacks it and prediction has it scores 0, so that stray components on
// images without the class count against a plan that keeps them. The class means average over
// the images; the foreground mean averages the class means (classes never scored are skipped).

/// The outcome of `PostprocessingPlan.choose`: the plan and the scores that decided it.
public struct PostprocessingSelection: Sendable {
    /// One candidate filter and its effect.
    public struct Trial: Sendable {
        /// The filter tried, on top of the steps accepted before it.
        public let filter: ComponentFilter
        /// The scored column whose Dice decided (a class, or 1 + a region); nil for the
        /// foreground step, which the foreground mean decides.
        public let column: Int?
        /// Mean Dice per scored column (labels 0..<L, or the background and each region) before
        /// and after the filter (see the file header).
        public let before: [Double], after: [Double]
        /// Whether it joined the plan.
        public let accepted: Bool
    }

    /// The accepted filters.
    public let plan: PostprocessingPlan
    /// Every candidate, in the order tried.
    public let trials: [Trial]
    /// Mean Dice per label without post-processing, and with the plan.
    public let baseline: [Double], final: [Double]
    /// The images scored.
    public let images: Int

    /// The mean of the foreground labels' means (NaN ones skipped).
    public static func foregroundMean(_ dice: [Double]) -> Double {
        let scored = dice.dropFirst().filter { !$0.isNaN }
        return scored.isEmpty ? .nan : scored.reduce(0, +) / Double(scored.count)
    }

    /// The file `dicekit eval --choose-postprocessing` writes (read back by
    /// `PostprocessingPlan(contentsOf:)`): `classes` is the model's class count, or with `regions`
    /// the count of labels they cover (`labelClasses`); the regions are recorded.
    public func json(classes: Int, spatialRank: Int, regions: LabelRegions? = nil) -> JSONValue {
        func scores(_ dice: [Double]) -> JSONValue {
            .object([
                JSONField("dice", .numbers(dice)),
                JSONField("dice_foreground", .number(Self.foregroundMean(dice))),
            ])
        }
        let recorded = regions.map { [JSONField("regions", .string($0.description))] } ?? []
        return .object(
            [
                JSONField("classes", .integer(max(2, regions?.labelClasses ?? classes))),
                JSONField("spatial_rank", .integer(spatialRank)),
            ] + recorded + [
                JSONField("steps", plan.stepsJSON),
                JSONField("images", .integer(images)),
                JSONField("before", scores(baseline)),
                JSONField("after", scores(final)),
                JSONField(
                    "trials",
                    .array(
                        trials.map { trial in
                            .object([
                                JSONField("step", PostprocessingPlan(steps: [trial.filter]).stepsJSON),
                                JSONField("accepted", .bool(trial.accepted)),
                                JSONField("before", scores(trial.before)),
                                JSONField("after", scores(trial.after)),
                            ])
                        })),
            ])
    }
}

extension PostprocessingPlan {
    /// Chooses the post-processing of predictions by nnU-Net's procedure (see the file header).
    ///
    /// - Parameters:
    ///   - predicted: predicted label maps [n, spatial…] (batches of any size).
    ///   - targets: the true label maps, one per prediction, of the same shapes.
    ///   - classes: the model's class count (labels 0..<max(2, classes)).
    ///   - ignoreIndex: the target label of unlabelled positions, which count nowhere.
    ///   - connectivity: the components' neighbourhood (nil: the full one, as nnU-Net's).
    ///   - regions: the regions scored and filtered instead of the classes (see the file header).
    ///   - minimumSizeSearch: also search a minimum component size per class (region) after
    ///     nnU-Net's steps (see the file header; default false: nnU-Net's procedure alone).
    /// - Throws: `DiceKitError.shape` for mismatched maps; `DiceKitError.value` for no images or a
    ///   label outside the classes (the regions' labels).
    public static func choose(
        predicted: [LabelMap], targets: [LabelMap], classes: Int, ignoreIndex: Int? = nil, connectivity: Int? = nil,
        regions: LabelRegions? = nil, minimumSizeSearch: Bool = false
    ) throws -> PostprocessingSelection {
        guard predicted.count == targets.count else {
            throw DiceKitError.shape("\(predicted.count) predicted label map(s) for \(targets.count) target(s)")
        }
        let images = predicted.reduce(0) { $0 + ($1.shape.first ?? 0) }
        guard images > 0 else { throw DiceKitError.value("no predictions to choose a post-processing on") }
        let labels = max(2, classes)
        let score = { (maps: [LabelMap]) in
            try meanDice(predicted: maps, targets: targets, labels: labels, ignoreIndex: ignoreIndex, regions: regions)
        }
        var current = predicted
        var scores = try score(current)
        let baseline = scores
        var steps: [ComponentFilter] = []
        var trials: [PostprocessingSelection.Trial] = []
        let foreground = regions.map { $0.coveredLabels.map(Int.init) } ?? Array(1..<labels)
        var candidates: [(ComponentFilter, column: Int?)] = [
            (
                try ComponentFilter(
                    keepLargest: 1, classes: foreground, connectivity: connectivity, mergeClasses: true), nil
            )
        ]
        if let regions {
            for (r, region) in regions.regions.enumerated() where regions.count > 1 {
                let labels = region.map(Int.init)
                let filter = try ComponentFilter(
                    keepLargest: 1, classes: labels, connectivity: connectivity, mergeClasses: true)
                candidates.append((filter, r + 1))
            }
        } else if foreground.count > 1 {
            candidates += try foreground.map {
                (try ComponentFilter(keepLargest: 1, classes: [$0], connectivity: connectivity), $0)
            }
        }
        for (filter, column) in candidates {
            let processed = try current.map { try filter.apply(to: $0) }
            let after = try score(processed)
            let accepted: Bool
            if let column {
                accepted = after[column] > scores[column]
            } else {
                // Defensive, as nnU-Net: no class may get worse.
                accepted =
                    PostprocessingSelection.foregroundMean(after) > PostprocessingSelection.foregroundMean(scores)
                    && !zip(after, scores).dropFirst().contains { $0 < $1 }
            }
            trials.append(.init(filter: filter, column: column, before: scores, after: after, accepted: accepted))
            if accepted {
                steps.append(filter)
                current = processed
                scores = after
            }
        }
        if minimumSizeSearch {
            // One column per foreground class, or per region (labels merged, as nnU-Net's).
            let columns: [(labels: [Int], merge: Bool, column: Int)] =
                regions.map { $0.regions.enumerated().map { (labels: $1.map(Int.init), merge: true, column: $0 + 1) } }
                ?? foreground.map { (labels: [$0], merge: false, column: $0) }
            for (labels, merge, column) in columns {
                let sizes = try targetComponentSizes(targets, labels: labels, connectivity: connectivity)
                guard !sizes.isEmpty else { continue }
                let median = sizes[(sizes.count - 1) / 2]
                // Only the best candidate's maps are kept: the first (smallest size) whose Dice
                // beats the Dice without it and every candidate's before it.
                var tried: [(filter: ComponentFilter, after: [Double])] = []
                var best: (index: Int, processed: [LabelMap])?
                var size = 2
                while size <= median {
                    let filter = try ComponentFilter(
                        minimumSize: size, classes: labels, connectivity: connectivity, mergeClasses: merge)
                    let processed = try current.map { try filter.apply(to: $0) }
                    let after = try score(processed)
                    if after[column] > (best.map { tried[$0.index].after[column] } ?? scores[column]) {
                        best = (tried.count, processed)
                    }
                    tried.append((filter, after))
                    size *= 2
                }
                for (i, trial) in tried.enumerated() {
                    trials.append(
                        .init(
                            filter: trial.filter, column: column, before: scores, after: trial.after,
                            accepted: i == best?.index))
                }
                if let best {
                    steps.append(tried[best.index].filter)
                    current = best.processed
                    scores = tried[best.index].after
                }
            }
        }
        return PostprocessingSelection(
            plan: PostprocessingPlan(steps: steps), trials: trials, baseline: baseline, final: scores, images: images)
    }

    /// The sizes of the connected components of `labels` (merged) in every target image, ascending.
    static func targetComponentSizes(_ targets: [LabelMap], labels: [Int], connectivity: Int?) throws -> [Int] {
        let wanted = Set(labels.map(Int32.init))
        var sizes: [Int] = []
        for target in targets where target.shape.count >= 2 {
            let spatial = Array(target.shape.dropFirst())
            let positions = spatial.reduce(1, *)
            let all = target.storage
            for n in 0..<target.shape[0] {
                let mask = (0..<positions).map { wanted.contains(all[n * positions + $0]) }
                sizes += try ConnectedComponents(mask: mask, shape: spatial, connectivity: connectivity).sizes
            }
        }
        return sizes.sorted()
    }

    /// Mean Dice per scored column (label 0..<`labels`, or the background and each region) over
    /// the images (nnU-Net's convention, see the file header).
    static func meanDice(
        predicted: [LabelMap], targets: [LabelMap], labels: Int, ignoreIndex: Int?, regions: LabelRegions? = nil
    ) throws -> [Double] {
        var metric = OverlapMetric(score: .dice, reduction: .none, emptyClass: .exclude)
        metric.ignoreIndex = ignoreIndex
        let columns = regions?.scoredCount ?? labels
        var sums = [Double](repeating: 0, count: columns)
        var counts = [Int](repeating: 0, count: columns)
        for (p, t) in zip(predicted, targets) {
            let c =
                try regions?.counts(predicted: p, target: t, ignoreIndex: ignoreIndex)
                ?? metric.counts(predicted: p, target: t, classes: labels)
            for i in 0..<(c.samples * columns) {
                let (tp, fp, fn) = (
                    Double(c.truePositives[i]), Double(c.falsePositives[i]), Double(c.falseNegatives[i])
                )
                guard tp + fp + fn > 0 else { continue }
                sums[i % columns] += 2 * tp / (2 * tp + fp + fn)
                counts[i % columns] += 1
            }
        }
        return zip(sums, counts).map { $1 == 0 ? .nan : $0 / Double($1) }
    }
}
