// The sub-voxel surface Dice (MONAI's use_subvoxels) beyond the goldens of
// SurfaceDistanceMetricTests: a case worked by hand, and the option refused where MONAI has none.

import XCTest

@testable import DiceKit

final class SubvoxelSurfaceDiceTests: XCTestCase {
    func testSubvoxelsApplyToTheSurfaceDiceOf2DAnd3DOnly() throws {
        let masks = try ClassMasks(
            labels: LabelMap(shape: [1, 4, 4], labels: [Int](repeating: 1, count: 16)), classes: 2)
        let hd = SurfaceDistanceMetric(score: .hausdorff(percentile: 95, directed: false), useSubvoxels: true)
        XCTAssertThrowsError(try hd.scores(predicted: masks, target: masks)) { error in
            XCTAssertTrue("\(error)".contains("useSubvoxels"), "\(error)")
        }
        let line = try ClassMasks(labels: LabelMap(shape: [1, 6], labels: [0, 1, 1, 0, 0, 1]), classes: 2)
        let nsd = SurfaceDistanceMetric(score: .surfaceDice(tolerances: [1]), useSubvoxels: true)
        XCTAssertThrowsError(try nsd.scores(predicted: line, target: line))
        XCTAssertEqual(try nsd.scores(predicted: masks, target: masks), [1])
    }

    func testASquareAgainstItselfShiftedByOne() throws {
        // A 2×2 square on rows 1–2, columns 1–2 against the same square on columns 2–3, unit
        // spacing. Each outline has 8 surface corners: 4 corner cuts of length √2/2 and 4 straight
        // pieces of length 1 (MONAI's contour lengths), 4 + 2√2 in all. The outlines share the 4
        // corners above and below column 2–3's boundary, 1 + √2/2 + 1 + √2/2 of each outline: at
        // tolerance 0 the NSD is (2 + √2)·2 / ((4 + 2√2)·2) = 1/2. Every corner of one outline is
        // within 1 of the other: at tolerance 1 the NSD is 1.
        var p = [Int](repeating: 0, count: 36)
        var t = p
        for y in 1...2 {
            for x in 1...2 { p[y * 6 + x] = 1 }
            for x in 2...3 { t[y * 6 + x] = 1 }
        }
        let pm = try ClassMasks(labels: LabelMap(shape: [1, 6, 6], labels: p), classes: 2)
        let tm = try ClassMasks(labels: LabelMap(shape: [1, 6, 6], labels: t), classes: 2)
        let within = SurfaceDistanceMetric(score: .surfaceDice(tolerances: [1]), useSubvoxels: true)
        XCTAssertEqual(try within.scores(predicted: pm, target: tm), [1])
        let exact = SurfaceDistanceMetric(score: .surfaceDice(tolerances: [0]), useSubvoxels: true)
        XCTAssertEqual(try exact.scores(predicted: pm, target: tm)[0], 0.5, accuracy: 1e-15)
        // Without sub-voxels: all 4 voxels of each square are on its surface, 2 of them shared.
        let voxels = SurfaceDistanceMetric(score: .surfaceDice(tolerances: [0]))
        XCTAssertEqual(try voxels.scores(predicted: pm, target: tm)[0], 0.5, accuracy: 1e-15)
    }
}
