// The OpenBLAS core guard: a DYNAMIC_ARCH OpenBLAS picks its kernels ("core") from the CPU model
// when the library loads, and a model it does not know gets a generic SSE core: Debian's 0.3.21
// runs its Prescott kernels on an Emerald Rapids Xeon (family 6, model 207), sgemm 2048³ at
// 33 GFLOP/s instead of ~210. On the first BLAS call (and before `dicekit`'s first), when
//   - OpenBLAS runs one of the generic cores below,
//   - CPUID and XCR0 show AVX-512 F/CD/BW/DQ/VL (→ SkylakeX, Cooperlake with AVX512-BF16) or
//     AVX2 + FMA (→ Haswell),
//   - the user has not set OPENBLAS_CORETYPE (an explicit choice always wins), and
//   - DICEKIT_OPENBLAS_GUARD is not 0/off/false/no,
// the guard calls OpenBLAS's `gotoblas_dynamic_quit`, sets OPENBLAS_CORETYPE, calls
// `gotoblas_dynamic_init` (both found with dlsym; a build without DYNAMIC_ARCH lacks them and
// is left alone), restores the environment, and checks `openblas_get_corename()`. The kernels
// compute the same products (to Float rounding); only the speed changes.
//
// Executables do better at their first line: `reexecuteWithCorrectedCoreIfNeeded()` runs the
// program again with OPENBLAS_CORETYPE set, so that OpenBLAS loads with the right core and
// nothing is switched while the process runs. Switching at run time raced, in rare runs, with
// OpenBLAS's own start-up: `dicekit` once died of a segmentation fault inside
// `gotoblas_dynamic_init`, whose core table had been emptied between its check and its call.
// The new process learns from DICEKIT_OPENBLAS_FOUND which core OpenBLAS had chosen and reports
// the correction as the run-time guard would; both variables are then removed from its
// environment.

internal import CDiceKitKernels
internal import COpenBLAS

#if canImport(Glibc)
    import Glibc
#endif

extension BLAS {
    /// What the OpenBLAS core guard found and did, once per process.
    public struct CoreSelection: Sendable, Equatable, CustomStringConvertible {
        /// Why the core in use is the one it is.
        public enum Reason: String, Sendable {
            /// OpenBLAS ran a generic core on a CPU with AVX2/AVX-512; the guard switched it.
            case corrected
            /// `OPENBLAS_CORETYPE` was set by the user: left alone.
            case explicit
            /// `DICEKIT_OPENBLAS_GUARD=0` (or off/false/no): left alone.
            case disabled
            /// OpenBLAS's own choice is not a generic core: left alone.
            case suitable
            /// The CPU (or the OS) offers neither AVX2 + FMA nor AVX-512: nothing better to choose.
            case noBetterCore = "no-better-core"
            /// OpenBLAS was built without DYNAMIC_ARCH (no re-selection entry points): left alone.
            case notDynamic = "not-dynamic"
            /// Re-selection did not yield any requested core; OpenBLAS's choice was restored.
            case failed
        }

        /// The core OpenBLAS had selected by itself (`openblas_get_corename()`), e.g. "Prescott".
        public let found: String
        /// The core in use after the guard, e.g. "SkylakeX" (equal to `found` unless corrected).
        public let chosen: String
        /// Why.
        public let reason: Reason
        /// One sentence naming what was seen and done.
        public let detail: String

        /// Whether the guard switched OpenBLAS to another core.
        public var corrected: Bool { reason == .corrected }

        /// "Prescott → SkylakeX (corrected: …)" or "Cooperlake (suitable: …)".
        public var description: String {
            (found == chosen ? chosen : "\(found) → \(chosen)") + " (\(reason.rawValue): \(detail))"
        }
    }

    /// What the OpenBLAS core guard found and did; reading it runs the guard if no BLAS call has yet.
    ///
    /// See the header of Linalg/BLASCoreGuard.swift (and Docs/Architecture.md) for the rule. The
    /// guard runs once per process, before the first BLAS or LAPACK call made through DiceKit.
    public static var coreSelection: CoreSelection { guardedSelection }

