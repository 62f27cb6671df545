// Smooth random fields for the synthetic data sets: 2-D value noise (random values on a
// lattice, interpolated with the smoothstep weight 3t² − 2t³), cheap and deterministic.

/// A random lattice of (cells + 1)² values in [0, 1), sampled with smooth bilinear interpolation.
struct ValueNoise {
    let cells: Int
    private let values: [Float]

    /// A field with `cells` lattice cells across the unit square.
    init(cells: Int, generator: inout SeededGenerator) {
        self.cells = cells
        values = (0..<((cells + 1) * (cells + 1))).map { _ in Float(generator.nextUnit()) }
    }

    /// The field at (u, v) in [0, 1]²; values in [0, 1).
    @inline(__always)
    func callAsFunction(_ u: Float, _ v: Float) -> Float {
        let x = min(max(u, 0), 1) * Float(cells)
        let y = min(max(v, 0), 1) * Float(cells)
        let (i, j) = (min(Int(x), cells - 1), min(Int(y), cells - 1))
        let (fx, fy) = (x - Float(i), y - Float(j))
        let (sx, sy) = (fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy))
        let row = cells + 1
        let a = values[j * row + i]
        let b = values[j * row + i + 1]
        let c = values[(j + 1) * row + i]
        let d = values[(j + 1) * row + i + 1]
        return (a + (b - a) * sx) + ((c + (d - c) * sx) - (a + (b - a) * sx)) * sy
    }
}

/// A random number in [lower, upper).
@inline(__always)
func syntheticUniform(_ lower: Double, _ upper: Double, _ generator: inout SeededGenerator) -> Float {
    Float(lower + (upper - lower) * generator.nextUnit())
}

/// The generator seed of item `index` of a data set with seed `seed`: items are independent, so
/// the first n items do not depend on how many are generated.
func itemSeed(_ seed: UInt64, _ index: Int) -> UInt64 { sampleSeed(seed ^ 0x5EED_DA7A_5E7, index) }
