// Every augmentation by name: geometric ones move image and mask together (a mask derived from
// the image stays derived), intensity ones leave the mask alone, and names parse and print.

import XCTest

@testable import DiceKit

final class AugmentationTests: XCTestCase {
    /// One sample whose image holds its own coordinates (channel 0 = y, channel 1 = x) and whose
    /// labels number the pixels 1 + y·W + x (0 is left for "outside").
    private func coordinates(_ h: Int, _ w: Int, count: Int = 1) throws -> SegmentationDataset {
        var pixels = [Float]()
        var labels = [Int32]()
        for _ in 0..<count {
            for y in 0..<h {
                for x in 0..<w {
                    pixels += [Float(y), Float(x)]
                    labels.append(Int32(1 + y * w + x))
                }
            }
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: [count, h, w, 2], storage: pixels), labels: labels,
            classes: h * w + 1, ignoreIndex: nil)
    }

    func testGeometricAugmentationsMoveImageAndMaskTogether() throws {
        let kinds: [Set<Augmentation.Kind>] = [
            [.flip], [.rot90], [.scaleCrop], [.affine], [.flip, .rot90, .scaleCrop, .affine],
        ]
        for (h, w) in [(12, 12), (10, 14)] {
            let data = try coordinates(h, w, count: 8)
            for set in kinds {
                let augmentation = Augmentation(kinds: set)
                try augmentation.validate(spatialShape: [h, w])
                let out = augmentation.apply(to: data, seeds: (0..<8).map { UInt64(100 + $0) })
                XCTAssertEqual(out.images.shape, data.images.shape)
                let exact = set.isSubset(of: [.flip, .rot90])
                var moved = false
                var inside = 0
                for p in 0..<out.labels.count {
                    let (iy, ix) = (out.images.scalars[2 * p], out.images.scalars[2 * p + 1])
                    let label = Int(out.labels[p])
                    if label != data.labels[p] { moved = true }
                    guard label != 0 else {
                        XCTAssertEqual(
                            [iy, ix], [0, 0], "\(set) \(h)×\(w): outside is 0 in the image and background in the mask")
                        continue
                    }
                    inside += 1
                    let (ly, lx) = (Float((label - 1) / w), Float((label - 1) % w))
                    if exact {
                        XCTAssertEqual([iy, ix], [ly, lx], "\(set) \(h)×\(w) at \(p)")
                    } else {
                        // The mask's nearest source pixel is within half a pixel of the image's
                        // (bilinear, exact for coordinates) source position.
                        XCTAssertLessThanOrEqual(abs(iy - ly), 0.5 + 1e-3, "\(set) \(h)×\(w) at \(p)")
                        XCTAssertLessThanOrEqual(abs(ix - lx), 0.5 + 1e-3, "\(set) \(h)×\(w) at \(p)")
                    }
                }
                if set != [.rot90] || h == w { XCTAssertTrue(moved, "\(set) \(h)×\(w) changed something") }
                XCTAssertGreaterThan(inside, out.labels.count / 2, "\(set): most of the sample stays inside")
            }
        }
    }

    func testIntensityAugmentationsLeaveMasksAlone() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 1, configuration: .init(size: 16))
        for set: Set<Augmentation.Kind> in [[.intensity], [.gamma], [.intensity, .gamma]] {
            let out = Augmentation(kinds: set).apply(to: data, seeds: [1, 2, 3, 4])
            XCTAssertEqual(out.labels, data.labels, "\(set)")
            XCTAssertNotEqual(out.images, data.images, "\(set)")
            XCTAssertTrue(out.images.scalars.allSatisfy(\.isFinite))
        }
        // Gamma keeps each sample's range.
        let gamma = Augmentation(kinds: [.gamma]).apply(to: data, seeds: [1, 2, 3, 4])
        let n = 16 * 16 * 3
        for i in 0..<4 {
            let (a, b) = (data.images.scalars[(i * n)..<((i + 1) * n)], gamma.images.scalars[(i * n)..<((i + 1) * n)])
            XCTAssertEqual(a.min()!, b.min()!, accuracy: 1e-6)
            XCTAssertEqual(a.max()!, b.max()!, accuracy: 1e-6)
        }
    }

    /// The flip/turn/intensity pass as it was before the named augmentations (commit ef37699,
    /// `Augmentation.apply`), kept to prove that the default set still gives the same bytes.
    private func earlierApply(_ a: Augmentation, to batch: SegmentationDataset, seeds: [UInt64]) -> SegmentationDataset
    {
        let spatial = batch.spatialShape
        let (d, h, w) = spatial.count == 3 ? (spatial[0], spatial[1], spatial[2]) : (1, spatial[0], spatial[1])
        let c = batch.channels
        let positions = d * h * w
        let source = batch.images.scalars
        var pixels = [Float](repeating: 0, count: batch.images.count)
        var labels = [Int32](repeating: 0, count: batch.labels.count)
        for (n, seed) in seeds.enumerated() {
            var generator = SeededGenerator(seed: seed)
            let flipW = generator.nextUnit() < a.horizontalFlip
            let flipH = generator.nextUnit() < a.verticalFlip
            let flipD = spatial.count == 3 && generator.nextUnit() < a.depthFlip
            let draw = a.rotate90 ? Int(generator.next() % 4) : 0
            let turns = h == w ? draw : 0
            let factor = Float(1 + a.contrast * (2 * generator.nextUnit() - 1))
            let shift = Float(a.brightness * (2 * generator.nextUnit() - 1))
            let (imageBase, labelBase) = (n * positions * c, n * positions)
            var mean: Float = 0
            if factor != 1 {
                var total = 0.0
                for j in 0..<(positions * c) { total += Double(source[imageBase + j]) }
                mean = Float(total / Double(positions * c))
            }
            for z in 0..<d {
                let sz = flipD ? d - 1 - z : z
                for y in 0..<h {
                    for x in 0..<w {
                        let (y1, x1) = (flipH ? h - 1 - y : y, flipW ? w - 1 - x : x)
                        let (sy, sx): (Int, Int)
                        switch turns {
                        case 1: (sy, sx) = (x1, w - 1 - y1)
                        case 2: (sy, sx) = (h - 1 - y1, w - 1 - x1)
                        case 3: (sy, sx) = (h - 1 - x1, y1)
                        default: (sy, sx) = (y1, x1)
                        }
                        let target = (z * h + y) * w + x
                        let origin = (sz * h + sy) * w + sx
                        labels[labelBase + target] = batch.labels[labelBase + origin]
                        for k in 0..<c {
                            pixels[imageBase + target * c + k] =
                                (source[imageBase + origin * c + k] - mean) * factor + mean + shift
                        }
                    }
                }
            }
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: batch.images.shape, storage: pixels), labels: labels,
            classes: batch.classes, ignoreIndex: batch.ignoreIndex)
    }

    func testTheDefaultSetGivesTheBytesOfEarlierVersions() throws {
        let square = try SegmentationDataset.syntheticPolyps(count: 6, seed: 1, configuration: .init(size: 16))
        let wide = try SegmentationDataset.syntheticPolyps(
            count: 6, seed: 2, configuration: .init(height: 16, width: 24))
        let volumes = try SegmentationDataset.syntheticBlobs3D(count: 6, seed: 3, depth: 4, height: 8, width: 8)
        let seeds = (0..<6).map { sampleSeed(77, $0) }
        for data in [square, wide, volumes] {
            for augmentation in [
                Augmentation.standard, Augmentation(kinds: [.flip]), Augmentation(kinds: [.intensity]),
            ] {
                XCTAssertEqual(
                    augmentation.apply(to: data, seeds: seeds), earlierApply(augmentation, to: data, seeds: seeds),
                    "\(augmentation.names ?? "") on \(data.images.shape)")
            }
        }
    }

    func testTheDefaultSetIsUnchangedByTheNewAugmentations() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 1, configuration: .init(size: 16))
        let seeds: [UInt64] = [5, 6, 7, 8]
        let standard = Augmentation.standard.apply(to: data, seeds: seeds)
        // Scale-crop, affine and gamma draw after the default set: its flips and turns stay put.
        let more = Augmentation(kinds: [.flip, .rot90, .intensity, .gamma]).apply(to: data, seeds: seeds)
        XCTAssertEqual(more.labels, standard.labels)
        XCTAssertEqual(
            Augmentation.standard,
            Augmentation(
                horizontalFlip: 0.5, verticalFlip: 0.5, depthFlip: 0.5, rotate90: true,
                brightness: 0.1, contrast: 0.1))
    }

    func testNamesParseAndPrint() throws {
        XCTAssertEqual(try Augmentation(names: "flip,rot90,intensity"), .standard)
        XCTAssertEqual(try Augmentation(names: "none"), Augmentation.none)
        XCTAssertEqual(Augmentation.standard.names, "flip,rot90,intensity")
        XCTAssertEqual(try Augmentation(names: "affine, scale-crop").names, "scale-crop,affine")
        XCTAssertEqual(Augmentation.none.names, "none")
        XCTAssertNil(Augmentation(horizontalFlip: 0.3).names)
        XCTAssertThrowsError(try Augmentation(names: "flip,warp")) {
            XCTAssertTrue("\($0)".contains("'warp'") && "\($0)".contains("scale-crop"), "\($0)")
        }
        XCTAssertThrowsError(try Augmentation(scaleCrop: 1).validate(spatialShape: [8, 8]))
    }
}
