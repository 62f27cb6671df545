// `dicekit eval`: per-class Dice and IoU of a checkpoint on a data set, as a table and JSON.

import DiceKit

enum EvalCommand: Command {
    static let spec = CommandSpec(
        name: "eval",
        summary: "per-class Dice and IoU of a checkpoint on a data set (table on stderr, JSON on stdout)",
        help: """
        usage: dicekit eval --checkpoint FILE --data synthetic|DIR|FILE.npy [--count N] [--size S] [--seed S] [--batch-size B]
                     [--threads T]

        --data synthetic evaluates on freshly generated synthetic polyps (seed S + 2000, so not the
        training images); DIR and FILE.npy are read as `dicekit train` reads them.
        Dice and IoU per class are means over the images in which the class is present (MONAI's
        DiceMetric with ignore_empty); the JSON also gives the foreground mean.
        \(ThreadsOption.help)
        """,
        valueOptions: ["checkpoint", "data", "count", "size", "seed", "batch-size", "threads"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        try ThreadsOption.apply(arguments)
        let (checkpoint, source) = (try arguments.required("checkpoint"), try arguments.required("data"))
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max)!)
        let size = try arguments.int("size", default: 128, in: 16...2048)!
        let count = try arguments.int("count", default: 100, in: 1...100_000)!
        let batchSize = try arguments.int("batch-size", default: 8, in: 1...4096)!
        let model = try UNet<Float>.load(contentsOf: checkpoint)
        let dataset: SegmentationDataset
        if source == "synthetic" {
            dataset = try .syntheticPolyps(count: count, seed: seed &+ 2000,
                                           configuration: SyntheticPolypConfiguration(size: size, classes: model.configuration.classes))
        } else {
            dataset = try SegmentationDataset.load(from: source, classes: model.configuration.classes)
        }
        var config = TrainingConfiguration()
        config.batchSize = batchSize
        let scores = try Trainer(model: model, configuration: config).evaluate(dataset)
        printError("class    dice      iou")
        for c in 0..<scores.dice.count {
            printError("\(String(c).padding(6)) \(fixed(scores.dice[c]))  \(fixed(scores.iou[c]))")
        }
        let foreground = Array(scores.dice.dropFirst()).filter { !$0.isNaN }
        let fgIoU = Array(scores.iou.dropFirst()).filter { !$0.isNaN }
        let mean = { (v: [Double]) in v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count) }
        print("{\"images\": \(dataset.count), \"dice\": [\(scores.dice.map { jsonNumber($0) }.joined(separator: ", "))], "
              + "\"iou\": [\(scores.iou.map { jsonNumber($0) }.joined(separator: ", "))], "
              + "\"dice_foreground\": \(jsonNumber(mean(foreground))), \"iou_foreground\": \(jsonNumber(mean(fgIoU)))}")
    }
}

/// A number with four decimals for tables ("  nan" when not finite).
func fixed(_ x: Double) -> String {
    guard x.isFinite else { return "   nan" }
    let scaled = Int((x * 10_000).rounded())
    let fraction = String(abs(scaled) % 10_000)
    return (scaled < 0 ? "-" : "") + "\(abs(scaled) / 10_000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
}
