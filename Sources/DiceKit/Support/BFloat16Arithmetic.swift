// How `.bfloat16` convolutions multiply: with the CPU's bfloat16 dot-product instruction
// (vdpbf16ps, the AVX512-BF16 kernels of conv_bf16.c), or by rounding the operands to bfloat16
// and running the Float kernels on them.
//
// Both compute the same thing: operands rounded to bfloat16 (to nearest, ties to even), products
// accumulated in Float. A product of two bfloat16 values has at most 16 significant bits, so a
// Float FMA forms it exactly, as vdpbf16ps does; the two differ only in the order of the Float
// additions (vdpbf16ps adds a pair of products per step), so both meet the same error bound
// (BFloat16Convolution.swift).
//
// Which one is faster is a property of the core, which CPUID does not report:
//   - AMD Zen 4 and Zen 5 run vdpbf16ps at twice the multiply–add rate of Float FMAs (measured on
//     Zen 5: the bfloat16 kernels at 1.5–1.7× the Float ones, Docs/Benchmarks.md);
//   - Intel cores with AVX512-BF16 and no usable AMX tile kernel (Cooper Lake; Sapphire, Emerald
//     and Granite Rapids, whose AMX has no DiceKit kernel yet or is hidden by a hypervisor) run
//     it at best at the Float rate: measured on a Xeon family 6 model 207, the bfloat16 kernels
//     reach 160–170 GFLOP/s where the Float ones reach 260–290, and PyTorch's own bfloat16
//     autocast is 1.4× slower than its Float there.
// So the automatic choice is by vendor: rounded operands on GenuineIntel, dot products on every
// other CPU with AVX512-BF16. `DICEKIT_BF16_ARITHMETIC=dot|rounded` overrides it for the
// process, `force` for tests; `dicekit check` prints the choice and `dicekit-bench`'s
// `_bf16` keys measure the one in use.

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

    /// The environment variable that chooses the arithmetic for a process ("dot" or "rounded").
    public static let environmentVariable = "DICEKIT_BF16_ARITHMETIC"

    /// The arithmetic in use: the forced one, else the environment's, else `automatic`.
    public static var current: BFloat16Arithmetic {
        let code = forced.load(ordering: .relaxed)
        if code >= 0 { return allCases[code] }
        return environmentChoice ?? automatic
    }

    /// The choice for this CPU: `.roundedOperands` on GenuineIntel, `.dotProducts` elsewhere
    /// (see the file comment).
    public static var automatic: BFloat16Arithmetic {
        CPUInfo.current.vendor == "GenuineIntel" ? .roundedOperands : .dotProducts
    }

    /// One line for reports: the arithmetic in use and why.
    public static var selection: String {
        if forced.load(ordering: .relaxed) >= 0 { return "\(current) (forced)" }
        if let chosen = environmentChoice { return "\(chosen) (\(environmentVariable))" }
        let reason =
            automatic == .roundedOperands
            ? "Intel: vdpbf16ps runs no faster than Float FMAs" : "vdpbf16ps at twice the Float multiply-add rate"
        return "\(automatic) (\(reason))"
    }

    /// The value of `DICEKIT_BF16_ARITHMETIC` when it is set to something other than dot or
    /// rounded (the CLI refuses it), else nil.
    public static var invalidEnvironmentValue: String? {
        guard let raw = getenv(environmentVariable) else { return nil }
        let text = String(cString: raw)
        return BFloat16Arithmetic(rawValue: text.lowercased()) == nil ? text : nil
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
        }
    }

    /// Index into `allCases` of the forced arithmetic, or −1.
    private static let forced = Atomic<Int>(-1)

    /// The environment's choice, read once (nil when unset or not dot/rounded).
    private static let environmentChoice: BFloat16Arithmetic? = getenv(environmentVariable).flatMap {
        BFloat16Arithmetic(rawValue: String(cString: $0).lowercased())
    }
}
