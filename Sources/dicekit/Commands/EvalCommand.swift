// `dicekit eval`: per-class Dice and IoU of a checkpoint on a data set, as a table and JSON;
// with `--fold all`, of a cross-validation's checkpoints on their held-out folds, pooled; with
// `--choose-postprocessing FILE`, nnU-Net's choice of post-processing on those predictions.

import DiceKit

enum EvalCommand: Command {
    static let spec = CommandSpec(
        name: "eval",
        summary: "per-class Dice and IoU of a checkpoint on a data set (table on stderr, JSON on stdout)",
        help: """
            usage: dicekit eval --checkpoint FILE[,FILE…] --data synthetic|synthetic3d|DIR|FILE.npy [--count N] [--size S]
                                [--seed S] [--batch-size B] [--image-size H,W] [--resize MODE] [--mask-encoding E]
                                [--intensity N] [--target-spacing DZ,DY,DX] [--ignore-index K] [--folds K --fold I|all]
                                [--ensemble mean|vote|logits] [--ensemble-weights W,…]
                                [--metrics dice,iou,hd95,nsd] [--spacing S,S[,S]] [--percentile P] [--tolerance T]
                                [--use-subvoxels] [--match-iou T] [--keep-largest N] [--min-size S]
                                [--postprocess-classes LIST] [--merge-classes] [--connectivity K]
                                [--postprocess FILE] [--choose-postprocessing FILE [--search-min-size]] [--threads T]
                                [--precision float32|bf16] [--tile S[,T[,U]]] [--overlap F]

            --data synthetic (synthetic3d) evaluates on freshly generated synthetic polyps (3-D blobs;
            seed S + 2000, so not the training images); DIR and FILE.npy are read as `dicekit train`
            reads them (images or volumes, PNG/JPEG folders), with the checkpoint's class count.
            --count, --size and --seed describe the synthetic sets only and are refused with any other --data.
            --folds K --fold I evaluates on fold I of the K-fold cross-validation that `dicekit train --folds K
            --fold I` held out: repeat train's --data, --seed (and --count, --size for synthetic data, which is
            then generated as train generates it). Each checkpoint's record (in best.safetensors, or in the
            last.safetensors beside it) must show that it held out fold I of K, with that data and seed.
            --fold all scores every fold with the checkpoint that held it out (give the folder of the fold
            runs, one checkpoint per fold) and pools the images, as nnU-Net's cross-validation summary;
            the JSON adds "folds", one entry per fold.
            \(DataOptions.help)
            --tile S[,T[,U]] scores whole cases of any size one at a time through a sliding window of S
            (per axis; as predict's --tile, --overlap F default 0.25, --batch-size windows per pass); a
            checkpoint trained with --patch-size takes its patch size as the window unless --tile or
            --image-size is given. NIfTI cases are then scored on their own grid (a case resampled to a
            target spacing is mapped back to it first), and hd95/nsd use each case's header spacing
            unless --spacing is given. NIfTI data left without --intensity, --image-size or
            --target-spacing is read with the checkpoint's (a notice says so). A folder of pictures is
            scored on the pictures' own grids, one at a time, as predict scores them (a picture resized
            by --image-size, stretched or fitted, has its scores brought back first).
            Dice and IoU per class are means over the images in which the class is present (MONAI's
            DiceMetric with ignore_empty); the JSON also gives the foreground mean.
            --metrics picks what is reported (default dice,iou); hd95 (95th-percentile Hausdorff
            distance, --percentile P) and nsd (normalised surface Dice at --tolerance T, default 1)
            are MONAI's, in units of --spacing (default 1 per axis), per class averaged over the
            images where they are defined; a class missing from a prediction but not from its target
            (or the reverse) makes HD95 NaN for that image and NSD 0. --use-subvoxels measures the NSD
            on the corners between voxels, weighted by area (MONAI's use_subvoxels). See Docs/Metrics.md.
            Lesion-wise (the connected components of each class, --connectivity K): pq, sq, rq (MONAI's
            panoptic, segmentation and recognition quality; rq is the lesion-detection F1),
            lesion-sensitivity and lesion-precision, a predicted and a true lesion matching when their
            IoU exceeds --match-iou T (default 0.5; below 0.5 the matching of largest IoU sum); the counts
            are pooled over the images and the JSON gives them ("lesions": tp, fp, fn per class).
            \(PostprocessOption.help)
            Every metric then scores the post-processed prediction.
            --choose-postprocessing FILE chooses the post-processing by nnU-Net's rule on the predictions
            scored (best on --fold all: no image was trained on): keep the largest foreground component
            if the foreground mean Dice rises and no class falls; then, with several classes, keep each
            class's largest component if that class's Dice rises. Dice here is nnU-Net's: an image with
            neither the class nor a prediction of it is left out, one with a predicted class it lacks
            scores 0. FILE (JSON) holds the steps and the scores; predict and eval apply it with
            --postprocess FILE. The metrics reported are those before post-processing.
            --search-min-size with --choose-postprocessing: then, for each class (region) in turn, remove
            its components smaller than S, S = 2, 4, 8, … up to the median size of its true components,
            keeping the S of the highest Dice when it rises (not in nnU-Net's rule).
            A region checkpoint (train --regions) is scored per region: the background, then each
            region. --regions R;R;… scores a class checkpoint's label maps by regions too (nnU-Net's
            BraTS evaluation), so class and region training compare on the same regions. With regions,
            lesions are the components of each region, and post-processing (--keep-largest, --min-size,
            --choose-postprocessing) filters each region's labels together, as nnU-Net's.
            \(CheckpointOption.help)
            \(ThreadsOption.help)
            \(PrecisionOption.help)
            """,
        valueOptions: DataOptions.valueOptions.subtracting(["val-data", "classes"])
            .union([
                "seed", "batch-size", "metrics", "spacing", "percentile", "tolerance", "threads",
                "precision", "match-iou", "choose-postprocessing", "tile", "overlap", "regions",
            ])
            .union(PostprocessOption.valueOptions).union(CheckpointOption.valueOptions).union(FoldOption.valueOptions),
        flags: Set(["use-subvoxels", "search-min-size"]).union(PostprocessOption.flags)
    )

