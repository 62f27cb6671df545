// Reproducible random numbers: xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64.
// The same seed gives the same stream on every platform and run, unlike SystemRandomNumberGenerator.

/// A fast, seedable random number generator (xoshiro256**) whose stream depends only on the seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose whole stream is determined by `seed`.
    public init(seed: UInt64) {
        var splitmix = seed
        func next() -> UInt64 {
            splitmix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitmix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal Double (Box–Muller; one value per call, reproducible).
    public mutating func nextNormal() -> Double {
        var u1 = nextUnit()
        while u1 == 0 { u1 = nextUnit() }
        let u2 = nextUnit()
        return (-2 * Double.log(u1)).squareRoot() * Double.cos(2 * .pi * u2)
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension Tensor {
    /// A tensor of independent uniform samples from [lower, upper).
    ///
    /// Values are drawn in Double and rounded, so Float and Double tensors from the same seed agree.
    public static func uniform(
        _ shape: [Int], lower: Scalar = 0, upper: Scalar = 1,
        generator: inout SeededGenerator
    ) -> Tensor {
        let (lo, width) = (Double(lower), Double(upper) - Double(lower))
        return specialised(
            Scalar.self,
            float: { Tensor<Float>.uniformDraws(shape, lo, width, &generator).reinterpreted() },
            double: { Tensor<Double>.uniformDraws(shape, lo, width, &generator).reinterpreted() })
    }

    /// A tensor of independent normal samples with the given mean and standard deviation.
    public static func normal(
        _ shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1,
        generator: inout SeededGenerator
    ) -> Tensor {
        let (mu, sigma) = (Double(mean), Double(standardDeviation))
        return specialised(
            Scalar.self,
            float: { Tensor<Float>.normalDraws(shape, mu, sigma, &generator).reinterpreted() },
            double: { Tensor<Double>.normalDraws(shape, mu, sigma, &generator).reinterpreted() })
    }

    // The draws in concrete Float or Double code, which `uniform` and `normal` hand over to:
    // reached from a generic caller (a layer's initialiser) or from another module, a generic
    // loop would convert and store each value through the protocol's witnesses, a noticeable
    // part of a second for a U-Net's millions of weights.

    /// `uniform`'s values, lo + width · u in Double, rounded to Scalar.
    private static func uniformDraws(
        _ shape: [Int], _ lo: Double, _ width: Double, _ generator: inout SeededGenerator
    ) -> Tensor {
        var result = Tensor(shape: shape)
        for i in 0..<result.count { result.storage[i] = Scalar(lo + width * generator.nextUnit()) }
        return result
    }

    /// `normal`'s values, mu + sigma · z in Double, rounded to Scalar.
    private static func normalDraws(
        _ shape: [Int], _ mu: Double, _ sigma: Double, _ generator: inout SeededGenerator
    ) -> Tensor {
        var result = Tensor(shape: shape)
        for i in 0..<result.count { result.storage[i] = Scalar(mu + sigma * generator.nextNormal()) }
        return result
    }
}
