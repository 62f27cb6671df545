// Comparison with a reference run from the same sitting (shared/reference/bench_torch.py:
// PyTorch/oneDNN convolutions and U-Net, MONAI Dice, its own 2048³ matmul), key by key: no figure
// from another machine or another day enters a ratio.
//
// `--against REF.json` compares one DiceKit run with a saved reference JSON; `--alternate N
// --reference CMD` runs DiceKit and the command alternately N times each (DiceKit first) and
// compares medians. For each key both sides report, the ratio is DiceKit's speed over the
// reference's: reference time ÷ DiceKit time for `_ms` keys, DiceKit rate ÷ reference rate for
// `_gflops`, `_gbs` and `_per_s` keys (above 1: DiceKit faster). Other keys are not compared.

import DiceKit
import DiceKitDistributed
import Foundation

/// A reference that cannot be read or run: one line, exit status 1.
struct ReferenceError: Error, CustomStringConvertible {
    let description: String
}

/// The numeric fields of the last JSON object in `text` (a script's whole standard output, which
/// may carry warnings before the object, or a saved file).
func referenceNumbers(in text: String, origin: String) throws -> [String: Double] {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    // The object starts at a line beginning with "{" (bench_torch.py prints it indented, one key
    // per line, or a single line); try the last such line first.
    for start in lines.indices.reversed() where lines[start].hasPrefix("{") {
        let candidate = lines[start...].joined(separator: "\n")
        guard let object = try? JSONSerialization.jsonObject(with: Data(candidate.utf8)) as? [String: Any] else {
            continue
        }
        var numbers: [String: Double] = [:]
        for (key, value) in object {
            // Booleans decode as NSNumber too; their Objective-C type is "c".
            if let number = value as? NSNumber, String(cString: number.objCType) != "c" {
                numbers[key] = number.doubleValue
            }
        }
        guard !numbers.isEmpty else { throw ReferenceError(description: "\(origin): the JSON object holds no numbers") }
        return numbers
    }
    throw ReferenceError(
        description: "\(origin): no JSON object found (expected the output of shared/reference/bench_torch.py)")
}

/// Reads a saved reference JSON.
func loadReference(path: String) throws -> [String: Double] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ReferenceError(description: "\(path): cannot be read")
    }
    return try referenceNumbers(in: String(decoding: data, as: UTF8.self), origin: path)
}

/// Runs `command` through /bin/sh (its standard error passes through) and parses its output.
func runReference(command: String) throws -> [String: Double] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let out = Pipe()
    process.standardOutput = out
    do { try process.run() } catch {
        throw ReferenceError(description: "reference command '\(command)' could not start: \(error)")
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ReferenceError(
            description: "reference command '\(command)' exited with status \(process.terminationStatus)")
    }
    return try referenceNumbers(in: String(decoding: data, as: UTF8.self), origin: "output of '\(command)'")
}

/// DiceKit's speed over the reference's for `key`, or nil when the key is not a time or a rate.
func speedRatio(key: String, ours: Double, reference: Double) -> Double? {
    if key.hasSuffix("_ms") { return reference / ours }
    if key.hasSuffix("_gflops") || key.hasSuffix("_gbs") || key.hasSuffix("_per_s") { return ours / reference }
    return nil
}

/// The fastest of several runs of `key`: the smallest time (`_ms`), else the largest rate.
func fastest(key: String, _ runs: [Double]) -> Double {
    key.hasSuffix("_ms") ? runs.min()! : runs.max()!
}

/// Prints DiceKit against one reference run; returns the ratios as metrics (`<key>_vs_reference`).
func compare(_ metrics: [Metric], with reference: [String: Double]) -> [Metric] {
    var ratios: [Metric] = []
    printOut("")
    printOut(
        pad("key (one run each)", 52) + pad("DiceKit", 14, left: true) + pad("reference", 14, left: true)
            + pad("speed ratio", 14, left: true))
    for metric in metrics {
        guard let other = reference[metric.key],
            let ratio = speedRatio(key: metric.key, ours: metric.value, reference: other)
        else { continue }
        printOut(
            pad(metric.key, 52) + pad(format(metric.value), 14, left: true) + pad(format(other), 14, left: true)
                + pad(format(ratio) + "×", 14, left: true))
        ratios.append(Metric(key: metric.key + "_vs_reference", value: ratio, unit: "×"))
    }
    if ratios.isEmpty { printErr("dicekit-bench: the reference shares no time or rate key with this run") }
    return ratios
}

/// `--alternate N`: DiceKit, reference, DiceKit, … N times each; prints and returns DiceKit's
/// medians, the reference's (`<key>_reference`), the ratio of the medians (`<key>_vs_reference`)
/// and the ratio of the best runs (`<key>_vs_reference_best`: each side's fastest run, which on a
/// machine whose cores have slow phases compares the two at full speed when both reach it once).
func runAlternating(
    _ benchmarks: [Benchmark], options: BenchOptions, world: MPICommunicator?, rounds: Int,
    command: String
) throws -> [Metric] {
    var ours: [[Metric]] = []
    var references: [[String: Double]] = []
    for round in 1...rounds {
        printErr("round \(round)/\(rounds): DiceKit")
        ours.append(runBenchmarks(benchmarks, options: options, world: world))
        printErr("round \(round)/\(rounds): reference: \(command)")
        references.append(try runReference(command: command))
    }
    var results: [Metric] = []
    printOut("")
    printOut(
        "\(rounds) alternated runs each; median [min–max]; speed ratio of the medians, then the range of the per-run ratios;"
            + " speed ratio of each side's best run"
    )
    printOut(pad("key", 52) + pad("DiceKit", 26) + pad("reference", 26) + pad("speed ratio", 30) + "best runs")
    for template in ours[0] {
        let values = ours.compactMap { run in run.first { $0.key == template.key }?.value }
        guard values.count == rounds else { continue }
        let mine = median(values)
        results.append(Metric(key: template.key, value: mine, unit: template.unit))
        let others = references.compactMap { $0[template.key] }
        guard others.count == rounds, let ratio = speedRatio(key: template.key, ours: mine, reference: median(others))
        else { continue }
        let pairs = zip(values, others).compactMap { speedRatio(key: template.key, ours: $0, reference: $1) }
        let best = speedRatio(
            key: template.key, ours: fastest(key: template.key, values), reference: fastest(key: template.key, others))!
        results.append(Metric(key: template.key + "_reference", value: median(others), unit: template.unit))
        results.append(Metric(key: template.key + "_vs_reference", value: ratio, unit: "×"))
        results.append(Metric(key: template.key + "_vs_reference_best", value: best, unit: "×"))
        printOut(
            pad(template.key, 52) + pad(spread(values), 26) + pad(spread(others), 26)
                + pad(format(ratio) + "× [" + format(pairs.min()!) + "–" + format(pairs.max()!) + "]", 30)
                + format(best) + "×")
    }
    return results
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

private func spread(_ values: [Double]) -> String {
    format(median(values)) + " [" + format(values.min()!) + "–" + format(values.max()!) + "]"
}
