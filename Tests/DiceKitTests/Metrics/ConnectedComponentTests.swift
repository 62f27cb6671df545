// Connected components and the component filter against scikit-image 0.26 and MONAI 1.6
// (Scripts/make_component_fixtures.py: skimage.measure.label, KeepLargestConnectedComponent,
// RemoveSmallObjects), and their own rules: the numbering, ties, the order of the two rules,
// and the errors.

import XCTest

@testable import DiceKit

/// Integers of a golden array.
func goldenIntegers(_ value: Any?) -> [Int] { (value as! [NSNumber]).map(\.intValue) }

final class ConnectedComponentTests: XCTestCase {
    func testLabellingMatchesScikitImage() throws {
        let cases = try metricGolden("components")["labelling"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 8)
        for c in cases {
            let shape = goldenIntegers(c["shape"])
            let k = (c["connectivity"] as! NSNumber).intValue
            let components = try ConnectedComponents(
                mask: goldenIntegers(c["mask"]).map { $0 != 0 }, shape: shape, connectivity: k)
            let expected = goldenIntegers(c["labels"])
            XCTAssertEqual(components.labels.map(Int.init), expected, "\(shape) connectivity \(k)")
            XCTAssertEqual(components.count, expected.max())
            for (i, size) in components.sizes.enumerated() {
                XCTAssertEqual(size, expected.filter { $0 == i + 1 }.count)
            }
        }
    }

    func testNeighbourhoodsAndNumbering() throws {
        // Diagonal neighbours join at connectivity 2 only; numbers follow each component's first pixel.
        let mask = [
            1, 0, 0, 1,
            0, 1, 0, 1,
            0, 0, 0, 0,
            1, 1, 0, 1,
        ].map { $0 == 1 }
        let four = try ConnectedComponents(mask: mask, shape: [4, 4], connectivity: 1)
        XCTAssertEqual(four.labels, [1, 0, 0, 2, 0, 3, 0, 2, 0, 0, 0, 0, 4, 4, 0, 5])
        XCTAssertEqual(four.sizes, [1, 2, 1, 2, 1])
        let eight = try ConnectedComponents(mask: mask, shape: [4, 4])
        XCTAssertEqual(eight.labels, [1, 0, 0, 2, 0, 1, 0, 2, 0, 0, 0, 0, 3, 3, 0, 4])
        // A component that only meets an earlier one through a later row merges (a U shape).
        let u = try ConnectedComponents(mask: [1, 0, 1, 1, 1, 1].map { $0 == 1 }, shape: [2, 3], connectivity: 1)
        XCTAssertEqual(u.labels, [1, 0, 1, 1, 1, 1])
        XCTAssertEqual(u.sizes, [5])
        // 3-D: the 6-, 18- and 26-neighbourhoods of two voxels touching at a corner, an edge, a face.
        var corner = [Bool](repeating: false, count: 8)
        corner[0] = true
        corner[7] = true
        XCTAssertEqual(try ConnectedComponents(mask: corner, shape: [2, 2, 2], connectivity: 2).count, 2)
        XCTAssertEqual(try ConnectedComponents(mask: corner, shape: [2, 2, 2]).count, 1)
        var edge = [Bool](repeating: false, count: 8)
        edge[0] = true
        edge[3] = true
        XCTAssertEqual(try ConnectedComponents(mask: edge, shape: [2, 2, 2], connectivity: 1).count, 2)
        XCTAssertEqual(try ConnectedComponents(mask: edge, shape: [2, 2, 2], connectivity: 2).count, 1)
        // Offsets never wrap around a row's end.
        let wrap = try ConnectedComponents(mask: [0, 0, 1, 1, 0, 0].map { $0 == 1 }, shape: [2, 3])
        XCTAssertEqual(wrap.count, 2)
    }

