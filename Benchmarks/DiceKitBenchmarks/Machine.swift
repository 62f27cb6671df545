// The machine a run measured: the CPU (DiceKit's CPUInfo) and OpenBLAS's build and core (after
// the core guard), printed at the head of the table and as the first keys of the JSON object,
// so that no figure is read apart from the CPU it came from.

import DiceKit
import Foundation

/// The machine's fields as (JSON key, encoded JSON value) pairs.
func machineFields() -> [(String, String)] {
    let cpu = CPUInfo.current
    let selection = BLAS.coreSelection
    func string(_ text: String) -> String { JSONValue.string(text).encoded }
    func optional(_ value: Int?) -> String { value.map(String.init) ?? "null" }
    let date = ISO8601DateFormatter.string(
        from: Date(), timeZone: TimeZone(identifier: "UTC")!,
        formatOptions: [.withInternetDateTime])
    return [
        ("date", string(date)),
        ("cpu_vendor", string(cpu.vendor)),
        ("cpu_model", string(cpu.modelName)),
        ("cpu_family", String(cpu.family)),
        ("cpu_model_number", String(cpu.model)),
        ("cpu_isa", "[" + cpu.instructionSets.names.map(string).joined(separator: ", ") + "]"),
        ("cpu_cores", String(cpu.cores)),
        ("cpu_logical_cpus", String(cpu.logicalCPUs)),
        ("cpu_l1d_bytes", optional(cpu.caches.l1Data)),
        ("cpu_l2_bytes", optional(cpu.caches.l2)),
        ("cpu_l3_bytes", optional(cpu.caches.l3)),
        ("cpu_clock_ghz", cpu.clock.map { jsonNumber($0.gigahertz) } ?? "null"),
        ("kernel_isa", string(InstructionSet.current.description)),
        ("winograd", ConvolutionSettings.winogradRuns ? "true" : "false"),
        ("bf16_level", string(BFloat16KernelLevel.current.description)),
        ("bf16_arithmetic", string(BFloat16Arithmetic.current.rawValue)),
        ("openblas", string(BLAS.configuration)),
        ("openblas_core_found", string(selection.found)),
        ("openblas_core", string(selection.chosen)),
        ("openblas_core_reason", string(selection.reason.rawValue)),
        ("openblas_coretype_env", ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map(string) ?? "null"),
        (
            "openblas_thread_timeout_env",
            ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"].map(string) ?? "null"
        ),
    ]
}

/// The table's head: one line per fact, in the table's two columns (and a line on stderr when
/// the OpenBLAS core guard switched the core, as `dicekit` prints it).
func printMachine() {
    let cpu = CPUInfo.current
    let selection = BLAS.coreSelection
    if selection.reason == .corrected || selection.reason == .failed {
        printErr("dicekit-bench: OpenBLAS core \(selection)")
    }
    let rows: [(String, String)] = [
        ("cpu", "\(cpu.modelName) (\(cpu.vendor) family \(cpu.family) model \(cpu.model))"),
        ("cpu_isa", cpu.instructionSets.names.joined(separator: " ")),
        ("cpu_cores / caches", "\(cpu.cores) cores, \(cpu.cacheSummary)"),
        (
            "kernel_isa",
            InstructionSet.current.description
                + (ProcessInfo.processInfo.environment["DICEKIT_ISA"] != nil ? " (DICEKIT_ISA)" : "")
        ),
        (
            "winograd",
            ConvolutionSettings.winogradRuns
                ? "F(2×2, 3×3) and F(2×2×2, 3×3×3) for the 3×3 (3×3×3) stride-1 passes of even extents"
                : ProcessInfo.processInfo.environment["DICEKIT_WINOGRAD"] == "0"
                    ? "off (DICEKIT_WINOGRAD=0)" : "off (the portable level)"
        ),
        (
            "bf16",
            BFloat16KernelLevel.current == .none
                ? "none: the _bf16 keys run in float32"
                : "\(BFloat16KernelLevel.current), \(BFloat16Arithmetic.selection)"
        ),
        (
            "openblas",
            "\(BLAS.configuration) (\(BLAS.parallelism), idle-thread spin OPENBLAS_THREAD_TIMEOUT="
                + "\(ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] ?? "unset"))"
        ),
        ("openblas_core", selection.description),
    ]
    for (key, value) in rows { printOut(pad(key, 24) + value) }
}
