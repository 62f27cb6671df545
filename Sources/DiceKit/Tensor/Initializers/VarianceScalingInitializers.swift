// He (Kaiming) and Glorot (Xavier) initialisers: variance scaling by the fan-in and fan-out.
//
//   He (He et al. 2015, "Delving deep into rectifiers"):    std = gain / √fan,  gain = √(2 / (1 + a²))
//   Glorot (Glorot & Bengio 2010):                          std = gain · √(2 / (fanIn + fanOut))
// A uniform draw on [−b, b] has std b/√3, so b = √3 · std. These are PyTorch's
// kaiming_*_ and xavier_*_ formulas; the fans below equal PyTorch's for the same kernel
// converted with `WeightLayout` (PyTorch reads them from [out, in, k…], DiceKit from [k…, in, out]).

/// Weight initialisers: variance scaling here (He, Glorot); orthogonal, which needs LAPACK, in
/// Linalg/Initializer+Orthogonal.swift.
public enum Initializer {}

/// The distribution a variance-scaling initialiser draws from.
public enum InitializerDistribution: Sendable, Equatable {
    /// Uniform on [−√3·std, √3·std].
    case uniform
    /// Normal with mean 0 and the given standard deviation (not truncated).
    case normal
}

/// Which fan a He initialiser preserves the variance of.
public enum FanMode: Sendable, Equatable {
    /// The forward pass: fan-in (default, PyTorch's `mode="fan_in"`).
    case fanIn
    /// The backward pass: fan-out.
    case fanOut
}

extension Initializer {
    /// The fan-in and fan-out of a weight shape in DiceKit's layout: the last axis is the output,
    /// the second to last the input, the others the receptive field.
    ///
    /// [in, out] → (in, out); [k…, in, out] → (∏k · in, ∏k · out). For a transposed-convolution
    /// kernel [k…, Cout/groups, Cin] this is (∏k · Cout/groups, ∏k · Cin), as PyTorch computes.
    ///
    /// - Throws: `DiceKitError.shape` for a rank below 2 or an empty extent.
    public static func fans(of shape: [Int]) throws -> (fanIn: Int, fanOut: Int) {
        guard shape.count >= 2, shape.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape("fans need a weight shape of rank ≥ 2 with extents ≥ 1, got \(shape)")
        }
        let receptive = shape.dropLast(2).reduce(1, *)
        return (receptive * shape[shape.count - 2], receptive * shape[shape.count - 1])
    }

    /// He (Kaiming) initialisation: std = gain / √fan with gain = √(2 / (1 + a²)).
    ///
    /// - Parameters:
    ///   - shape: DiceKit weight layout, rank ≥ 2 (see `fans(of:)`).
    ///   - distribution: `.normal` (default) or `.uniform` on [−√3·std, √3·std].
    ///   - negativeSlope: a, the slope of a leaky ReLU that follows (0 for ReLU, the default).
    ///   - mode: which fan to use; default `.fanIn`.
    ///   - generator: the seeded source of the draws.
    /// - Throws: `DiceKitError.shape` for a rank below 2 or an empty extent.
    public static func he<T: BLASScalar>(
        shape: [Int], distribution: InitializerDistribution = .normal,
        negativeSlope: Double = 0, mode: FanMode = .fanIn,
        generator: inout SeededGenerator
    ) throws -> Tensor<T> {
        let (fanIn, fanOut) = try fans(of: shape)
        let gain = (2 / (1 + negativeSlope * negativeSlope)).squareRoot()
        let std = gain / Double(mode == .fanIn ? fanIn : fanOut).squareRoot()
        return draw(shape: shape, std: std, distribution: distribution, generator: &generator)
    }

    /// Glorot (Xavier) initialisation: std = gain · √(2 / (fanIn + fanOut)).
    ///
    /// - Parameters:
    ///   - shape: DiceKit weight layout, rank ≥ 2 (see `fans(of:)`).
    ///   - distribution: `.uniform` (default, bound gain · √(6 / (fanIn + fanOut))) or `.normal`.
    ///   - gain: multiplier; default 1.
    ///   - generator: the seeded source of the draws.
    /// - Throws: `DiceKitError.shape` for a rank below 2 or an empty extent.
    public static func glorot<T: BLASScalar>(
        shape: [Int], distribution: InitializerDistribution = .uniform,
        gain: Double = 1, generator: inout SeededGenerator
    ) throws -> Tensor<T> {
        let (fanIn, fanOut) = try fans(of: shape)
        let std = gain * (2 / Double(fanIn + fanOut)).squareRoot()
        return draw(shape: shape, std: std, distribution: distribution, generator: &generator)
    }

    private static func draw<T: BLASScalar>(
        shape: [Int], std: Double, distribution: InitializerDistribution,
        generator: inout SeededGenerator
    ) -> Tensor<T> {
        switch distribution {
        case .normal:
            return Tensor.normal(shape, mean: 0, standardDeviation: T(std), generator: &generator)
        case .uniform:
            let bound = T(3.0.squareRoot() * std)
            return Tensor.uniform(shape, lower: -bound, upper: bound, generator: &generator)
        }
    }
}
