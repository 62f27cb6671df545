// nnU-Net's choice of post-processing: `PostprocessingPlan.choose` against nnU-Net v2's own
// `determine_postprocessing` (Fixtures/postprocessing, Scripts/make_postprocessing_fixtures.py),
// by classes and by regions; plan files written and read back; the per-region filters; the
// minimum-size search that follows nnU-Net's steps when asked for.

import XCTest

@testable import DiceKit

final class PostprocessingSelectionTests: XCTestCase {
    private struct Scores: Decodable {
        let foreground: Double
        let perClass: [String: Double]

        enum CodingKeys: String, CodingKey {
            case foreground
            case perClass = "per_class"
        }
    }

    /// A chosen step: a list of labels (the merged foreground) or one label.
    private enum Step: Decodable, Equatable {
        case merged([Int])
        case single(Int)

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let list = try? container.decode([Int].self) {
                self = .merged(list)
            } else {
                self = .single(try container.decode(Int.self))
            }
        }
    }

    private struct Case: Decodable {
        let name: String
        let classes: Int
        let ignoreIndex: Int?
        let shape: [Int]
        let targets: [Int]
        let predicted: [Int]
        let steps: [Step]
        let before: Scores
        let after: Scores

        enum CodingKeys: String, CodingKey {
            case name, classes, shape, targets, predicted, steps, before, after
            case ignoreIndex = "ignore_index"
        }
    }

    private struct Fixture: Decodable { let cases: [Case] }

    /// A region case: scores per scored column (1 + the region's index), steps as label lists.
    private struct RegionCase: Decodable {
        struct Scores: Decodable {
            let foreground: Double
            let perColumn: [String: Double]

            enum CodingKeys: String, CodingKey {
                case foreground
                case perColumn = "per_column"
            }
        }
        let name: String
        let regions: [[Int32]]
        let ignoreIndex: Int?
        let shape: [Int]
        let targets: [Int]
        let predicted: [Int]
        let steps: [[Int]]
        let before: Scores
        let after: Scores

        enum CodingKeys: String, CodingKey {
            case name, regions, shape, targets, predicted, steps, before, after
            case ignoreIndex = "ignore_index"
        }
    }

    private struct RegionFixture: Decodable { let cases: [RegionCase] }

    private func cases() throws -> [Case] {
        let data = try Data(contentsOf: fixtureURL("postprocessing/choices.json"))
        return try JSONDecoder().decode(Fixture.self, from: data).cases
    }

    /// The maps of a case, cut into batches of `batch` images (the choice must not depend on it).
    private func maps(_ golden: Case, batch: Int) throws -> (predicted: [LabelMap], targets: [LabelMap]) {
        try maps(shape: golden.shape, predicted: golden.predicted, targets: golden.targets, batch: batch)
    }

    /// Flat maps of `shape` [n, spatial…], cut into batches of `batch` images.
    private func maps(shape: [Int], predicted: [Int], targets: [Int], batch: Int) throws -> (
        predicted: [LabelMap], targets: [LabelMap]
    ) {
        let n = shape[0]
        let size = shape.dropFirst().reduce(1, *)
        var result: (predicted: [LabelMap], targets: [LabelMap]) = ([], [])
        for start in stride(from: 0, to: n, by: batch) {
            let end = min(n, start + batch)
            let batchShape = [end - start] + Array(shape.dropFirst())
            let range = (start * size)..<(end * size)
            result.predicted.append(try LabelMap(shape: batchShape, labels: Array(predicted[range])))
            result.targets.append(try LabelMap(shape: batchShape, labels: Array(targets[range])))
        }
        return result
    }

    func testTheChoiceAndItsScoresEqualNNUNets() throws {
        let all = try cases()
        XCTAssertEqual(all.count, 6)
        var accepted = Set<String>()
        for golden in all {
            for batch in [golden.shape[0], 5] {
                let (predicted, targets) = try maps(golden, batch: batch)
                let selection = try PostprocessingPlan.choose(
                    predicted: predicted, targets: targets, classes: golden.classes, ignoreIndex: golden.ignoreIndex)
                let steps = selection.plan.steps.map { step -> Step in
                    step.mergeClasses ? .merged(step.classes!) : .single(step.classes![0])
                }
                XCTAssertEqual(steps, golden.steps, golden.name)
                XCTAssertTrue(selection.plan.steps.allSatisfy { $0.keepLargest == 1 && $0.minimumSize == nil })
                for (scores, expected) in [(selection.baseline, golden.before), (selection.final, golden.after)] {
                    XCTAssertEqual(
                        PostprocessingSelection.foregroundMean(scores), expected.foreground, accuracy: 1e-12,
                        golden.name)
                    for (label, value) in expected.perClass {
                        XCTAssertEqual(scores[Int(label)!], value, accuracy: 1e-12, "\(golden.name) class \(label)")
                    }
                }
                XCTAssertEqual(selection.images, golden.shape[0])
                // The plan applied to the predictions gives the final scores.
                let cleaned = try predicted.map { try selection.plan.apply(to: $0) }
                let rescored = try PostprocessingPlan.meanDice(
                    predicted: cleaned, targets: targets, labels: max(2, golden.classes),
                    ignoreIndex: golden.ignoreIndex)
                XCTAssertEqual(rescored.map { $0.isNaN ? -1 : $0 }, selection.final.map { $0.isNaN ? -1 : $0 })
            }
            for step in golden.steps {
                if case .merged = step { accepted.insert("merged") } else { accepted.insert("single") }
            }
            if golden.steps.isEmpty { accepted.insert("none") }
        }
        // The fixtures exercise every outcome.
        XCTAssertEqual(accepted, ["merged", "single", "none"])
    }

    func testTheRegionChoiceAndItsScoresEqualNNUNets() throws {
        let data = try Data(contentsOf: fixtureURL("postprocessing/region_choices.json"))
        let all = try JSONDecoder().decode(RegionFixture.self, from: data).cases
        XCTAssertEqual(all.count, 3)
        for golden in all {
            let regions = try LabelRegions(regions: golden.regions)
            for batch in [golden.shape[0], 5] {
                let (predicted, targets) = try maps(
                    shape: golden.shape, predicted: golden.predicted, targets: golden.targets, batch: batch)
                let selection = try PostprocessingPlan.choose(
                    predicted: predicted, targets: targets, classes: regions.count, ignoreIndex: golden.ignoreIndex,
                    regions: regions)
                XCTAssertEqual(selection.plan.steps.map { $0.classes! }, golden.steps, golden.name)
                XCTAssertTrue(selection.plan.steps.allSatisfy { $0.mergeClasses && $0.keepLargest == 1 })
                XCTAssertEqual(selection.trials.map(\.column), [nil] + (1...regions.count).map { $0 }, golden.name)
                for (scores, expected) in [(selection.baseline, golden.before), (selection.final, golden.after)] {
                    XCTAssertEqual(scores.count, regions.scoredCount)
                    XCTAssertEqual(
                        PostprocessingSelection.foregroundMean(scores), expected.foreground, accuracy: 1e-12,
                        golden.name)
                    for (column, value) in expected.perColumn {
                        XCTAssertEqual(scores[Int(column)!], value, accuracy: 1e-12, "\(golden.name) column \(column)")
                    }
                }
                let cleaned = try predicted.map { try selection.plan.apply(to: $0) }
                let rescored = try PostprocessingPlan.meanDice(
                    predicted: cleaned, targets: targets, labels: regions.labelClasses,
                    ignoreIndex: golden.ignoreIndex, regions: regions)
                XCTAssertEqual(rescored.map { $0.isNaN ? -1 : $0 }, selection.final.map { $0.isNaN ? -1 : $0 })
            }
        }
        // The fixtures exercise a chosen region step and an empty plan.
        XCTAssertTrue(all.contains { $0.steps.count > 1 } && all.contains { $0.steps.isEmpty })
    }

    /// Per region, in order, the region's labels are one mask; a dropped component becomes
    /// background, also where an earlier region holds it (nnU-Net's rule).
    func testRegionFiltersDropComponentsOfEachRegionsLabels() throws {
        let regions = try LabelRegions(parsing: "1,2;2")
        let plan = try PostprocessingPlan(regions: regions, keepLargest: 1, connectivity: 1)
        XCTAssertEqual(plan.steps.map { $0.classes! }, [[1, 2], [2]])
        for (input, expected) in [
            // {1, 2}: components of 4, 1 and 2 positions; the largest stays.
            ([1, 2, 2, 1, 0, 2, 0, 1, 1], [1, 2, 2, 1, 0, 0, 0, 0, 0]),
            // {2}: inside the one {1, 2} component, the single 2 goes to background, not to 1.
            ([1, 2, 1, 2, 2, 1, 0, 0, 0], [1, 0, 1, 2, 2, 1, 0, 0, 0]),
        ] {
            let map = try LabelMap(shape: [1, 1, 9], labels: input)
            XCTAssertEqual(try plan.apply(to: map), try LabelMap(shape: [1, 1, 9], labels: expected), "\(input)")
        }
        let sized = try PostprocessingPlan(regions: regions, minimumSize: 2, connectivity: 1)
        // {1, 2}: the three single positions go; {2}: the pair left stays.
        let map = try LabelMap(shape: [1, 1, 9], labels: [2, 0, 1, 2, 2, 0, 2, 0, 1])
        XCTAssertEqual(try sized.apply(to: map), try LabelMap(shape: [1, 1, 9], labels: [0, 0, 1, 2, 2, 0, 0, 0, 0]))
    }

    func testTheMinimumSizeSearchKeepsTheSmallestSizeOfTheBestDice() throws {
        // Image 0: true objects of 6 and 4 positions, predicted with specks of 1 and 3; image 1:
        // no object, a speck of 2. Keeping the largest component loses the object of 4 (refused).
        let target = [
            [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [Int](repeating: 0, count: 23),
        ]
        var predicted = target
        predicted[0][16] = 1
        predicted[0][18...20] = [1, 1, 1]
        predicted[1][5...6] = [1, 1]
        let maps = try (0..<2).map {
            (
                try LabelMap(shape: [1, 1, 23], labels: predicted[$0]),
                try LabelMap(shape: [1, 1, 23], labels: target[$0])
            )
        }
        let plain = try PostprocessingPlan.choose(
            predicted: maps.map(\.0), targets: maps.map(\.1), classes: 2, connectivity: 1)
        XCTAssertEqual(plain.plan.steps, [])
        let searched = try PostprocessingPlan.choose(
            predicted: maps.map(\.0), targets: maps.map(\.1), classes: 2, connectivity: 1, minimumSizeSearch: true)
        // Candidates 2 and 4 (the median true object has 4 positions); 4 removes every speck and
        // scores 1 (image 1 then has neither the class nor a prediction of it: left out).
        XCTAssertEqual(searched.trials.map(\.filter.minimumSize), [nil, 2, 4])
        XCTAssertEqual(searched.trials.map(\.accepted), [false, false, true])
        XCTAssertEqual(searched.plan.steps, [try ComponentFilter(minimumSize: 4, classes: [1], connectivity: 1)])
        XCTAssertEqual(searched.baseline[1], (20.0 / 24.0 + 0) / 2, accuracy: 1e-15)
        XCTAssertEqual(searched.trials[1].after[1], (20.0 / 23.0 + 0) / 2, accuracy: 1e-15)
        XCTAssertEqual(searched.final[1], 1)
        // A tie keeps the smaller size: with specks of one position only, 2 and 4 score the same.
        var single = predicted
        single[0][18...20] = [0, 0, 0]
        single[1][6] = 0
        let tie = try PostprocessingPlan.choose(
            predicted: try single.map { try LabelMap(shape: [1, 1, 23], labels: $0) }, targets: maps.map(\.1),
            classes: 2, connectivity: 1, minimumSizeSearch: true)
        XCTAssertEqual(tie.trials.map(\.accepted), [false, true, false])
        XCTAssertEqual(tie.trials[1].after[1], tie.trials[2].after[1])
    }

    func testAPlanFileRoundTripsAndIsChecked() throws {
        let golden = try cases().first { $0.name == "three_classes_nested" }!
        let (predicted, targets) = try maps(golden, batch: 4)
        let selection = try PostprocessingPlan.choose(predicted: predicted, targets: targets, classes: 3)
        XCTAssertEqual(selection.plan.steps.count, 2)
        let directory = try temporaryDirectory(self).path
        let path = "\(directory)/postprocessing.json"
        try selection.json(classes: 3, spatialRank: 2).prettyEncoded.write(
            toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try PostprocessingPlan(contentsOf: path, classes: 3, spatialRank: 2), selection.plan)
        XCTAssertEqual(try PostprocessingPlan(contentsOf: path), selection.plan)
        XCTAssertEqual(
            try selection.plan.apply(to: predicted[0]),
            try selection.plan.steps[1].apply(to: try selection.plan.steps[0].apply(to: predicted[0])))

        XCTAssertThrowsError(try PostprocessingPlan(contentsOf: path, classes: 4)) {
            XCTAssertTrue("\($0)".contains("chosen for 3 labels; the checkpoint predicts 4"), "\($0)")
        }
        XCTAssertThrowsError(try PostprocessingPlan(contentsOf: path, spatialRank: 3)) {
            XCTAssertTrue("\($0)".contains("chosen for 2-D predictions"), "\($0)")
        }
        for (text, expected) in [
            ("{\"steps\": 3}", "expected a JSON object with a \"steps\" array"),
            ("[1, 2]", "expected a JSON object"),
            ("{\"steps\": [{\"keep_largest\": \"one\"}]}", "step 1: \"keep_largest\" is not an integer"),
            ("{\"steps\": [{\"classes\": [1]}]}", "step 1: a component filter needs keepLargest"),
            ("{\"steps\": [{\"keep_largest\": 1, \"classes\": [0]}]}", "expected foreground classes ≥ 1"),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try PostprocessingPlan(contentsOf: path), text) {
                XCTAssertTrue("\($0)".contains(expected), "\(text): \($0)")
            }
        }
        try "{\"steps\": [{\"keep_largest\": 1, \"classes\": [5]}]}".write(
            toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PostprocessingPlan(contentsOf: path, classes: 3)) {
            XCTAssertTrue("\($0)".contains("filters class 5"), "\($0)")
        }
        XCTAssertThrowsError(try PostprocessingPlan(contentsOf: "\(directory)/none.json")) {
            XCTAssertTrue("\($0)".contains("cannot read"), "\($0)")
        }
        XCTAssertThrowsError(try PostprocessingPlan.choose(predicted: [], targets: [], classes: 2)) {
            XCTAssertTrue("\($0)".contains("no predictions"), "\($0)")
        }

        // A plan chosen on regions records them (and the labels they cover) and fits only them.
        let regions = try LabelRegions(parsing: "1,2;2")
        let byRegion = try PostprocessingPlan.choose(
            predicted: predicted, targets: targets, classes: 2, regions: regions)
        try byRegion.json(classes: 2, spatialRank: 2, regions: regions).prettyEncoded.write(
            toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(
            try PostprocessingPlan(contentsOf: path, classes: 3, spatialRank: 2, regions: regions), byRegion.plan)
        XCTAssertThrowsError(try PostprocessingPlan(contentsOf: path, classes: 3)) {
            XCTAssertTrue(
                "\($0)".contains("chosen for regions 1,2;2; the predictions are scored by classes"), "\($0)")
        }
        XCTAssertThrowsError(try PostprocessingPlan(contentsOf: path, regions: try LabelRegions(parsing: "1;2"))) {
            XCTAssertTrue("\($0)".contains("scored by regions 1;2"), "\($0)")
        }
    }
}
