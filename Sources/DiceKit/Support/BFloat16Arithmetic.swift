// How `.bfloat16` convolutions multiply: with the CPU's bfloat16 dot-product instruction
// (vdpbf16ps, the AVX512-BF16 kernels of conv_bf16.c), on AMX tiles (tdpbf16ps, conv_amx.c), or
// by rounding the operands to bfloat16 and running the Float kernels on them.
//
// All three compute the same thing: operands rounded to bfloat16 (to nearest, ties to even),
// products accumulated in Float. A product of two bfloat16 values has at most 16 significant
// bits, so a Float FMA forms it exactly, as vdpbf16ps and tdpbf16ps do; they differ only in the
// order of the Float additions (the dot products add a pair of products per step), so all meet
// the same error bound (BFloat16Convolution.swift).
//
// Which one is faster is a property of the core, which CPUID does not report:
//   - AMD Zen 4 and Zen 5 run vdpbf16ps at twice the multiply–add rate of Float FMAs (measured on
//     Zen 5: the bfloat16 kernels at 1.5–1.7× the Float ones, Docs/Benchmarks/AMD-Zen5.md);
//   - Intel cores with AVX512-BF16 and no usable AMX (Cooper Lake; Sapphire, Emerald and Granite
//     Rapids whose AMX a hypervisor hides) run it no faster than Float FMAs, at half their rate
//     on the one measured: a Xeon family 6 model 207, 44.7 multiply-adds per ns against 89.5 on one core
//     (BFloat16MultiplyAddRates), the bfloat16 kernels reach 160–170 GFLOP/s where the Float ones
//     reach 260–290, and PyTorch's own bfloat16 autocast is 1.3–1.4× slower than its Float there;
//   - AMX tiles multiply 16 × 32 by 32 × 16 bfloat16 per instruction, several times the
//     AVX-512 rate (not yet measured here: no machine so far exposed AMX).
// So the automatic choice is tiles where the AMX level is in use (the CPU has AMX-BF16, Linux
// granted the tile data and the tile kernels passed their self-check on the tile unit,
// conv_amx_check.c), else by vendor: rounded operands on GenuineIntel, dot products on every
// other CPU with AVX512-BF16. The vendor's rule gives every run the same arithmetic and so the
// same bits; the measured rates (BFloat16MultiplyAddRates, printed by `dicekit check` and
// `dicekit-bench`) say when a core disagrees with it. `DICEKIT_BF16_ARITHMETIC=dot|rounded|amx` overrides it for the
// process (amx only where the AMX level is in use), `force` for tests (which may force tiles on a
// CPU without AMX: the tile kernel then runs on conv_amx.c's software model of the tile unit,
// about 25 times slower than the dot products); `dicekit check` prints the choice and
// `dicekit-bench`'s `_bf16` keys measure the one in use.

