// dicekit-bench: DiceKit's benchmarks. See Harness.swift for the options and output format,
// Reference.swift for the comparison with a reference run, and Docs/Benchmarks.md for the figures.

import DiceKit

#if canImport(Glibc)
    import Glibc
#endif

// Like PyTorch's caching allocator: reuse freed activation buffers instead of mapping (and
// page-faulting) every 16 MiB output anew; without it, 32→32 conv forward+backward measured
// ≈ 118 instead of ≈ 142 GFLOP/s. Process-wide, for every benchmark.
AllocationPolicy.retainLargeBlocks()

/// Every benchmark, in the order they run (baselines first regardless).
let allBenchmarks: [Benchmark] =
    baselineBenchmarks + lossBenchmarks + lossFamilyBenchmarks + metricBenchmarks + convBenchmarks + unetBenchmarks
    + bfloat16ConvBenchmarks + bfloat16UNetBenchmarks + distributedBenchmarks

// Under mpirun every rank runs the same benchmarks (their collectives must match); rank 0 prints.
let benchWorld = openBenchWorld()
if let world = benchWorld, world.rank > 0 { Console.silence() }

switch BenchOptions.parse(Array(CommandLine.arguments.dropFirst())) {
case .failure(let error):
    if let message = error.message {
        printErr("dicekit-bench: \(message)\n" + BenchOptions.usage)
        exit(2)
    }
    printOut(BenchOptions.usage)
case .success(let options):
    if options.list {
        for benchmark in allBenchmarks { printOut(benchmark.key) }
        exit(0)
    }
    if let raw = getenv("DICEKIT_ISA"), case let requested = String(cString: raw),
        requested != InstructionSet.current.description
    {
        printErr(
            "dicekit-bench: DICEKIT_ISA=\(requested) cannot be used: expected one of "
                + InstructionSet.available.map(\.description).joined(separator: ", ") + " (this CPU)")
        exit(2)
    }
    do {
        // Read the reference before the run, so that a bad file fails at once.
        let reference = try options.against.map(loadReference(path:))
        printMachine()
        var metrics: [Metric]
        if let rounds = options.alternate, let command = options.reference {
            metrics = try runAlternating(
                allBenchmarks, options: options, world: benchWorld, rounds: rounds, command: command)
        } else {
            metrics = runBenchmarks(allBenchmarks, options: options, world: benchWorld)
            if let reference { metrics += compare(metrics, with: reference) }
        }
        if options.json { printOut(jsonObject(machine: machineFields(), metrics: metrics)) }
        benchWorld?.finish()
    } catch {
        printErr("dicekit-bench: \(error)")
        exit(1)
    }
}