    static func run(_ arguments: ParsedArguments) throws {
        try ThreadsOption.apply(arguments)
        let precision = try PrecisionOption.parse(arguments)
        let fold = try FoldOption.parseEvaluation(arguments)
        // With a fold, synthetic data is generated as `train` generates it (its default count too).
        var data = try DataOptions.parse(arguments, defaultSource: nil, defaultCount: fold == nil ? 100 : 400)
        if case .path(let source) = data.source, arguments.string("seed") != nil, fold == nil {
            throw UsageError(
                message:
                    "--seed applies only to --data synthetic or synthetic3d (or with --folds); '\(source)' is read as it is (drop --seed)"
            )
        }
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max)!)
        let batchSize = try arguments.int("batch-size", default: 8, in: 1...4096)!
        let wanted = try EvalMetric.parse(arguments.string("metrics"))
        let spacing = try arguments.doubles("spacing")
        if let bad = spacing?.first(where: { $0 <= 0 }) {
            throw UsageError(message: "--spacing expects values > 0, got \(bad)")
        }
        let percentile = try arguments.double("percentile", default: 95)!
        let tolerance = try arguments.double("tolerance", default: 1)!
        guard (0...100).contains(percentile) else {
            throw UsageError(message: "--percentile expects a value in 0...100, got \(percentile)")
        }
        guard tolerance >= 0 else { throw UsageError(message: "--tolerance expects a value ≥ 0, got \(tolerance)") }
        let subvoxels = arguments.flag("use-subvoxels")
        if subvoxels && !wanted.contains(.nsd) {
            throw UsageError(message: "--use-subvoxels applies to nsd; add nsd to --metrics")
        }
        if let k = data.dataset.ignoreIndex, let other = wanted.first(where: { $0 != .dice && $0 != .iou }) {
            throw UsageError(
                message:
                    "--metrics \(other.rawValue) with --ignore-index \(k): \(other.isLesionWise ? "lesions" : "surface distances") need every pixel labelled; expected --metrics dice,iou"
            )
        }
        let matchThreshold = try arguments.double("match-iou", default: 0.5)!
        guard matchThreshold > 0 && matchThreshold <= 1 else {
            throw UsageError(message: "--match-iou expects an IoU in (0, 1], got \(matchThreshold)")
        }
        if arguments.string("match-iou") != nil && !wanted.contains(where: \.isLesionWise) {
            throw UsageError(
                message:
                    "--match-iou applies to the lesion metrics; add pq, sq, rq, lesion-sensitivity or lesion-precision to --metrics"
            )
        }
        let paths = try CheckpointOption.paths(arguments)
        // NIfTI cases are read as the checkpoint's training cases were (intensity, size or spacing).
        if case .path(let path) = data.source, PredictionInputs.namesNIfTI(path) {
            try PredictCommand.inheritVolumeOptions(&data.dataset, from: paths[0], command: "eval")
        }
        // A window (given, or the patch size of a checkpoint trained on patches) scores whole cases.
        let window = try PredictCommand.windowOption(
            arguments, recordedTile: try PredictCommand.patchTile(of: paths[0], arguments, command: "eval"))
        let settings = InferenceSettings(window: window)
        if case .path(let path) = data.source, SegmentationDataset.isImageFolder(path) {
            try PredictCommand.notePictureSize(data.dataset, window: window, checkpoint: paths[0], command: "eval")
        }
        let choiceFile = arguments.string("choose-postprocessing")
        if let choiceFile {
            if let option = ["postprocess", "keep-largest", "min-size"].first(where: { arguments.string($0) != nil }) {
                throw UsageError(
                    message:
                        "--choose-postprocessing \(choiceFile) and --\(option): the choice is made on the predictions before post-processing; drop --\(option)"
                )
            }
            try checkOutputs(files: [choiceFile])
        } else if arguments.flag("search-min-size") {
            throw UsageError(
                message: "--search-min-size applies to --choose-postprocessing FILE; give the file to write")
        }
        // Folder and .npy data sets are read one batch at a time (not held in memory).
        let dataSeed = seed &+ (fold == nil ? DataOptions.evaluationSeedOffset : DataOptions.trainingSeedOffset)
        // Pictures of mixed sizes, or resized on load, and volumes resized or resampled on load are
        // scored whole, one at a time, on their own grids.
        let open = { (classes: Int) -> EvalData in
            if window != nil { return .cases(try data.openCases(seed: dataSeed, classes: classes).data) }
            if let volumes = try data.resizedVolumeCases(classes: classes) { return .cases(volumes) }
            guard let pictures = try data.pictureCases(classes: classes) else {
                return .samples(try data.open(seed: dataSeed, classes: classes).data)
            }
            let onOwnGrids =
                pictures.sharedExtents == nil
                || (0..<pictures.count).contains { pictures.storedGrid(ofCase: $0) != nil }
            return onOwnGrids ? .cases(pictures) : .samples(try ImageFolderSource(cases: pictures))
        }
        var split = ["seed": "\(seed)"]
        switch data.source {
        case .synthetic, .synthetic3d:
            (split["data"], split["count"], split["size"]) = (
                data.source == .synthetic ? "synthetic" : "synthetic3d", "\(data.count)", "\(data.size)"
            )
        case .path(let path): split["data"] = TrainCommand.canonicalPath(path)
        }
        let passes = try passes(
            fold, arguments: arguments, paths: paths, precision: precision, open: open, seed: seed, split: split)
        let model = passes[0].model
        do {
            for pass in passes {
                for member in pass.ensemble?.members ?? [pass.model] {
                    try settings.validate(for: member.configuration)
                }
            }
        } catch DiceKitError.option(let message) {
            throw UsageError(message: "--tile: \(message)")
        }
        let regions = try scoredRegions(arguments, model.configuration)
        // Scored columns: the classes, or the background and each region.
        let classes = regions?.scoredCount ?? model.configuration.classes
        if regions == nil, let names = data.classNames, names.count != classes {
            throw DiceKitError.value("classes.json names \(names.count) classes; the checkpoint predicts \(classes)")
        }
        let rank = model.configuration.spatialRank
        let postprocessing = try PostprocessOption.parse(
            arguments, classes: classes, spatialRank: rank,
            connectivityHasOtherUse: wanted.contains(where: \.isLesionWise), regions: regions)
        var lesions = try LesionMetricSums(
            classes: classes, wanted: wanted, matchThreshold: matchThreshold,
            connectivity: try PostprocessOption.connectivityOption(arguments, spatialRank: rank), regions: regions)
        var config = TrainingConfiguration()
        config.batchSize = batchSize
        config.precision = precision
        config.ignoreIndex = data.dataset.ignoreIndex
        // One forward pass per batch: the surface metrics observe the same arg-max predictions.
        var surface = SurfaceMetricSums(
            classes: classes, wanted: wanted, spacing: spacing, percentile: percentile, tolerance: tolerance,
            subvoxels: subvoxels, regions: regions)
        var pool = OverlapPool(classes: classes, ignoreIndex: config.ignoreIndex, regions: regions)
        var observed: (predicted: [LabelMap], targets: [LabelMap]) = ([], [])
        // Whole cases are observed one at a time, in order: a NIfTI case's surface metrics use its
        // own header spacing unless --spacing is given.
        var caseSpacing: (Int) -> [Double]? = { _ in nil }
        var observedCases = 0
        let progress = ItemProgress(
            total: passes.reduce(0) { $0 + $1.dataset.count }, noun: rank == 3 ? "case" : "image",
            whole: window != nil)
        defer { progress.clear() }
        progress.advance(by: 0)
        let observe: (LabelMap, LabelMap) throws -> Void = {
            progress.advance(by: $0.shape.first ?? 1)
            try pool.add(predicted: $0, target: $1)
            if !surface.isEmpty {
                try surface.add(predicted: $0, target: $1, spacing: spacing == nil ? caseSpacing(observedCases) : nil)
            }
            observedCases += 1
            if !lesions.isEmpty { try lesions.add(predicted: $0, target: $1) }
            if choiceFile != nil {
                observed.predicted.append($0)
                observed.targets.append($1)
            }
        }
        var foldFields: [String] = []
        for pass in passes {
            let trainer = try Trainer(model: pass.model, configuration: config)
            trainer.rejectsNonFiniteOutputs = true
            let scores: (loss: Double, dice: [Double], iou: [Double])
            switch pass.dataset {
            case .samples(let source):
                scores = try trainer.evaluate(
                    source, postprocessing: postprocessing, ensemble: pass.ensemble, observe: observe)
            case .cases(let cases):
                // A resampled case is scored on its stored grid, at its stored spacing.
                (caseSpacing, observedCases) = (
                    { cases.storedGrid(ofCase: $0)?.spacing ?? cases.spacing(ofCase: $0) }, 0
                )
                scores = try trainer.evaluate(
                    cases: cases, settings: settings, postprocessing: postprocessing, ensemble: pass.ensemble,
                    observe: observe)
            }
            guard let checkpoint = pass.checkpoint, let fold = pass.fold else { continue }
            let foreground = foregroundMean(scores.dice)
            progress.clear()
            printError(
                "fold \(fold) (\(checkpoint)): \(pass.dataset.count) images, foreground Dice \(fixed(foreground))")
            foldFields.append(
                "{\"fold\": \(fold), \"checkpoint\": \(jsonString(checkpoint)), \"images\": \(pass.dataset.count), \"dice_foreground\": \(jsonNumber(foreground))}"
            )
        }
        progress.clear()
        let pooled = pool.means
        var values: [EvalMetric: [Double]] = [.dice: pooled.dice, .iou: pooled.iou]
        values.merge(surface.means) { $1 }
        values.merge(lesions.values) { $1 }
        let names =
            regions.map { r in (0..<classes).map(r.scoredName) } ?? data.classNames ?? (0..<classes).map(String.init)
        let width = max(6, (names.map(\.count).max() ?? 0) + 1)
        let columns = wanted.map { max(8, $0.rawValue.count + 1) }
        printError(
            "class".padding(width + 1) + zip(wanted, columns).map { "  " + $0.rawValue.padding($1) }.joined())
        for c in 0..<classes {
            printError(
                "\(names[c].padding(width)) "
                    + zip(wanted, columns).map { " " + fixed(values[$0]![c]).padding($1 - 1) + "  " }.joined())
        }
        let fields = wanted.map { metric in
            let perClass = values[metric]!
            return "\"\(metric.rawValue)\": [\(perClass.map { jsonNumber($0) }.joined(separator: ", "))], "
                + "\"\(metric.rawValue)_foreground\": \(jsonNumber(foregroundMean(perClass)))"
        }
        var extra = foldFields.isEmpty ? "" : ", \"folds\": [" + foldFields.joined(separator: ", ") + "]"
        if let choiceFile {
            extra += try choosePostprocessing(
                observed, file: choiceFile, classes: model.configuration.classes, spatialRank: rank,
                ignoreIndex: config.ignoreIndex,
                connectivity: try PostprocessOption.connectivityOption(arguments, spatialRank: rank), regions: regions,
                names: names, minimumSizeSearch: arguments.flag("search-min-size"))
        }
        printOutput(
            "{\"images\": \(passes.reduce(0) { $0 + $1.dataset.count }), " + fields.joined(separator: ", ") + extra
                + (lesions.isEmpty ? "" : ", " + lesions.jsonField)
                + ((regions == nil ? data.classNames : names).map {
                    ", \"class_names\": [\($0.map(jsonString).joined(separator: ", "))]"
                } ?? "")
                + ", \"precision\": \(jsonString(precision.effective.rawValue))"
                + (precision.arithmetic.map { ", \"bf16_arithmetic\": \(jsonString($0.rawValue))" } ?? "") + "}")
    }
}

