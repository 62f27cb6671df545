// Per-image scores of `dicekit predict`: the Dice of every class against the ground truth
// (NaN, printed as null, when the class is absent from the truth: MONAI's DiceMetric with
// ignore_empty), one JSON line per image on stdout and a table on stderr.

import DiceKit

/// Per-image Dice scores and the lines that report them.
struct DiceReport {
    /// Classes scored: the checkpoint's (2 for a one-channel sigmoid checkpoint).
    let classes: Int
    /// Column titles: the classes.json names when they fit the checkpoint, else "class K".
    let classNames: [String]
    /// The ground-truth label of unlabelled pixels (`--ignore-index`), which count nowhere.
    let ignore: Int32?
    /// A region checkpoint's regions: the columns are then the background and each region.
    let regions: LabelRegions?
    private var rows: [(name: String, dice: [Double], foreground: Double)] = []

    init(classes: Int, names: [String]?, ignore: Int?, regions: LabelRegions? = nil) {
        self.classes = regions?.scoredCount ?? classes
        self.regions = regions
        classNames =
            regions.map { r in (0..<r.scoredCount).map(r.scoredName) }
            ?? (names?.count == classes ? names! : (0..<classes).map { "class \($0)" })
        self.ignore = ignore.flatMap { Int32(exactly: $0) }
    }

    /// Scores `item` (which has labels) against `predicted`.
    ///
    /// - Throws: `DiceKitError.value` naming the file for a label outside the checkpoint's classes.
    mutating func add(_ item: PredictionInputs.Item, predicted: [Int32]) throws -> (
        perClass: [Double], foreground: Double
    ) {
        let truth = item.labels!
        if let regions {
            let counts: OverlapCounts
            do {
                counts = try regions.counts(
                    predicted: try LabelMap(shape: [1, predicted.count], int32Labels: predicted),
                    target: try LabelMap(shape: [1, truth.count], int32Labels: truth), ignoreIndex: ignore.map(Int.init)
                )
            } catch let error as DiceKitError { throw DiceKitError.value("\(item.source): \(error.description)") }
            return record(item, tp: counts.truePositives, fp: counts.falsePositives, fn: counts.falseNegatives)
        }
        var (tp, fp, fn) = (
            [Int](repeating: 0, count: classes), [Int](repeating: 0, count: classes),
            [Int](repeating: 0, count: classes)
        )
        for (t, p) in zip(truth, predicted) where t != ignore {
            guard t >= 0, Int(t) < classes else {
                throw DiceKitError.value(
                    "\(item.source): ground-truth label \(t); expected a class index in 0..<\(classes) of the checkpoint (check --mask-encoding\(ignore == nil ? "; --ignore-index if \(t) marks unlabelled pixels" : ""))"
                )
            }
            if t == p {
                tp[Int(t)] += 1
            } else {
                fn[Int(t)] += 1
                fp[Int(p)] += 1
            }
        }
        return record(item, tp: tp, fp: fp, fn: fn)
    }

    /// Records the Dice of each column from its counts.
    private mutating func record(_ item: PredictionInputs.Item, tp: [Int], fp: [Int], fn: [Int]) -> (
        perClass: [Double], foreground: Double
    ) {
        let dice = (0..<classes).map { (c: Int) -> Double in
            let overlap = Double(2 * tp[c])
            let total = Double(2 * tp[c] + fp[c] + fn[c])
            return tp[c] + fn[c] == 0 ? .nan : overlap / total
        }
        let present = dice.dropFirst().filter { !$0.isNaN }
        let foreground = present.isEmpty ? .nan : present.reduce(0, +) / Double(present.count)
        rows.append((item.name, dice, foreground))
        return (dice, foreground)
    }

    /// {"image", "shape", "predicted_fraction", and with ground truth "dice", "dice_foreground"}.
    func jsonLine(_ item: PredictionInputs.Item, predicted: [Int32], dice: (perClass: [Double], foreground: Double)?)
        -> String
    {
        var counts = [Int](repeating: 0, count: classes)
        if let regions, let masks = try? regions.masks(LabelMap(shape: [1, predicted.count], int32Labels: predicted)) {
            for k in 0..<classes {
                counts[k] = masks.storage[(k * predicted.count)..<((k + 1) * predicted.count)].filter { $0 }.count
            }
        } else {
            for p in predicted where Int(p) < classes { counts[Int(p)] += 1 }
        }
        let fractions = counts.map { jsonNumber(Double($0) / Double(max(predicted.count, 1))) }
        var fields = [
            "\"image\": \(jsonString(item.name))",
            "\"shape\": [\(item.outputExtents.map(String.init).joined(separator: ", "))]",
            "\"predicted_fraction\": [\(fractions.joined(separator: ", "))]",
        ]
        if let dice {
            fields.append("\"dice\": [\(dice.perClass.map(jsonNumber).joined(separator: ", "))]")
            fields.append("\"dice_foreground\": \(jsonNumber(dice.foreground))")
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// The table of every scored image and the mean over them (classes absent from an image's
    /// truth are left out of its mean), on stderr; nothing when no image had ground truth.
    func printTable() {
        guard !rows.isEmpty else { return }
        let width = max(5, rows.map(\.name.count).max()!)
        let column = max(8, classNames.map(\.count).max()!) + 2
        let cell = { (text: String) in String(repeating: " ", count: max(1, column - text.count)) + text }
        printError("image".padding(width + 1) + " dice_fg" + classNames.map(cell).joined())
        for row in rows {
            printError(
                row.name.padding(width + 1) + " \(fixed(row.foreground))" + row.dice.map { cell(fixed($0)) }.joined())
        }
        let mean = { (values: [Double]) -> Double in
            let kept = values.filter { !$0.isNaN }
            return kept.isEmpty ? .nan : kept.reduce(0, +) / Double(kept.count)
        }
        let perClass = (0..<classes).map { c in mean(rows.map { $0.dice[c] }) }
        printError(
            "mean".padding(width + 1) + " \(fixed(mean(rows.map(\.foreground))))"
                + perClass.map { cell(fixed($0)) }.joined())
    }
}
