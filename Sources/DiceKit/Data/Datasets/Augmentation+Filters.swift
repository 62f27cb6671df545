// The image-only filters of `Augmentation`: additive Gaussian noise and a separable Gaussian blur
// (scipy.ndimage.gaussian_filter with mode "reflect" and truncate 4: the kernel of radius
// ⌊4σ + 0.5⌋, exp(−x²/2σ²) normalised to sum 1, the sample mirrored about its edges as
// d c b a | a b c d, one pass per spatial axis). Checked against scipy in AugmentationFilterTests.

import Foundation

extension Augmentation {
    /// Adds independent N(0, deviation²) values to every element, drawn from `generator`.
    static func addNoise(_ image: inout [Float], deviation: Double, generator: inout SeededGenerator) {
        for j in image.indices { image[j] += Float(deviation * generator.nextNormal()) }
    }

    /// The normalised Gaussian kernel of scipy's `gaussian_filter1d` (truncate 4), radius ⌊4σ + 0.5⌋.
    static func gaussianKernel(sigma: Double) -> [Double] {
        let radius = Int(4 * sigma + 0.5)
        let raw = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    /// scipy's "reflect" index: i mirrored into 0..<n about the half-sample edges (period 2n).
    static func reflected(_ i: Int, _ n: Int) -> Int {
        let period = 2 * n
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - 1 - m
    }

    /// Blurs a channels-last sample [extents…, channels] with σ `sigma` pixels along every
    /// spatial axis, in place; each pass accumulates in Double and stores Float.
    static func gaussianBlur(_ image: inout [Float], extents: [Int], channels: Int, sigma: Double) {
        let kernel = gaussianKernel(sigma: sigma)
        let radius = kernel.count / 2
        for axis in extents.indices {
            let n = extents[axis]
            guard n > 1 else { continue }
            // Elements between neighbours along `axis`, and the number of lines along it.
            let stride = extents[(axis + 1)...].reduce(channels, *)
            let outer = extents[..<axis].reduce(1, *)
            var line = [Float](repeating: 0, count: n)
            for o in 0..<outer {
                for inner in 0..<stride {
                    let base = o * n * stride + inner
                    for i in 0..<n { line[i] = image[base + i * stride] }
                    for i in 0..<n {
                        var sum = 0.0
                        for (k, weight) in kernel.enumerated() {
                            sum += weight * Double(line[reflected(i + k - radius, n)])
                        }
                        image[base + i * stride] = Float(sum)
                    }
                }
            }
        }
    }
}
