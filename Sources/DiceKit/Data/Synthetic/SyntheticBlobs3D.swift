// Synthetic 3-D blobs: volumes for testing a 3-D U-Net. Each volume is painted from its own
// seed: a smooth background (three random plane waves plus a linear gradient), 1–2 textured
// ellipsoids brighter than the background (none in 10% of the volumes) with a soft edge, and
// uniform noise ±0.05. Values are clamped to [0, 1]; labels are 1 inside an ellipsoid.

#if canImport(Glibc)
    import Glibc
#endif

extension SegmentationDataset {
    /// `count` single-channel volumes [N, D, H, W, 1] in [0, 1] with labels [N, D, H, W]
    /// (0 background, 1 blob), deterministic per `seed`.
    ///
    /// - Parameters:
    ///   - depth, height, width: the volume extents, each ≥ 4 (default 16³).
    /// - Throws: `DiceKitError.option` for count < 1 or an extent below 4.
    public static func syntheticBlobs3D(
        count: Int, seed: UInt64, depth: Int = 16, height: Int = 16,
        width: Int = 16
    ) throws -> SegmentationDataset {
        guard count >= 1, depth >= 4, height >= 4, width >= 4 else {
            throw DiceKitError.option(
                "synthetic 3-D blobs: count \(count), size \(depth) × \(height) × \(width); expected count ≥ 1 and extents ≥ 4"
            )
        }
        let voxels = depth * height * width
        var values = [Float](repeating: 0, count: count * voxels)
        var labels = [Int32](repeating: 0, count: count * voxels)
        values.withUnsafeMutableBufferPointer { valueBuffer in
            labels.withUnsafeMutableBufferPointer { labelBuffer in
                // Item n paints its own volume.
                let shared = TaskShared((valueBuffer, labelBuffer))
                WorkerPool.shared.run(count) { n in
                    let (v, l) = shared.buffers
                    paintBlobVolume(
                        seed: itemSeed(seed ^ 0x3D, n), extents: (depth, height, width),
                        values: UnsafeMutableBufferPointer(rebasing: v[(n * voxels)..<((n + 1) * voxels)]),
                        labels: UnsafeMutableBufferPointer(rebasing: l[(n * voxels)..<((n + 1) * voxels)]))
                }
            }
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: [count, depth, height, width, 1], storage: values),
            labels: labels, classes: 2, ignoreIndex: nil)
    }
}

private func paintBlobVolume(
    seed: UInt64, extents: (Int, Int, Int), values: UnsafeMutableBufferPointer<Float>,
    labels: UnsafeMutableBufferPointer<Int32>
) {
    var generator = SeededGenerator(seed: seed)
    let (d, h, w) = extents
    let level = syntheticUniform(0.25, 0.4, &generator)
    var waves = [(kz: Float, ky: Float, kx: Float, phase: Float, amplitude: Float)]()
    for _ in 0..<3 {
        waves.append(
            (
                syntheticUniform(-0.5, 0.5, &generator), syntheticUniform(-0.5, 0.5, &generator),
                syntheticUniform(-0.5, 0.5, &generator),
                syntheticUniform(0, 2 * Double.pi, &generator), syntheticUniform(0.02, 0.06, &generator)
            ))
    }
    let slope = (syntheticUniform(-0.1, 0.1, &generator), syntheticUniform(-0.1, 0.1, &generator))
    var blobs = [(cz: Float, cy: Float, cx: Float, rz: Float, ry: Float, rx: Float, gain: Float, ripple: Float)]()
    if generator.nextUnit() >= 0.1 {
        for _ in 0..<(1 + Int(generator.next() % 2)) {
            func radius(_ n: Int) -> Float { syntheticUniform(0.12, 0.3, &generator) * Float(n) }
            let (rz, ry, rx) = (radius(d), radius(h), radius(w))
            blobs.append(
                (
                    syntheticUniform(Double(rz), Double(Float(d) - rz), &generator),
                    syntheticUniform(Double(ry), Double(Float(h) - ry), &generator),
                    syntheticUniform(Double(rx), Double(Float(w) - rx), &generator), rz, ry, rx,
                    syntheticUniform(0.3, 0.45, &generator), syntheticUniform(0.6, 1.4, &generator)
                ))
        }
    }
    for z in 0..<d {
        for y in 0..<h {
            for x in 0..<w {
                let (fz, fy, fx) = (Float(z) + 0.5, Float(y) + 0.5, Float(x) + 0.5)
                var value = level + slope.0 * fy / Float(h) + slope.1 * fx / Float(w)
                for wave in waves {
                    value += wave.amplitude * sinf(wave.kz * fz + wave.ky * fy + wave.kx * fx + wave.phase)
                }
                var label: Int32 = 0
                for blob in blobs {
                    let (a, b, c) = ((fz - blob.cz) / blob.rz, (fy - blob.cy) / blob.ry, (fx - blob.cx) / blob.rx)
                    let rho = (a * a + b * b + c * c).squareRoot()
                    let alpha = min(max((1 - rho) * min(blob.rz, blob.ry, blob.rx) + 0.5, 0), 1)
                    if rho < 1 { label = 1 }
                    let texture = 1 + 0.15 * sinf(blob.ripple * (fz + 2 * fy + 3 * fx))
                    value += alpha * blob.gain * texture
                }
                let i = (z * h + y) * w + x
                values[i] = min(max(value + syntheticUniform(-0.05, 0.05, &generator), 0), 1)
                labels[i] = label
            }
        }
    }
}
