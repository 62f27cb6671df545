// The benchmark harness every DiceKit benchmark uses: warm-up, repeated timing, the median,
// a table for people and one flat JSON object (last line) for machines.
//
// A `Benchmark` owns a key prefix (e.g. "dice_softmax_n8_c4_256x256") and returns metrics whose
// keys start with it; `--filter TEXT` runs the benchmarks whose key contains TEXT. Baselines
// (sgemm peak, triad bandwidth, thread count) always run, so every figure can be read as a ratio
// to figures measured in the same run on the same, shared, machine.

import Dispatch
import DiceKit

/// One reported figure.
struct Metric {
    /// Flat JSON key, e.g. "dice_softmax_n8_c4_256x256_ms".
    let key: String
    /// The value.
    let value: Double
    /// The unit shown in the table ("ms", "GB/s", "GFLOP/s", "×", …).
    let unit: String
}

/// What a benchmark sees: the run's mode and the baselines measured so far.
struct BenchContext {
    /// `--quick`: fewer repetitions and smaller working sets where a benchmark allows it.
    let quick: Bool
    /// Metrics of the baseline benchmarks, by key (`sgemm_2048_gflops`, `triad_gbs`, …).
    var baselines: [String: Double] = [:]

    /// The median wall time in seconds of `repetitions` runs of `body`, after `warmup` runs.
    func time(warmup: Int = 2, repetitions: Int = 10, _ body: () throws -> Void) rethrows -> Double {
        let reps = quick ? Swift.max(3, repetitions / 3) : repetitions
        for _ in 0..<(quick ? Swift.min(warmup, 1) : warmup) { try body() }
        var samples: [Double] = []
        samples.reserveCapacity(reps)
        for _ in 0..<reps {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        samples.sort()
        return samples[samples.count / 2]
    }
}

/// A named benchmark producing one or more metrics.
struct Benchmark {
    /// The key prefix that `--filter` matches and every metric key starts with.
    let key: String
    /// Baselines always run, before the others.
    var isBaseline = false
    /// Measures and returns the metrics.
    let run: (BenchContext) throws -> [Metric]
}

/// Command-line options of `dicekit-bench`.
struct BenchOptions {
    var json = false
    var quick = false
    var filter: String?
    var list = false

    static let usage = """
    usage: dicekit-bench [--quick] [--json] [--filter TEXT] [--list]
      --quick        fewer repetitions (whole run under a minute)
      --json         also print one JSON object with flat keys as the last line
      --filter TEXT  run only benchmarks whose key contains TEXT (baselines always run)
      --list         print the benchmark keys and exit
    """

    static func parse(_ arguments: [String]) -> Result<BenchOptions, BenchUsageError> {
        var options = BenchOptions()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--json": options.json = true
            case "--quick": options.quick = true
            case "--list": options.list = true
            case "--filter":
                guard let text = rest.popFirst() else { return .failure(BenchUsageError(message: "--filter needs a value")) }
                options.filter = text
            case "-h", "--help": return .failure(BenchUsageError(message: nil))
            default: return .failure(BenchUsageError(message: "unknown argument '\(argument)'"))
            }
        }
        return .success(options)
    }
}

/// A usage error (or a request for help when `message` is nil).
struct BenchUsageError: Error { let message: String? }

/// Runs the baselines, then the selected benchmarks; prints a table and optionally JSON.
func runBenchmarks(_ benchmarks: [Benchmark], options: BenchOptions) {
    var context = BenchContext(quick: options.quick)
    var results: [Metric] = []
    let selected = benchmarks.filter { $0.isBaseline || options.filter.map($0.key.contains) ?? true }
    let ordered = selected.filter(\.isBaseline) + selected.filter { !$0.isBaseline }
    for benchmark in ordered {
        printErr("running \(benchmark.key)…")
        do {
            let metrics = try benchmark.run(context)
            if benchmark.isBaseline { for m in metrics { context.baselines[m.key] = m.value } }
            results += metrics
            for m in metrics { print(pad(m.key, 52) + pad(format(m.value), 14, left: true) + "  " + m.unit) }
        } catch {
            printErr("benchmark \(benchmark.key) failed: \(error)")
        }
    }
    if options.json {
        let body = results.map { "\"\($0.key)\": \(jsonNumber($0.value))" }.joined(separator: ", ")
        print("{" + body + "}")
    }
}

func format(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e9 { return String(Int(value)) }
    let magnitude = abs(value)
    let digits = magnitude >= 100 ? 1 : magnitude >= 1 ? 3 : 4
    return String(roundedTo: value, digits: digits)
}

func jsonNumber(_ value: Double) -> String {
    guard value.isFinite else { return "null" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return String(roundedTo: value, digits: 4)
}

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: Swift.max(0, width - text.count))
    return left ? fill + text : text + fill
}

extension String {
    /// A decimal rendering with a fixed number of fractional digits (no Foundation needed).
    init(roundedTo value: Double, digits: Int) {
        let scale = (0..<digits).reduce(1.0) { acc, _ in acc * 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        let fractionText = String(fraction)
        let padded = String(repeating: "0", count: Swift.max(0, digits - fractionText.count)) + fractionText
        self = (value < 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + padded : "")
    }
}
