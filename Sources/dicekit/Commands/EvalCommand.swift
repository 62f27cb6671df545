// `dicekit eval`: per-class Dice and IoU of a checkpoint on a data set, as a table and JSON.

import DiceKit

enum EvalCommand: Command {
    static let spec = CommandSpec(
        name: "eval",
        summary: "per-class Dice and IoU of a checkpoint on a data set (table on stderr, JSON on stdout)",
        help: """
            usage: dicekit eval --checkpoint FILE --data synthetic|synthetic3d|DIR|FILE.npy [--count N] [--size S]
                                [--seed S] [--batch-size B] [--image-size H,W] [--resize MODE] [--mask-encoding E]
                                [--ignore-index K]
                                [--metrics dice,iou,hd95,nsd] [--spacing S,S[,S]] [--percentile P] [--tolerance T]
                                [--use-subvoxels]
                                [--threads T] [--precision float32|bf16]

            --data synthetic (synthetic3d) evaluates on freshly generated synthetic polyps (3-D blobs;
            seed S + 2000, so not the training images); DIR and FILE.npy are read as `dicekit train`
            reads them (images or volumes, PNG/JPEG folders), with the checkpoint's class count.
            --count, --size and --seed describe the synthetic sets only and are refused with any other --data.
            \(DataOptions.help)
            Dice and IoU per class are means over the images in which the class is present (MONAI's
            DiceMetric with ignore_empty); the JSON also gives the foreground mean.
            --metrics picks what is reported (default dice,iou); hd95 (95th-percentile Hausdorff
            distance, --percentile P) and nsd (normalised surface Dice at --tolerance T, default 1)
            are MONAI's, in units of --spacing (default 1 per axis), per class averaged over the
            images where they are defined; a class missing from a prediction but not from its target
            (or the reverse) makes HD95 NaN for that image and NSD 0. --use-subvoxels measures the NSD
            on the corners between voxels, weighted by area (MONAI's use_subvoxels). See Docs/Metrics.md.
            \(ThreadsOption.help)
            \(PrecisionOption.help)
            """,
        valueOptions: DataOptions.valueOptions.subtracting(["val-data", "classes"])
            .union([
                "checkpoint", "seed", "batch-size", "metrics", "spacing", "percentile", "tolerance", "threads",
                "precision",
            ]),
        flags: ["use-subvoxels"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        try ThreadsOption.apply(arguments)
        let precision = try PrecisionOption.parse(arguments)
        let checkpoint = try arguments.required("checkpoint")
        let data = try DataOptions.parse(arguments, defaultSource: nil, defaultCount: 100)
        if case .path(let source) = data.source, arguments.string("seed") != nil {
            throw UsageError(
                message:
                    "--seed applies only to --data synthetic or synthetic3d; '\(source)' is read as it is (drop --seed)"
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
        if let k = data.dataset.ignoreIndex, let surface = wanted.first(where: { $0 != .dice && $0 != .iou }) {
            throw UsageError(
                message:
                    "--metrics \(surface.rawValue) with --ignore-index \(k): surface distances need every pixel labelled; expected --metrics dice,iou"
            )
        }
        let model = try UNet<Float>.load(contentsOf: checkpoint)
        let classes = model.configuration.classes
        if let names = data.classNames, names.count != classes {
            throw DiceKitError.value("classes.json names \(names.count) classes; the checkpoint predicts \(classes)")
        }
        // Folder and .npy data sets are read one batch at a time (not held in memory).
        let dataset = try data.open(seed: seed &+ 2000, classes: classes).data
        var config = TrainingConfiguration()
        config.batchSize = batchSize
        config.precision = precision
        config.ignoreIndex = data.dataset.ignoreIndex
        // One forward pass per batch: the surface metrics observe the same arg-max predictions.
        var surface = SurfaceMetricSums(
            classes: classes, wanted: wanted, spacing: spacing, percentile: percentile, tolerance: tolerance,
            subvoxels: subvoxels)
        let scores = try Trainer(model: model, configuration: config).evaluate(
            dataset, observe: surface.isEmpty ? nil : { try surface.add(predicted: $0, target: $1) })
        var values: [EvalMetric: [Double]] = [.dice: scores.dice, .iou: scores.iou]
        values.merge(surface.means) { $1 }
        let names = data.classNames ?? (0..<classes).map(String.init)
        let width = max(6, (names.map(\.count).max() ?? 0) + 1)
        printError("class".padding(width + 1) + wanted.map { "  " + $0.rawValue.padding(8) }.joined())
        for c in 0..<classes {
            printError("\(names[c].padding(width)) " + wanted.map { " " + fixed(values[$0]![c]) + "  " }.joined())
        }
        // Foreground means skip NaN (absent classes); an infinite HD95 stays infinite.
        let mean = { (v: [Double]) in v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count) }
        let fields = wanted.map { metric in
            let perClass = values[metric]!
            let foreground = Array(perClass.dropFirst()).filter { !$0.isNaN }
            return "\"\(metric.rawValue)\": [\(perClass.map { jsonNumber($0) }.joined(separator: ", "))], "
                + "\"\(metric.rawValue)_foreground\": \(jsonNumber(mean(foreground)))"
        }
        printOutput(
            "{\"images\": \(dataset.count), " + fields.joined(separator: ", ")
                + (data.classNames.map { ", \"class_names\": [\($0.map(jsonString).joined(separator: ", "))]" } ?? "")
                + "}")
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