    func testComponentErrors() {
        XCTAssertThrowsError(try ConnectedComponents(mask: [true], shape: [2])) { error in
            XCTAssertTrue("\(error)".contains("expected positive extents"), "\(error)")
        }
        XCTAssertThrowsError(try ConnectedComponents(mask: [true, false], shape: [1, 2], connectivity: 3)) { error in
            XCTAssertTrue("\(error)".contains("connectivity 3 for a 2-D mask; expected 1...2"), "\(error)")
        }
        XCTAssertThrowsError(try ComponentFilter()) { XCTAssertTrue("\($0)".contains("keepLargest, minimumSize")) }
        XCTAssertThrowsError(try ComponentFilter(keepLargest: 0)) { XCTAssertTrue("\($0)".contains("count ≥ 1")) }
        XCTAssertThrowsError(try ComponentFilter(minimumSize: 0)) { XCTAssertTrue("\($0)".contains("≥ 1 position")) }
        XCTAssertThrowsError(try ComponentFilter(keepLargest: 1, classes: [0])) {
            XCTAssertTrue("\($0)".contains("expected foreground classes ≥ 1"))
        }
        XCTAssertThrowsError(try ComponentFilter(keepLargest: 1, classes: [2, 2])) {
            XCTAssertTrue("\($0)".contains("list a class twice"))
        }
        XCTAssertThrowsError(
            try ComponentFilter(keepLargest: 1, connectivity: 3).apply(
                to: LabelMap(shape: [1, 2, 2], labels: [1, 0, 0, 1]))
        ) { XCTAssertTrue("\($0)".contains("connectivity 3 for a 2-D mask"), "\($0)") }
    }

    func testKeepLargestMatchesMONAI() throws {
        let cases = try metricGolden("components")["keep_largest"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 21)
        for c in cases {
            let shape = goldenIntegers(c["shape"])
            let filter = try ComponentFilter(
                keepLargest: (c["num_components"] as! NSNumber).intValue,
                classes: (c["applied_labels"] as? [NSNumber])?.map(\.intValue),
                connectivity: (c["connectivity"] as? NSNumber)?.intValue, mergeClasses: !(c["independent"] as! Bool))
            let result = try filter.apply(to: LabelMap(shape: shape, labels: goldenIntegers(c["labels"])))
            XCTAssertEqual(result.labels, goldenIntegers(c["expected"]), "\(shape) \(filter)")
        }
    }

    func testRemoveSmallMatchesMONAIAndScikitImage() throws {
        let cases = try metricGolden("components")["remove_small"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 36)
        for c in cases {
            let shape = goldenIntegers(c["shape"])
            let filter = try ComponentFilter(
                minimumSize: (c["min_size"] as! NSNumber).intValue,
                connectivity: (c["connectivity"] as! NSNumber).intValue, mergeClasses: c["merge"] as! Bool)
            let result = try filter.apply(to: LabelMap(shape: shape, labels: goldenIntegers(c["labels"])))
            XCTAssertEqual(result.labels, goldenIntegers(c["expected"]), "\(shape) \(filter)")
        }
    }

    func testTiesTheOrderOfTheRulesAndUnlistedClasses() throws {
        // Two components of 2 pixels and one of 1 in class 1; class 2 one component of 1.
        let labels = try LabelMap(
            shape: [1, 3, 5],
            labels: [
                1, 1, 0, 1, 1,
                0, 0, 0, 0, 0,
                1, 0, 2, 0, 0,
            ])
        // A tie keeps the component that starts first in raster order.
        XCTAssertEqual(
            try ComponentFilter(keepLargest: 1, classes: [1]).apply(to: labels).labels,
            [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0])
        // The size rule runs first: after it only the two 2-pixel components are candidates.
        XCTAssertEqual(
            try ComponentFilter(keepLargest: 2, minimumSize: 2).apply(to: labels).labels,
            [1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        // Classes not listed are left alone; every class but 0 by default.
        XCTAssertEqual(
            try ComponentFilter(minimumSize: 2, classes: [2]).apply(to: labels).labels,
            [1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        // Samples are filtered on their own.
        let two = try LabelMap(shape: [2, 1, 3], labels: [1, 0, 1, 0, 1, 1])
        XCTAssertEqual(try ComponentFilter(keepLargest: 1).apply(to: two).labels, [1, 0, 0, 0, 1, 1])
    }
}
