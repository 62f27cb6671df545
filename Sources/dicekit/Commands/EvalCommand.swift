// `dicekit eval`: per-class Dice and IoU of a checkpoint on a data set, as a table and JSON.

import DiceKit

enum EvalCommand: Command {
    static let spec = CommandSpec(
        name: "eval",
        summary: "per-class Dice and IoU of a checkpoint on a data set (table on stderr, JSON on stdout)",
        help: """
        usage: dicekit eval --checkpoint FILE --data synthetic|synthetic3d|DIR|FILE.npy [--count N] [--size S]
                            [--seed S] [--batch-size B] [--image-size H,W] [--resize MODE] [--mask-encoding E]
                            [--threads T] [--precision float32|bf16]

        --data synthetic (synthetic3d) evaluates on freshly generated synthetic polyps (3-D blobs;
        seed S + 2000, so not the training images); DIR and FILE.npy are read as `dicekit train`
        reads them (images or volumes, PNG/JPEG folders), with the checkpoint's class count.
        --count, --size and --seed describe the synthetic sets only and are refused with any other --data.
        \(DataOptions.help)
        Dice and IoU per class are means over the images in which the class is present (MONAI's
        DiceMetric with ignore_empty); the JSON also gives the foreground mean.
        \(ThreadsOption.help)
        \(PrecisionOption.help)
        """,
        valueOptions: DataOptions.valueOptions.subtracting(["val-data", "classes"]).union(["checkpoint", "seed", "batch-size", "threads", "precision"])
    )

    static func run(_ arguments: ParsedArguments) throws {
        try ThreadsOption.apply(arguments)
        let precision = try PrecisionOption.parse(arguments)
        let checkpoint = try arguments.required("checkpoint")
        let data = try DataOptions.parse(arguments, defaultSource: nil, defaultCount: 100)
        if case .path(let source) = data.source, arguments.string("seed") != nil {
            throw UsageError(message: "--seed applies only to --data synthetic or synthetic3d; '\(source)' is read as it is (drop --seed)")
        }
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max)!)
        let batchSize = try arguments.int("batch-size", default: 8, in: 1...4096)!
        let model = try UNet<Float>.load(contentsOf: checkpoint)
        let classes = model.configuration.classes
        if let names = data.classNames, names.count != classes {
            throw DiceKitError.value("classes.json names \(names.count) classes; the checkpoint predicts \(classes)")
        }
        let dataset = try data.load(seed: seed &+ 2000, classes: classes).data
        var config = TrainingConfiguration()
        config.batchSize = batchSize
        config.precision = precision
        let scores = try Trainer(model: model, configuration: config).evaluate(dataset)
        let names = data.classNames ?? (0..<classes).map(String.init)
        let width = max(6, (names.map(\.count).max() ?? 0) + 1)
        printError("class".padding(width + 1) + "  dice      iou")
        for c in 0..<scores.dice.count {
            printError("\(names[c].padding(width)) \(fixed(scores.dice[c]))  \(fixed(scores.iou[c]))")
        }
        let foreground = Array(scores.dice.dropFirst()).filter { !$0.isNaN }
        let fgIoU = Array(scores.iou.dropFirst()).filter { !$0.isNaN }
        let mean = { (v: [Double]) in v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count) }
        print("{\"images\": \(dataset.count), \"dice\": [\(scores.dice.map { jsonNumber($0) }.joined(separator: ", "))], "
              + "\"iou\": [\(scores.iou.map { jsonNumber($0) }.joined(separator: ", "))], "
              + "\"dice_foreground\": \(jsonNumber(mean(foreground))), \"iou_foreground\": \(jsonNumber(mean(fgIoU)))"
              + (data.classNames.map { ", \"class_names\": [\($0.map(jsonString).joined(separator: ", "))]" } ?? "") + "}")
    }
}

/// A number with four decimals for tables ("  nan" when not finite).
func fixed(_ x: Double) -> String {
    guard x.isFinite else { return "   nan" }
    let scaled = Int((x * 10_000).rounded())
    let fraction = String(abs(scaled) % 10_000)
    return (scaled < 0 ? "-" : "") + "\(abs(scaled) / 10_000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
}
