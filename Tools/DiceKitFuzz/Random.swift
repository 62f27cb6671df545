// The harness's only source of randomness: SplitMix64, seeded per input, so input i of a run
// with seed S is the same bytes on every machine and every run (reproduce a finding with
// `dicekit-fuzz --seed S --first i --count 1`).

/// SplitMix64 (Steele, Lea & Flood 2014): a small, fast generator with a 64-bit state.
struct FuzzRandom {
    private var state: UInt64

    /// The generator of input `index` of a run seeded with `seed`.
    init(seed: UInt64, index: Int) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03 &+ 1
        _ = next()
    }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in 0..<bound (bound ≥ 1).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }

    /// A uniform element of `items` (not empty).
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

/// Integers that find off-by-one, sign, overflow and huge-allocation bugs.
let interestingIntegers: [String] = [
    "0", "1", "-1", "2", "3", "4", "7", "8", "16", "255", "256", "1000", "4096", "4097", "65535", "65536",
    "1000000", "2147483647", "2147483648", "4294967295", "4294967296", "4611686018427387904",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551616",
    "1e300", "1.5", "-0", "1e-300", "99999999999999999999999999",
]
