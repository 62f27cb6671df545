// The measured multiply–add rates behind the choice between the two AVX-512 arithmetics of a
// bfloat16 convolution (BFloat16Arithmetic.swift): vdpbf16ps against Float FMAs on the running
// core (platform/bf16_rate.c). The automatic choice stays the vendor's rule, which gives the same
// arithmetic, and so the same bits, on every run; `dicekit check` and `dicekit-bench` print the
// measurement beside it and say when a core's rates favour the other arithmetic, which
// `DICEKIT_BF16_ARITHMETIC` then selects. Where the tile unit is granted, the rate of tdpbf16ps in
// the tile kernels' 2 × 2 blocks as well: the ceiling the tile kernels' figures are read against.

internal import CDiceKitKernels

/// Multiply–adds per nanosecond of the bfloat16 dot-product instruction and of Float FMAs on one
/// core of this CPU, measured (`measure`).
public struct BFloat16MultiplyAddRates: Sendable, Equatable {
    /// vdpbf16ps: 32 bfloat16 multiply–adds into Float per instruction.
    public let dotProducts: Double
    /// vfmadd231ps on 512 bits: 16 Float multiply–adds per instruction.
    public let floatFMAs: Double
    /// tdpbf16ps in 2 × 2 blocks of tiles (8192 multiply–adds per instruction), operands loaded
    /// once; nil where the tile unit is not granted (no AMX, or its self-check failed).
    public let tileProducts: Double?

    /// Rates as measured or given (multiply–adds per nanosecond).
    public init(dotProducts: Double, floatFMAs: Double, tileProducts: Double? = nil) {
        self.dotProducts = dotProducts
        self.floatFMAs = floatFMAs
        self.tileProducts = tileProducts
    }

    /// Measures the rates on the calling thread over `iterations` × 24 instructions each (the
    /// fastest of five alternated runs; a few milliseconds at the default), and the tile unit's
    /// over iterations / 16 rounds of four products where it is granted; nil on a CPU without
    /// AVX512-BF16.
    public static func measure(iterations: Int = 1 << 16) -> BFloat16MultiplyAddRates? {
        precondition(iterations > 0, "BFloat16MultiplyAddRates.measure: iterations must be positive")
        var dot = 0.0
        var fma = 0.0
        guard dk_bf16_multiply_add_rates(iterations, &dot, &fma) == 0 else { return nil }
        var tiles = 0.0
        let tilesMeasured = dk_amx_tile_rate(Swift.min(iterations / 16 + 1, (1 << 19) - 1), &tiles) == 0
        return BFloat16MultiplyAddRates(dotProducts: dot, floatFMAs: fma, tileProducts: tilesMeasured ? tiles : nil)
    }

    /// dotProducts / floatFMAs: above 1, the dot products multiply faster than the Float kernels
    /// can on rounded operands.
    public var ratio: Double { dotProducts / floatFMAs }

    /// The AVX-512 arithmetic these rates favour: `.dotProducts` when the ratio is above 1, else
    /// `.roundedOperands` (the same products at the Float rate).
    public var favoured: BFloat16Arithmetic { ratio > 1 ? .dotProducts : .roundedOperands }

    /// One line for reports: both rates, their ratio, and whether they favour `arithmetic`, the
    /// one in use (tiles are not compared: they multiply on another unit); the tiles' rate where
    /// measured.
    public func verdict(for arithmetic: BFloat16Arithmetic) -> String {
        var rates =
            "vdpbf16ps \(DecimalText.fixed(dotProducts, digits: 1)) multiply-adds/ns, Float FMAs "
            + "\(DecimalText.fixed(floatFMAs, digits: 1)) (ratio \(DecimalText.fixed(ratio, digits: 2)))"
        if let tileProducts { rates += ", AMX tiles \(DecimalText.fixed(tileProducts, digits: 1))" }
        if arithmetic == .tiles { return rates + "; AMX tiles in use" }
        if arithmetic == favoured { return rates + ": favours \(arithmetic), the arithmetic in use" }
        return rates + ": favours \(favoured), not \(arithmetic) in use; "
            + "try \(BFloat16Arithmetic.environmentVariable)=\(favoured.rawValue) and compare the _bf16 keys of dicekit-bench"
    }
}