    /// OpenBLAS 0.3.21's x86-64 cores (driver/others/dynamic.c, `corename[]`) whose kernels
    /// predate AVX: what it falls back to for a CPU model it does not know, and what the guard
    /// replaces. Model-specific cores of CPUs with AVX (Sandybridge: AVX without FMA; the AMD
    /// family-15h cores Bulldozer, Piledriver, Steamroller, Excavator; Haswell, Zen, SkylakeX,
    /// Cooperlake, SapphireRapids) are OpenBLAS's deliberate choices and left alone.
    public static let genericCores: Set<String> = [
        "Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn",
        "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Bobcat",
    ]

    /// The environment variable that turns the guard off when set to 0, off, false or no.
    public static let coreGuardSwitch = "DICEKIT_OPENBLAS_GUARD"

    /// The variable through which a process started by `reexecuteWithCorrectedCoreIfNeeded()`
    /// learns the core OpenBLAS had chosen by itself (removed once read).
    public static let coreGuardFoundVariable = "DICEKIT_OPENBLAS_FOUND"

    /// For an executable's first line: when the guard would switch OpenBLAS's core, runs this
    /// program again (execv of /proc/self/exe, same arguments and environment) with
    /// OPENBLAS_CORETYPE set to that core, so that OpenBLAS loads with it and nothing is switched
    /// while the process runs; `coreSelection` there reports the correction all the same.
    /// Returns when there is nothing to correct, when this process is already the re-executed
    /// one, or when execv fails (the run-time guard then applies).
    public static func reexecuteWithCorrectedCoreIfNeeded() {
        guard environmentValue(coreGuardFoundVariable) == nil,
            let core = plannedCore(
                userCoreType: environmentValue("OPENBLAS_CORETYPE"), guardSetting: environmentValue(coreGuardSwitch),
                instructionSets: CPUInfo.current.instructionSets)
        else { return }
        setenv(coreGuardFoundVariable, currentCoreName(), 1)
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only when it fails.
        unsetenv(coreGuardFoundVariable)
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// Runs the guard once (a no-op after the first call); every BLAS/LAPACK entry point calls it.
    @inline(__always)
    static func ensureCoreGuard() { _ = guardedSelection.reason }

    private static let guardedSelection: CoreSelection = {
        let reexecutedFrom = environmentValue(coreGuardFoundVariable)
        let userCoreType = environmentValue("OPENBLAS_CORETYPE")
        if reexecutedFrom != nil {
            // Set by reexecuteWithCorrectedCoreIfNeeded for this process's OpenBLAS, not by the user.
            unsetenv(coreGuardFoundVariable)
            unsetenv("OPENBLAS_CORETYPE")
        }
        return runCoreGuard(
            userCoreType: userCoreType, guardSetting: environmentValue(coreGuardSwitch),
            instructionSets: CPUInfo.current.instructionSets, reexecutedFrom: reexecutedFrom)
    }()

    /// The core the guard would switch to (the best candidate), or nil when it would leave
    /// OpenBLAS's choice alone; the same rule as `runCoreGuard`.
    static func plannedCore(userCoreType: String?, guardSetting: String?, instructionSets: CPUInfo.InstructionSets)
        -> String?
    {
        if let user = userCoreType, !user.isEmpty { return nil }
        if let setting = guardSetting, ["0", "off", "false", "no"].contains(setting.lowercased()) { return nil }
        let found = currentCoreName()
        guard genericCores.contains(where: { $0.lowercased() == found.lowercased() }), DynamicArch.entryPoints != nil
        else { return nil }
        return candidateCores(for: instructionSets).first
    }

    // MARK: - The rule and its application

    /// The cores to try, best first, for a CPU with `sets`; empty without AVX2 + FMA.
    static func candidateCores(for sets: CPUInfo.InstructionSets) -> [String] {
        var cores: [String] = []
        if sets.isSuperset(of: CPUInfo.InstructionSets.avx512Server) {
            if sets.contains(.avx512bf16) { cores.append("Cooperlake") }
            cores.append("SkylakeX")
        }
        if sets.isSuperset(of: [.avx, .avx2, .fma]) { cores.append("Haswell") }
        return cores
    }

    /// Decides and applies; `userCoreType` and `guardSetting` are the two variables' values,
    /// `reexecutedFrom` the core OpenBLAS had chosen before `reexecuteWithCorrectedCoreIfNeeded`
    /// started this process with `userCoreType` set (nil otherwise).
    static func runCoreGuard(
        userCoreType: String?, guardSetting: String?,
        instructionSets: CPUInfo.InstructionSets, reexecutedFrom: String? = nil
    ) -> CoreSelection {
        let found = currentCoreName()
        func keep(_ reason: CoreSelection.Reason, _ detail: String) -> CoreSelection {
            CoreSelection(found: found, chosen: found, reason: reason, detail: detail)
        }
        let isa = instructionSets.contains(.avx512f) ? "AVX-512" : "AVX2 + FMA"
        var userCoreType = userCoreType
        if let original = reexecutedFrom, let requested = userCoreType {
            if found.lowercased() == requested.lowercased() {
                return CoreSelection(
                    found: original, chosen: found, reason: .corrected,
                    detail:
                        "OpenBLAS chose its generic \(original) kernels on a CPU with \(isa); loaded \(found) instead")
            }
            // The core asked for at load did not take: decide as if nothing had been set.
            userCoreType = nil
        }
        if let user = userCoreType, !user.isEmpty {
            return keep(.explicit, "OPENBLAS_CORETYPE=\(user) is set; the user's choice is kept")
        }
        if let setting = guardSetting, ["0", "off", "false", "no"].contains(setting.lowercased()) {
            return keep(.disabled, "\(coreGuardSwitch)=\(setting) turns the guard off")
        }
        guard genericCores.contains(where: { $0.lowercased() == found.lowercased() }) else {
            return keep(.suitable, "OpenBLAS's own choice is not a generic core")
        }
        let candidates = candidateCores(for: instructionSets)
        guard !candidates.isEmpty else {
            return keep(.noBetterCore, "the CPU or OS offers neither AVX2 + FMA nor AVX-512")
        }
        guard let entries = DynamicArch.entryPoints else {
            return keep(.notDynamic, "OpenBLAS has no gotoblas_dynamic_init/quit (built without DYNAMIC_ARCH)")
        }
        for core in candidates {
            let now = entries.reselect(core)
            if now.lowercased() == core.lowercased() {
                return CoreSelection(
                    found: found, chosen: now, reason: .corrected,
                    detail: "OpenBLAS chose its generic \(found) kernels on a CPU with \(isa); switched to \(now)")
            }
        }
        let restored = entries.reselect(found)
        return CoreSelection(
            found: found, chosen: restored, reason: .failed,
            detail: "re-selecting \(candidates.joined(separator: ", ")) did not take; kept \(restored)")
    }

    /// Switches OpenBLAS to `core` now and returns the core name reported afterwards, or `nil`
    /// when OpenBLAS has no DYNAMIC_ARCH entry points. For tests that compare kernels; not
    /// thread-safe against BLAS calls running at the same time.
    static func reselectCore(_ core: String) -> String? {
        ensureCoreGuard()
        return DynamicArch.entryPoints?.reselect(core)
    }

    static func currentCoreName() -> String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name).trimmingSpaces()
    }

    private static func environmentValue(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

/// OpenBLAS's DYNAMIC_ARCH entry points, looked up in the loaded library.
private struct DynamicArch {
    typealias Entry = @convention(c) () -> Void
    let quit: Entry
    let initialize: Entry

    static let entryPoints: DynamicArch? = {
        let anchor: @convention(c) () -> UnsafeMutablePointer<CChar>? = openblas_get_corename
        let address = unsafeBitCast(anchor, to: UnsafeRawPointer.self)
        guard let quit = dk_loaded_symbol(address, "gotoblas_dynamic_quit"),
            let initialize = dk_loaded_symbol(address, "gotoblas_dynamic_init")
        else { return nil }
        return DynamicArch(
            quit: unsafeBitCast(quit, to: Entry.self), initialize: unsafeBitCast(initialize, to: Entry.self))
    }()

    /// quit, OPENBLAS_CORETYPE=core, init, then the variable as it was; returns the new core name.
    func reselect(_ core: String) -> String {
        let previous = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        setenv("OPENBLAS_CORETYPE", core, 1)
        quit()
        initialize()
        if let previous { setenv("OPENBLAS_CORETYPE", previous, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        return BLAS.currentCoreName()
    }
}
