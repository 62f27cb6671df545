// dicekit-bench: DiceKit's benchmarks. See Harness.swift for the options and output format,
// Reference.swift for the comparison with a reference run, and Docs/Benchmarks.md for the figures.

import DiceKit

#if canImport(Glibc)
    import Glibc
#endif

// OpenBLAS's idle worker threads spin (calling sched_yield) for 2^28 time-stamp cycles, about
// 0.1 s, after every call that used them. The sgemm baseline and each convolution's bare GEMM run
// OpenBLAS on its threads, and the convolution timed next then shared the cores with them: on a
// 2-core Intel Xeon, 64→64 and 128→128 forward ran at exactly half speed in about one run in
// three (Docs/Benchmarks.md). OpenBLAS reads the timeout when it loads, so the benchmark runs
// itself again once with OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles) unless the variable is set: the
// counterpart of the OMP_WAIT_POLICY=passive that the reference script is run with.
if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only when it fails: go on with OpenBLAS's default timeout.
}
// OpenBLAS loads with the core the guard would choose, as in `dicekit` (BLASCoreGuard.swift).
BLAS.reexecuteWithCorrectedCoreIfNeeded()

// Like PyTorch's caching allocator: reuse freed activation buffers instead of mapping (and
// page-faulting) every 16 MiB output anew; without it, 32→32 conv forward+backward measured
// ≈ 118 instead of ≈ 142 GFLOP/s. Process-wide, for every benchmark.
AllocationPolicy.retainLargeBlocks()

/// Every benchmark, in the order they run (baselines first regardless).
let allBenchmarks: [Benchmark] =
    baselineBenchmarks + tensorBenchmarks + lossBenchmarks + lossFamilyBenchmarks + metricBenchmarks + convBenchmarks
    + [
        volumeConvBenchmark, headConvBenchmark,
    ] + normalizationBenchmarks + unetBenchmarks
    + bfloat16ConvBenchmarks + upsamplingBenchmarks + bfloat16UNetBenchmarks + distributedBenchmarks

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