internal import CDiceKitKernels
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How convolutions with precision `.bfloat16` compute their bfloat16 products.
public enum BFloat16Arithmetic: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The AVX512-BF16 kernels: pairs of bfloat16 operands per vdpbf16ps, Float accumulation.
    case dotProducts = "dot"
    /// Operands rounded to bfloat16 (kept as Float values) and multiplied by the Float kernels:
    /// the same exact products, Float FMA throughput.
    case roundedOperands = "rounded"
    /// AMX-BF16 tile products (tdpbf16ps, conv_amx.c): forward passes, input and weight gradients.
    case tiles = "amx"

    /// The environment variable that chooses the arithmetic for a process ("dot", "rounded" or "amx").
    public static let environmentVariable = "DICEKIT_BF16_ARITHMETIC"

    /// The arithmetic in use: the forced one, else the environment's, else `automatic`.
    public static var current: BFloat16Arithmetic {
        let code = forced.load(ordering: .relaxed)
        if code >= 0 { return allCases[code] }
        return environmentChoice ?? automatic
    }

    /// The choice for this CPU: `.tiles` where the AMX level is in use, else `.roundedOperands`
    /// on GenuineIntel and `.dotProducts` elsewhere (see the file comment).
    public static var automatic: BFloat16Arithmetic {
        if tilesAvailable { return .tiles }
        return CPUInfo.current.vendor == "GenuineIntel" ? .roundedOperands : .dotProducts
    }

    /// Whether the tile unit runs `.tiles`: the bfloat16 level in use is AMX (AMX-BF16 and
    /// AMX-TILE, tile data granted by Linux, not forced lower).
    public static var tilesAvailable: Bool { dk_bf16_level_in_use() == DK_BF16_AMX }

    /// One line for reports: the arithmetic in use and why (and a `DICEKIT_BF16_ARITHMETIC`
    /// that is ignored, with `environmentError`).
    public static var selection: String {
        if forced.load(ordering: .relaxed) >= 0 { return "\(current) (forced)" }
        if let chosen = environmentChoice { return "\(chosen) (\(environmentVariable))" }
        let ignored = environmentError.map { "; ignored \($0)" } ?? ""
        return "\(automatic) (\(reason(for: automatic, tileSelfCheck))\(ignored))"
    }

    /// Why `automatic` is the automatic choice on a CPU whose tile self-check ended as `check`.
    static func reason(for automatic: BFloat16Arithmetic, _ check: TileSelfCheck) -> String {
        switch (automatic, check.failure) {
        case (.tiles, _): return "AMX-BF16 tiles granted, self-check passed"
        case (.roundedOperands, let failure?):
            return "\(failure); Intel cores run vdpbf16ps at half the Float multiply-add rate"
        case (.roundedOperands, nil): return "Intel without AMX tiles: vdpbf16ps at half the Float multiply-add rate"
        case (.dotProducts, let failure?): return "\(failure); vdpbf16ps at twice the Float multiply-add rate"
        case (.dotProducts, nil): return "vdpbf16ps at twice the Float multiply-add rate"
        }
    }

    /// The value of `DICEKIT_BF16_ARITHMETIC` when it is set to something other than dot,
    /// rounded or amx (the CLI refuses it), else nil.
    public static var invalidEnvironmentValue: String? {
        guard let raw = getenv(environmentVariable) else { return nil }
        let text = String(cString: raw)
        return BFloat16Arithmetic(rawValue: text.lowercased()) == nil ? text : nil
    }

    /// The one-line error for a `DICEKIT_BF16_ARITHMETIC` that cannot be honoured (a value other
    /// than dot, rounded or amx; amx where the AMX level is not in use), else nil. The CLI
    /// refuses `--precision bf16` with it; elsewhere such a value is ignored.
    public static var environmentError: String? {
        if let value = invalidEnvironmentValue {
            return "\(environmentVariable)='\(value)': expected dot, rounded or amx (or unset)"
        }
        guard let raw = getenv(environmentVariable), String(cString: raw).lowercased() == tiles.rawValue,
            !tilesAvailable
        else { return nil }
        return amxUnavailableError(tileSelfCheck)
    }

    /// The error for `DICEKIT_BF16_ARITHMETIC=amx` where the tiles are not in use, on a CPU whose
    /// tile self-check ended as `check`.
    static func amxUnavailableError(_ check: TileSelfCheck) -> String {
        if let failure = check.failure { return "\(environmentVariable)=amx: the \(failure); expected dot or rounded" }
        return
            "\(environmentVariable)=amx: this CPU has no AMX-BF16 tiles in use (bfloat16 level: \(BFloat16KernelLevel.current)); expected dot or rounded"
    }

    /// The outcome of the tile kernels' self-check on the tile unit (conv_amx_check.c), which
    /// detection runs once Linux grants the tile data: exact sums, compared bit for bit.
    public enum TileSelfCheck: Equatable, Sendable, CustomStringConvertible {
        /// Not run: no AMX-BF16, or the tile data refused.
        case notRun
        /// Every output matched: the AMX level is in use.
        case passed
        /// An output differed (the first one described): the AVX512-BF16 level is in use instead.
        case failed(String)

        /// "AMX tiles failed their self-check (…)" for a failed check, else nil.
        var failure: String? {
            guard case .failed(let detail) = self else { return nil }
            return "AMX tiles failed their self-check (\(detail))"
        }

        /// "not run", "passed" or "failed: …".
        public var description: String {
            switch self {
            case .notRun: return "not run"
            case .passed: return "passed"
            case .failed(let detail): return "failed: \(detail)"
            }
        }
    }

    /// The tile unit's self-check of this process (run once, at detection).
    public static var tileSelfCheck: TileSelfCheck {
        switch dk_amx_self_check_status() {
        case 1: return .passed
        case 0: return .failed(String(cString: dk_amx_self_check_detail()))
        default: return .notRun
        }
    }

    /// The one-line notice for a bfloat16 run on a CPU whose AMX tiles failed their self-check
    /// (the run goes on with the arithmetic of a CPU without AMX), else nil.
    public static var tileFallbackNotice: String? { tileFallbackNotice(tileSelfCheck) }

    /// The notice of `tileFallbackNotice` for a self-check that ended as `check`.
    static func tileFallbackNotice(_ check: TileSelfCheck) -> String? {
        check.failure.map { "note: --precision bf16: the \($0); running with \(current) instead" }
    }

    /// The one-line notice for a bfloat16 run on a CPU whose automatic choice is rounded operands
    /// (the products at the Float rate, `vdpbf16ps` being slower): bfloat16's numerics and kept
    /// activations, not a speed-up over float32; nil where the arithmetic is another, or was
    /// chosen by `DICEKIT_BF16_ARITHMETIC` or `force`.
    public static var roundedOperandsNotice: String? {
        let chosen = forced.load(ordering: .relaxed) < 0 && environmentChoice == nil
        return roundedOperandsNotice(current, automatic: chosen)
    }

    /// The notice of `roundedOperandsNotice` for `arithmetic`, chosen automatically or not.
    static func roundedOperandsNotice(_ arithmetic: BFloat16Arithmetic, automatic: Bool) -> String? {
        guard arithmetic == .roundedOperands, automatic else { return nil }
        return "note: --precision bf16: this CPU runs vdpbf16ps slower than Float FMAs, so the bfloat16 products "
            + "are formed by the float32 kernels on rounded operands: bfloat16 numerics and activations at about "
            + "float32's speed (dicekit check measures both rates)"
    }

    /// Forces `arithmetic` for the whole process (nil: the environment's or automatic choice
    /// again), for tests that compare the two.
    public static func force(_ arithmetic: BFloat16Arithmetic?) {
        forced.store(arithmetic.map { allCases.firstIndex(of: $0)! } ?? -1, ordering: .relaxed)
    }

    /// Runs `body` with `arithmetic` forced, then restores the previous forcing (also when `body` throws).
    public static func with<R>(_ arithmetic: BFloat16Arithmetic, _ body: () throws -> R) rethrows -> R {
        let previous = forced.exchange(allCases.firstIndex(of: arithmetic)!, ordering: .relaxed)
        defer { forced.store(previous, ordering: .relaxed) }
        return try body()
    }

    /// "dot products" or "rounded operands".
    public var description: String {
        switch self {
        case .dotProducts: return "dot products"
        case .roundedOperands: return "rounded operands"
        case .tiles: return "AMX tiles"
        }
    }

    /// Index into `allCases` of the forced arithmetic, or −1.
    private static let forced = Atomic<Int>(-1)

    /// The environment's choice, read once (nil when unset, not dot/rounded/amx, or amx where
    /// the AMX level is not in use).
    private static let environmentChoice: BFloat16Arithmetic? = getenv(environmentVariable).flatMap {
        let choice = BFloat16Arithmetic(rawValue: String(cString: $0).lowercased())
        return choice == .tiles && !tilesAvailable ? nil : choice
    }
}

extension ComputePrecision {
    /// The arithmetic of the bfloat16 convolutions when this precision runs them on this CPU
    /// (`effective` is `.bfloat16`), else nil: what a run's record names beside the precision.
    public var arithmetic: BFloat16Arithmetic? { effective == .bfloat16 ? BFloat16Arithmetic.current : nil }

    /// How this precision runs here, for a run's record: "float32" (also for a bf16 request on a
    /// CPU without bfloat16), or "bf16 on dot products", "bf16 on AMX tiles", "bf16 on rounded operands".
    public var runningDescription: String { arithmetic.map { "bf16 on \($0)" } ?? ComputePrecision.float.rawValue }
}
