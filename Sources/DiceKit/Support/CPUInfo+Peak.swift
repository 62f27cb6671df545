// The CPU's peak single-precision rate: cores × FLOP per cycle per core × clock, where
// FLOP per cycle = FMA units per core × (vector width / 32 bits) lanes × 2 (a multiply and an add).
//
// The vector width is that of the widest usable extension; the number of FMA units (and whether
// a 512-bit instruction runs at full width) is not reported by CPUID and comes from the vendor's
// documentation, by family:
//   Intel with AVX-512 (Skylake-SP … Emerald Rapids Xeon Gold/Platinum): 2 × 512-bit → 64
//     (one unit on some Xeon Bronze/Silver and client parts: the figure is then an upper bound)
//   AMD family 0x19 with AVX-512 (Zen 4): 2 × 256-bit pipes, 512-bit ops in two passes → 32
//   AMD family 0x1A (Zen 5, EPYC and desktop): 2 × 512-bit → 64
//   AVX2 + FMA (Haswell and later, Zen 2/3): 2 × 256-bit → 32; Zen/Zen+ (0x17, models < 0x30): 2 × 128-bit → 16
//   AVX without FMA: one 8-lane add and one 8-lane multiply per cycle → 16; SSE: 4 + 4 → 8

extension CPUInfo {
    /// A peak arithmetic rate and how it was derived.
    public struct PeakRate: Sendable, Equatable {
        /// Single-precision FLOP per cycle per core.
        public var flopsPerCycle: Int
        /// The derivation, e.g. "2 FMA units × 16 lanes × 2 FLOP".
        public var basis: String
        /// Cores × `flopsPerCycle` × clock in GFLOP/s; `nil` when the clock is unknown.
        public var gigaflops: Double?
    }

    /// The single-precision peak of all cores (see the file's header for the per-family table).
    public var singlePrecisionPeak: PeakRate {
        let sets = instructionSets
        let amd = vendor == "AuthenticAMD" || vendor == "HygonGenuine"
        let (units, bits, fused): (Int, Int, Bool)
        if sets.contains(.avx512f) {
            (units, bits, fused) = amd && family < 0x1A ? (2, 256, true) : (2, 512, true)
        } else if sets.contains(.avx2) && sets.contains(.fma) {
            (units, bits, fused) = amd && family == 0x17 && model < 0x30 ? (2, 128, true) : (2, 256, true)
        } else if sets.contains(.avx) {
            (units, bits, fused) = (1, 256, false)
        } else {
            (units, bits, fused) = (1, 128, false)
        }
        let lanes = bits / 32
        let flops = units * lanes * 2
        let basis =
            fused
            ? "\(units) FMA unit\(units == 1 ? "" : "s") × \(lanes) lanes × 2 FLOP"
            : "one \(lanes)-lane add + one \(lanes)-lane multiply"
        return PeakRate(
            flopsPerCycle: flops, basis: basis,
            gigaflops: clock.map { Double(cores * flops) * $0.gigahertz })
    }
}
