// Applying an Augmentation to a batch, sample by sample (see Augmentation.swift for what each
// setting does). Per sample: draw every random value first (in a fixed order), then the
// dihedral copy, the resampling (scale-crop ∘ affine, one map), noise, blur, gamma,
// brightness/contrast.
//
// Resampling maps each output pixel centre to a source position (sy, sx) with one 2 × 3 matrix;
// the mask takes the nearest source label (background when that pixel lies outside), the image
// the bilinear value of the clamped neighbours (0 where the mask is outside), so image and mask
// always come from the same place.

import Foundation

extension Augmentation {
    /// The samples of `batch`, each transformed with a generator seeded by its entry of `seeds`.
    func apply(to batch: SegmentationDataset, seeds: [UInt64]) -> SegmentationDataset {
        let spatial = batch.spatialShape
        let (d, h, w) = spatial.count == 3 ? (spatial[0], spatial[1], spatial[2]) : (1, spatial[0], spatial[1])
        let c = batch.channels
        let positions = d * h * w
        var pixels = [Float](repeating: 0, count: batch.images.count)
        var labels = [Int32](repeating: 0, count: batch.labels.count)
        // What the mask holds where the affine map reaches outside the sample: unlabelled, when the
        // data set has an ignore index, else the background.
        let outside = batch.ignoreLabel ?? 0
        batch.images.withUnsafeBufferPointer { source in
            for (n, seed) in seeds.enumerated() {
                var generator = SeededGenerator(seed: seed)
                let flipW = generator.nextUnit() < horizontalFlip
                let flipH = generator.nextUnit() < verticalFlip
                let flipD = spatial.count == 3 && generator.nextUnit() < depthFlip
                // The draw happens for every sample, so square and non-square data sets consume
                // the generator alike; the turn is used only where it keeps the shape.
                let draw = rotate90 ? Int(generator.next() % 4) : 0
                let turns = h == w ? draw : 0
                let factor = Float(1 + contrast * (2 * generator.nextUnit() - 1))
                let shift = Float(brightness * (2 * generator.nextUnit() - 1))
                let map = resamples ? sampleMap(&generator, height: h, width: w) : nil
                let gammaValue = gamma > 0 ? Float(pow(1 + gamma, 2 * generator.nextUnit() - 1)) : nil
                let noiseDeviation =
                    hasNoise && generator.nextUnit() < noiseProbability
                    ? noiseStandardDeviation * generator.nextUnit() : nil
                let blur =
                    hasBlur && generator.nextUnit() < blurProbability ? blurSigma * (1 + generator.nextUnit()) / 2 : nil

                let (imageBase, labelBase) = (n * positions * c, n * positions)
                var image = [Float](repeating: 0, count: positions * c)
                var mask = [Int32](repeating: 0, count: positions)
                for z in 0..<d {
                    let sz = flipD ? d - 1 - z : z
                    for y in 0..<h {
                        for x in 0..<w {
                            let (y1, x1) = (flipH ? h - 1 - y : y, flipW ? w - 1 - x : x)
                            // np.rot90 on (H, W), k times: out[i, j] = in[j, W−1−i] per turn.
                            let (sy, sx): (Int, Int)
                            switch turns {
                            case 1: (sy, sx) = (x1, w - 1 - y1)
                            case 2: (sy, sx) = (h - 1 - y1, w - 1 - x1)
                            case 3: (sy, sx) = (h - 1 - x1, y1)
                            default: (sy, sx) = (y1, x1)
                            }
                            let target = (z * h + y) * w + x
                            let origin = (sz * h + sy) * w + sx
                            mask[target] = batch.labels[labelBase + origin]
                            for k in 0..<c { image[target * c + k] = source[imageBase + origin * c + k] }
                        }
                    }
                }
                if let map {
                    (image, mask) = Self.resample(
                        image, mask, depth: d, height: h, width: w, channels: c, map: map, fill: outside)
                }
                if let noiseDeviation { Self.addNoise(&image, deviation: noiseDeviation, generator: &generator) }
                if let blur { Self.gaussianBlur(&image, extents: spatial, channels: c, sigma: blur) }
                if let gammaValue { Self.adjustGamma(&image, gammaValue) }
                var mean: Float = 0
                if factor != 1 {
                    // Without resampling, noise, blur or gamma the values are the source's, summed in its order.
                    var total = 0.0
                    if map == nil && gammaValue == nil && noiseDeviation == nil && blur == nil {
                        for j in 0..<(positions * c) { total += Double(source[imageBase + j]) }
                    } else {
                        for value in image { total += Double(value) }
                    }
                    mean = Float(total / Double(positions * c))
                }
                for j in 0..<(positions * c) { pixels[imageBase + j] = (image[j] - mean) * factor + mean + shift }
                labels.replaceSubrange(labelBase..<(labelBase + positions), with: mask)
            }
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: batch.images.shape, storage: pixels),
            labels: labels, classes: batch.classes, ignoreIndex: batch.ignoreIndex)
    }

    /// The output-to-source map (sy, sx) = M·(y, x, 1) of the scale-crop composed with the
    /// affine map: the affine map acts first on output positions, the crop window then maps
    /// them into the source. Draws 3 values for the crop and 3 for the affine map, when enabled.
    private func sampleMap(_ generator: inout SeededGenerator, height h: Int, width w: Int) -> [Double] {
        let (H, W) = (Double(h), Double(w))
        var crop = [1.0, 0, 0, 0, 1, 0] // identity: (a, b, e; c, d, f)
        if scaleCrop > 0 {
            let side = 1 - scaleCrop * generator.nextUnit()
            let (ch, cw) = (side * H, side * W)
            let (oy, ox) = (generator.nextUnit() * (H - ch), generator.nextUnit() * (W - cw))
            // sy = oy + (y + 0.5)·ch/H − 0.5, likewise for x.
            crop = [ch / H, 0, oy + 0.5 * ch / H - 0.5, 0, cw / W, ox + 0.5 * cw / W - 0.5]
        }
        var affine = [1.0, 0, 0, 0, 1, 0]
        if hasAffine {
            let angle = affineRotation * (2 * generator.nextUnit() - 1) * Double.pi / 180
            let scale = 1 + affineScale * (2 * generator.nextUnit() - 1)
            let shear = affineShear * (2 * generator.nextUnit() - 1)
            // A = R(angle)·[[1, 0], [shear, 1]] / scale on (y, x), about the centre (cy, cx).
            let (cosA, sinA) = (cos(angle), sin(angle))
            let (a, b) = ((cosA - sinA * shear) / scale, -sinA / scale)
            let (c, d) = ((sinA + cosA * shear) / scale, cosA / scale)
            let (cy, cx) = ((H - 1) / 2, (W - 1) / 2)
            affine = [a, b, cy - a * cy - b * cx, c, d, cx - c * cy - d * cx]
        }
        // crop ∘ affine.
        let (p, q) = (crop, affine)
        return [
            p[0] * q[0] + p[1] * q[3], p[0] * q[1] + p[1] * q[4], p[0] * q[2] + p[1] * q[5] + p[2],
            p[3] * q[0] + p[4] * q[3], p[3] * q[1] + p[4] * q[4], p[3] * q[2] + p[4] * q[5] + p[5],
        ]
    }

    /// One sample resampled through `map` in every depth slice: nearest labels, bilinear image;
    /// positions mapped from outside the sample get 0 in the image and `fill` in the mask.
    static func resample(
        _ image: [Float], _ mask: [Int32], depth d: Int, height h: Int, width w: Int, channels c: Int,
        map m: [Double], fill: Int32 = 0
    ) -> ([Float], [Int32]) {
        var outImage = [Float](repeating: 0, count: image.count)
        var outMask = [Int32](repeating: fill, count: mask.count)
        for y in 0..<h {
            for x in 0..<w {
                let sy = m[0] * Double(y) + m[1] * Double(x) + m[2]
                let sx = m[3] * Double(y) + m[4] * Double(x) + m[5]
                let (ny, nx) = (Int((sy + 0.5).rounded(.down)), Int((sx + 0.5).rounded(.down)))
                guard ny >= 0, ny < h, nx >= 0, nx < w else { continue }
                let (fy0, fx0) = (sy.rounded(.down), sx.rounded(.down))
                let (fy, fx) = (Float(sy - fy0), Float(sx - fx0))
                let (y0, x0) = (min(max(Int(fy0), 0), h - 1), min(max(Int(fx0), 0), w - 1))
                let (y1, x1) = (min(max(Int(fy0) + 1, 0), h - 1), min(max(Int(fx0) + 1, 0), w - 1))
                for z in 0..<d {
                    let slice = z * h * w
                    outMask[slice + y * w + x] = mask[slice + ny * w + nx]
                    for k in 0..<c {
                        let v00 = image[(slice + y0 * w + x0) * c + k]
                        let v01 = image[(slice + y0 * w + x1) * c + k]
                        let v10 = image[(slice + y1 * w + x0) * c + k]
                        let v11 = image[(slice + y1 * w + x1) * c + k]
                        outImage[(slice + y * w + x) * c + k] =
                            (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11)
                    }
                }
            }
        }
        return (outImage, outMask)
    }

    /// x ← lo + (hi − lo)·((x − lo)/(hi − lo))^γ over the sample (unchanged when constant).
    static func adjustGamma(_ image: inout [Float], _ gamma: Float) {
        guard let lo = image.min(), let hi = image.max(), hi > lo else { return }
        let range = hi - lo
        for j in image.indices { image[j] = lo + range * pow((image[j] - lo) / range, gamma) }
    }
}