extension EvalCommand {
    /// The regions scored: the checkpoint's, or `--regions` for a class checkpoint (its labels
    /// scored by regions); nil to score classes.
    ///
    /// - Throws: `UsageError` for regions that do not parse, that differ from a region
    ///   checkpoint's, or that cover fewer labels than a class checkpoint predicts.
    static func scoredRegions(_ arguments: ParsedArguments, _ configuration: UNetConfiguration) throws -> LabelRegions?
    {
        guard let text = arguments.string("regions") else { return configuration.regions }
        let regions: LabelRegions
        do { regions = try LabelRegions(parsing: text) } catch let error as DiceKitError {
            throw UsageError(message: "--regions: \(error.description)")
        }
        if let own = configuration.regions {
            guard own.regions == regions.regions else {
                throw UsageError(
                    message:
                        "--regions \(regions.description): the checkpoint was trained on regions \(own.description); drop --regions"
                )
            }
            return own
        }
        guard configuration.classes <= regions.labelClasses else {
            throw UsageError(
                message:
                    "--regions \(regions.description) cover labels up to \(regions.labelClasses - 1); the checkpoint predicts labels up to \(configuration.classes - 1)"
            )
        }
        return regions
    }
}

/// A number with four decimals for tables ("  nan" when not finite).
func fixed(_ x: Double) -> String {
    guard x.isFinite else { return "   nan" }
    let scaled = Int((x * 10_000).rounded())
    let fraction = String(abs(scaled) % 10_000)
    return (scaled < 0 ? "-" : "") + "\(abs(scaled) / 10_000)." + String(repeating: "0", count: 4 - fraction.count)
        + fraction
}
