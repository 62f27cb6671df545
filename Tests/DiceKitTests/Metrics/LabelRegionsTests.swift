// LabelRegions: parsing, the derived class order and its round trip, the targets and the label
// maps of logits, the region scores (against masks counted by hand), and the checkpoint metadata.

import XCTest

@testable import DiceKit

final class LabelRegionsTests: XCTestCase {
    func testParsesAndDerivesNNUNetsClassOrder() throws {
        let brats = try LabelRegions(parsing: "1,2,3;3,2;3")
        XCTAssertEqual(brats.regions, [[1, 2, 3], [2, 3], [3]])
        XCTAssertEqual(brats.order, [1, 2, 3])
        XCTAssertEqual(brats.description, "1,2,3;2,3;3")
        XCTAssertEqual(brats.labelClasses, 4)
        XCTAssertEqual((0..<3).map(brats.name), ["labels 1+2+3", "labels 2+3", "labels 3"])
        XCTAssertEqual(try LabelRegions(parsing: brats.description, order: brats.orderDescription), brats)
        // Disjoint regions are plain classes; an explicit order is checked, not trusted.
        XCTAssertEqual(try LabelRegions(parsing: "2;1").order, [2, 1])
        XCTAssertEqual(try LabelRegions(parsing: "1,2;2;1", order: "2,2,1").order, [2, 2, 1])
    }

    func testRefusesRegionsThatCannotGiveTheLabelsBack() {
        func message(_ text: String, _ order: String? = nil) -> String {
            do {
                _ = try LabelRegions(parsing: text, order: order)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(
            message("1,2;x"),
            "option error: regions 1,2;x; expected regions of labels like 1,2,3;2,3;3 (';' between regions, ',' between labels)"
        )
        XCTAssertEqual(
            message("1;;2"),
            "option error: regions 1;;2; expected regions of labels like 1,2,3;2,3;3 (';' between regions, ',' between labels)"
        )
        XCTAssertEqual(
            message("0,1;1"),
            "value error: region 1 holds label 0; expected labels 1…65535 (background 0 is in no region)")
        XCTAssertEqual(
            message("1,2;1,2"),
            "value error: region 1 (labels 1,2) lies inside later regions, so no label is its own; expected a region order (--region-order)"
        )
        XCTAssertEqual(
            message("1,2;2", "3,2"), "value error: region order gives region 1 label 3; expected one of its labels 1,2")
        XCTAssertEqual(message("1,2;2", "2"), "value error: region order has 1 labels; expected one per region (2)")
        XCTAssertEqual(
            message("1,2;2", "2,2"),
            "value error: regions 1,2;2 in order 2,2 turn label 1 into 2; expected every label back (reorder the regions or give --region-order)"
        )
    }

    func testTargetsAndLogitsRoundTripEveryLabel() throws {
        let regions = try LabelRegions(parsing: "1,2,3;2,3;3")
        let labels: [Int32] = [0, 1, 2, 3, 255, 3, 1]
        let targets: [Float] = regions.targets(labels: labels)
        XCTAssertEqual(targets, [0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0])
        let logits = try Tensor<Float>(shape: [1, 7, 3], scalars: targets.map { 4 * $0 - 2 })
        XCTAssertEqual(try regions.labels(logits: logits).storage, [0, 1, 2, 3, 0, 3, 1])
        let probabilities = try Tensor<Float>(shape: [1, 7, 3], scalars: targets.map { 0.2 + 0.6 * $0 })
        XCTAssertEqual(try regions.labels(probabilities: probabilities).storage, [0, 1, 2, 3, 0, 3, 1])
        // A later region overrides: tumour core predicted outside the whole tumour still writes 2.
        XCTAssertEqual(
            try regions.labels(logits: try Tensor(shape: [1, 1, 3], scalars: [-1, 1, -1])).storage, [2])
        XCTAssertThrowsError(try regions.labels(logits: Tensor<Float>(shape: [1, 2, 2])))
    }

    func testRegionScoresAreTheOverlapsOfTheRegionMasks() throws {
        let regions = try LabelRegions(parsing: "1,2,3;2,3;3")
        var generator = SeededGenerator(seed: 3)
        let shape = [3, 5, 6]
        let target = try LabelMap(shape: shape, int32Labels: (0..<90).map { _ in Int32(generator.next() % 4) })
        var predictedLabels = target.storage
        for i in stride(from: 0, to: 90, by: 4) { predictedLabels[i] = Int32(generator.next() % 4) }
        for i in stride(from: 0, to: 90, by: 7) { predictedLabels[i] = 0 }
        let predicted = try LabelMap(shape: shape, int32Labels: predictedLabels)
        var ignoring = target
        ignoring.storage[5] = 9
        for (t, ignore) in [(target, nil), (ignoring, 9)] as [(LabelMap, Int?)] {
            let counts = try regions.counts(predicted: predicted, target: t, ignoreIndex: ignore)
            let p = try regions.masks(predicted)
            for b in 0..<3 {
                for k in 0..<4 {
                    var (tp, fp, fn) = (0, 0, 0)
                    for i in 0..<30 where t.storage[b * 30 + i] != 9 {
                        let label = t.storage[b * 30 + i]
                        let inTarget = k == 0 ? label == 0 : regions.contains(k - 1, label)
                        let inPrediction = p.storage[(b * 4 + k) * 30 + i]
                        tp += inTarget && inPrediction ? 1 : 0
                        fp += !inTarget && inPrediction ? 1 : 0
                        fn += inTarget && !inPrediction ? 1 : 0
                    }
                    XCTAssertEqual(
                        [
                            counts.truePositives[b * 4 + k], counts.falsePositives[b * 4 + k],
                            counts.falseNegatives[b * 4 + k],
                        ],
                        [tp, fp, fn], "sample \(b), scored region \(k)")
                }
            }
        }
        var pool = OverlapPool(regions: regions)
        try pool.add(predicted: target, target: target)
        XCTAssertEqual(pool.means.dice, [1, 1, 1, 1])
        XCTAssertEqual(regions.scoredName(0), "background")
    }

    func testCheckpointMetadataRecordsTheRegions() throws {
        let regions = try LabelRegions(
            regions: [[1, 2, 3], [2, 3], [3]], names: ["whole tumour", "tumour core", "enhancing, \"ET\""])
        let config = UNetConfiguration(
            inputChannels: 4, classes: 3, baseWidth: 4, depth: 1, spatialRank: 3, regions: regions)
        XCTAssertEqual(try UNetConfiguration.regions(in: config.metadata), regions)
        XCTAssertNil(try UNetConfiguration.regions(in: UNetConfiguration().metadata))
        var wrong = config
        wrong.classes = 2
        XCTAssertThrowsError(try wrong.validate()) {
            XCTAssertEqual(
                "\($0)", "option error: 3 regions (1,2,3;2,3;3) but 2 output channels; expected one channel per region")
        }
        var broken = config.metadata
        broken["dicekit.region_order"] = "1,2"
        XCTAssertThrowsError(try UNetConfiguration.regions(in: broken)) {
            XCTAssertEqual(
                "\($0)",
                "value error: checkpoint metadata 'dicekit.regions' 1,2,3;2,3;3: value error: region order has 2 labels; expected one per region (3)"
            )
        }
        // Through a saved network and back.
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("regions.safetensors").path
        let model = try UNet<Float>(config, seed: 1)
        try model.save(to: path)
        XCTAssertEqual(try UNet<Float>.load(contentsOf: path).configuration, config)
    }
}
