// The benchmark harness every DiceKit benchmark uses: warm-up, repeated timing, the median,
// a table for people and one flat JSON object (last line) for machines.
//
// A `Benchmark` owns a key prefix (e.g. "dice_softmax_n8_c4_256x256") and returns metrics whose
// keys start with it; `--filter TEXT` runs the benchmarks whose key contains TEXT (or one of
// the |-separated texts: `--filter 'conv|unet'`). Baselines
// (sgemm peak, triad bandwidth, thread count) always run, so every figure can be read as a ratio
// to figures measured in the same run on the same, shared, machine. The run opens with the
// machine it ran on (Machine.swift); `--against` and `--alternate` compare with the reference
// script's JSON from the same sitting (Reference.swift).

import DiceKit
import DiceKitDistributed
import Dispatch

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
    /// `--quick`: one warm-up run and a third of the repetitions (at least 3). The working sets
    /// stay the same, so the keys measure what full runs and shared/reference/bench_torch.py measure.
    let quick: Bool
    /// The MPI world when the run is under mpirun with more than one rank, else nil
    /// (DistributedBenchmarks.swift).
    let world: MPICommunicator?
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
struct Benchmark: Sendable {
    /// The key prefix that `--filter` matches and every metric key starts with.
    let key: String
    /// Baselines always run, before the others.
    var isBaseline = false
    /// Measures and returns the metrics.
    let run: @Sendable (BenchContext) throws -> [Metric]
}

/// Command-line options of `dicekit-bench`.
struct BenchOptions {
    var json = false
    var quick = false
    var filter: String?
    var list = false
    /// `--against REF.json`: a reference run's JSON to compare with (Reference.swift).
    var against: String?
    /// `--alternate N`: run DiceKit and the `--reference` command alternately N times each.
    var alternate: Int?
    /// `--reference CMD`: the shell command printing the reference JSON (with `--alternate`).
    var reference: String?

    static let usage = """
        usage: dicekit-bench [--quick] [--json] [--filter TEXT] [--list]
                             [--against REF.json | --alternate N --reference CMD]
          --quick          one warm-up run and a third of the repetitions (at least 3); the
                           working sets and keys stay those of a full run
          --json           also print one JSON object with flat keys as the last line
          --filter TEXT    run only benchmarks whose key contains TEXT, or one of TEXT's
                           |-separated parts ('conv|unet'); baselines always run
          --list           print the benchmark keys and exit
          --against FILE   after the run, compare with the JSON object in FILE (the output of
                           shared/reference/bench_torch.py from the same sitting): for every key
                           both have, DiceKit's speed over the reference's (>1: DiceKit faster)
          --alternate N    run the benchmarks and the --reference command alternately, N times
                           each (DiceKit first); print medians, their ratio, the per-pair ratios
                           and the ratio of each side's best run
          --reference CMD  shell command whose standard output ends with the reference JSON, e.g.
                           "cd ../shared && /work/refenv/bin/python reference/bench_torch.py --no-bf16"
        """

    static func parse(_ arguments: [String]) -> Result<BenchOptions, BenchUsageError> {
        var options = BenchOptions()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--json": options.json = true
            case "--quick": options.quick = true
            case "--list": options.list = true
            case "--filter", "--against", "--reference", "--alternate":
                guard let text = rest.popFirst(), !text.hasPrefix("--") else {
                    return .failure(BenchUsageError(message: "\(argument) needs a value"))
                }
                switch argument {
                case "--filter": options.filter = text
                case "--against": options.against = text
                case "--reference": options.reference = text
                default:
                    guard let n = Int(text), (1...20).contains(n) else {
                        return .failure(
                            BenchUsageError(message: "--alternate needs a count from 1 to 20, got '\(text)'"))
                    }
                    options.alternate = n
                }
            case "-h", "--help": return .failure(BenchUsageError(message: nil))
            default: return .failure(BenchUsageError(message: "unknown argument '\(argument)'"))
            }
        }
        if options.alternate != nil, options.reference == nil {
            return .failure(
                BenchUsageError(message: "--alternate needs --reference CMD (the command printing the reference JSON)"))
        }
        if options.reference != nil, options.alternate == nil {
            return .failure(BenchUsageError(message: "--reference is used with --alternate N"))
        }
        if options.against != nil, options.alternate != nil {
            return .failure(BenchUsageError(message: "--against FILE and --alternate N exclude each other"))
        }
        return .success(options)
    }
}

/// A usage error (or a request for help when `message` is nil).
struct BenchUsageError: Error { let message: String? }

/// Runs the baselines, then the selected benchmarks, printing a table row per metric as it goes.
func runBenchmarks(_ benchmarks: [Benchmark], options: BenchOptions, world: MPICommunicator?) -> [Metric] {
    var context = BenchContext(quick: options.quick, world: world)
    var results: [Metric] = []
    let parts = options.filter.map { $0.split(separator: "|").map(String.init) }
    let selected = benchmarks.filter { b in b.isBaseline || parts.map { $0.contains(where: b.key.contains) } ?? true }
    let ordered = selected.filter(\.isBaseline) + selected.filter { !$0.isBaseline }
    for benchmark in ordered {
        printErr("running \(benchmark.key)…")
        do {
            let metrics = try benchmark.run(context)
            if benchmark.isBaseline { for m in metrics { context.baselines[m.key] = m.value } }
            results += metrics
            for m in metrics { printOut(pad(m.key, 52) + pad(format(m.value), 14, left: true) + "  " + m.unit) }
        } catch {
            printErr("benchmark \(benchmark.key) failed: \(error)")
        }
    }
    return results
}

/// One flat JSON object: the machine's fields (strings and numbers), then every metric.
func jsonObject(machine: [(String, String)], metrics: [Metric]) -> String {
    let body = machine.map { "\"\($0.0)\": \($0.1)" } + metrics.map { "\"\($0.key)\": \(jsonNumber($0.value))" }
    return "{" + body.joined(separator: ", ") + "}"
}

func format(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    if value == value.rounded(), abs(value) < 1e9 { return String(Int(value)) }
    let magnitude = abs(value)
    let digits = magnitude >= 100 ? 1 : magnitude >= 1 ? 3 : 4
    return DecimalText.fixed(value, digits: digits)
}

func jsonNumber(_ value: Double) -> String {
    guard value.isFinite else { return "null" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return DecimalText.fixed(value, digits: 4)
}

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: Swift.max(0, width - text.count))
    return left ? fill + text : text + fill
}
