// k-fold partitions: the folds of one seed are disjoint and cover every sample, their sizes are
// scikit-learn KFold's, training is the complement, and the shuffle is the seed's.

import XCTest

@testable import DiceKit

final class CrossValidationFoldTests: XCTestCase {
    func testFoldsPartitionTheShuffledSamples() throws {
        for (count, folds) in [(10, 3), (12, 4), (5, 5), (7, 2), (101, 10)] {
            var seen: [Int] = []
            let order = SegmentationDataset.permutation(count, seed: 42)
            for fold in 0..<folds {
                let parts = try CrossValidationFold(folds: folds, fold: fold).indices(count: count, seed: 42)
                // scikit-learn's KFold: the first count mod folds folds hold one sample more.
                XCTAssertEqual(parts.validation.count, count / folds + (fold < count % folds ? 1 : 0))
                XCTAssertEqual(Set(parts.training).union(parts.validation), Set(0..<count))
                XCTAssertTrue(Set(parts.training).isDisjoint(with: parts.validation))
                // Both keep the shuffled order.
                XCTAssertEqual(parts.training, order.filter { !parts.validation.contains($0) })
                seen += parts.validation
            }
            XCTAssertEqual(seen, order, "the folds are consecutive slices of the shuffle (\(count), \(folds))")
        }
        let fold = try CrossValidationFold(folds: 3, fold: 1)
        XCTAssertEqual(try fold.indices(count: 30, seed: 7).validation, try fold.indices(count: 30, seed: 7).validation)
        XCTAssertNotEqual(
            try fold.indices(count: 30, seed: 7).validation, try fold.indices(count: 30, seed: 8).validation)
    }

    func testSplitGivesTheSourcesSamples() throws {
        let dataset = try SegmentationDataset.load(from: fixtureURL("metrics").path, classes: 3)
        let fold = try CrossValidationFold(folds: 3, fold: 2)
        let (training, validation) = try fold.split(dataset, seed: 3)
        let parts = try fold.indices(count: dataset.count, seed: 3)
        XCTAssertEqual(training.indices, parts.training)
        XCTAssertEqual(validation.indices, parts.validation)
        XCTAssertEqual(try validation.samples([0]).labels, try dataset.samples([parts.validation[0]]).labels)
    }

    func testBadFoldsAreRefused() {
        XCTAssertThrowsError(try CrossValidationFold(folds: 1, fold: 0)) {
            XCTAssertTrue("\($0)".contains("at least 2"), "\($0)")
        }
        XCTAssertThrowsError(try CrossValidationFold(folds: 3, fold: 3)) {
            XCTAssertTrue("\($0)".contains("0...2"), "\($0)")
        }
        XCTAssertThrowsError(try CrossValidationFold(folds: 3, fold: -1))
        XCTAssertThrowsError(try CrossValidationFold(folds: 5, fold: 0).indices(count: 4, seed: 0)) {
            XCTAssertTrue("\($0)".contains("4 sample(s) into 5 folds"), "\($0)")
        }
    }
}
