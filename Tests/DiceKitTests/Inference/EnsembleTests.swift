// Ensembles of networks: the combination against MONAI's MeanEnsemble and VoteEnsemble
// (Fixtures/ensemble, Scripts/make_ensemble_fixtures.py), the image and batch paths against the
// members' own predictions, evaluation of an ensemble, and the checks on members and weights.

import XCTest

@testable import DiceKit

final class EnsembleTests: XCTestCase {
    private struct Case: Decodable {
        let name: String
        let combination: String
        let shape: [Int]
        let weights: [Double]?
        let logits: [[Float]]
        let probabilities: [Double]?
        let meanLogits: [Double]?
        let labels: [Int]

        enum CodingKeys: String, CodingKey {
            case name, combination, shape, weights, logits, probabilities, labels
            case meanLogits = "mean_logits"
        }
    }

    private struct Fixture: Decodable { let cases: [Case] }

    /// Small networks of one architecture, each with its own weights.
    private func networks(_ count: Int, classes: Int, channels: Int = 3, base: Int = 2, depth: Int = 1) throws
        -> [UNet<Float>]
    {
        try (0..<count).map { i in
            try UNet<Float>(
                UNetConfiguration(inputChannels: channels, classes: classes, baseWidth: base, depth: depth),
                seed: UInt64(17 + i))
        }
    }

    func testCombinationMatchesMONAIMeanAndVoteEnsemblesAndTheMeanOfLogits() throws {
        let data = try Data(contentsOf: fixtureURL("ensemble/combinations.json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        XCTAssertEqual(fixture.cases.count, 11)
        for golden in fixture.cases {
            let k = golden.shape.last!
            let ensemble = try Ensemble(
                try networks(golden.logits.count, classes: k), weights: golden.weights,
                combination: try XCTUnwrap(EnsembleCombination(rawValue: golden.combination)))
            let logits = try golden.logits.map { try Tensor<Float>(shape: golden.shape, scalars: $0) }
            let combined = try ensemble.combined(logits)
            if let expected = golden.probabilities {
                XCTAssertEqual(combined.count, expected.count)
                let worst = zip(combined.scalars, expected).map { abs(Double($0) - $1) }.max()!
                XCTAssertLessThan(worst, 1e-6, golden.name)
            } else {
                // A vote's probabilities are the shares of the votes: multiples of 1/members.
                let members = Float(golden.logits.count)
                XCTAssertTrue(combined.scalars.allSatisfy { abs($0 * members - ($0 * members).rounded()) < 1e-5 })
            }
            XCTAssertEqual(try Ensemble.labels(combined).labels, golden.labels, golden.name)
            if let expected = golden.meanLogits {
                let mean = try ensemble.meanLogits(logits)
                let worst = zip(mean.scalars, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max()!
                XCTAssertLessThan(worst, 1e-6, golden.name)
                XCTAssertEqual(try Predictor.argmax(mean).labels, golden.labels, golden.name)
            }
        }
    }

    func testOneMemberIsThatNetworkAndWeightsAreShares() throws {
        let models = try networks(2, classes: 3)
        let image = try Tensor<Float>(
            shape: [12, 10, 3], scalars: randomTensor([12, 10, 3], seed: 5).scalars.map(Float.init))
        let single = try Ensemble([models[0]]).probabilities(image: image)
        let own = try Predictor.probabilities(try Predictor.logits(models[0], image: image))
        XCTAssertEqual(single.shape, [12, 10, 3])
        XCTAssertEqual(single.scalars, own.scalars)

        // Weights 3 : 1 are shares 0.75 and 0.25 of each member's probabilities, with flips too.
        let settings = InferenceSettings(augmentation: .flip)
        let weighted = try Ensemble(models, weights: [3, 1]).probabilities(image: image, settings: settings)
        let p = try models.map {
            try Predictor.probabilities(try Predictor.logits($0, image: image, settings: settings))
        }
        for i in 0..<weighted.count {
            XCTAssertEqual(weighted.scalars[i], 0.75 * p[0].scalars[i] + 0.25 * p[1].scalars[i], accuracy: 1e-6)
        }
        // A zero weight leaves a member out.
        let alone = try Ensemble(models, weights: [0, 2]).probabilities(image: image, settings: settings)
        for i in 0..<alone.count { XCTAssertEqual(alone.scalars[i], p[1].scalars[i], accuracy: 1e-7) }
    }

    func testBatchPathEqualsTheImagePathAndMembersMayDiffer() throws {
        // Members of different widths and depths (each padded to its own multiple) predict together.
        let models = try networks(1, classes: 2, base: 2, depth: 1) + networks(1, classes: 2, base: 3, depth: 2)
        let ensemble = try Ensemble(models, combination: .vote)
        let images = try Tensor<Float>(
            shape: [3, 8, 8, 3], scalars: randomTensor([3, 8, 8, 3], seed: 9).scalars.map(Float.init))
        let batch = try ensemble.probabilities(images: images, batchSize: 2)
        XCTAssertEqual(batch.shape, [3, 8, 8, 2])
        for n in 0..<3 {
            let one = try Tensor<Float>(shape: [8, 8, 3], scalars: Array(images.scalars[(n * 192)..<((n + 1) * 192)]))
            let alone = try ensemble.probabilities(image: one)
            XCTAssertEqual(Array(batch.scalars[(n * 128)..<((n + 1) * 128)]), alone.scalars, "image \(n)")
        }
        // Two voters: a tie (one vote each) goes to class 0, so class 1 needs both.
        let labels = try models.map { try Predictor.argmax(try Predictor.logits($0, images: images)).labels }
        let combined = try Ensemble.labels(batch).labels
        for i in combined.indices { XCTAssertEqual(combined[i], labels[0][i] == 1 && labels[1][i] == 1 ? 1 : 0) }
    }

    func testLogitsFromProbabilitiesGiveTheProbabilitiesBack() throws {
        let p = try Tensor<Float>(shape: [2, 3], scalars: [0.2, 0.3, 0.5, 1, 0, 0])
        let back = try Predictor.probabilities(Ensemble.logits(fromProbabilities: p))
        for (a, b) in zip(back.scalars, p.scalars) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertTrue(Ensemble.logits(fromProbabilities: p).scalars.allSatisfy(\.isFinite))
        let single = try Tensor<Float>(shape: [4, 1], scalars: [0.1, 0.5, 0.9, 1])
        let sigmoid = try Predictor.probabilities(Ensemble.logits(fromProbabilities: single))
        for (a, b) in zip(sigmoid.scalars, single.scalars) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(try Ensemble.labels(try single.reshaped(to: [1, 4, 1])).labels, [0, 0, 1, 1])
    }

    func testEvaluateScoresTheEnsemblesLabels() throws {
        let models = try networks(3, classes: 3)
        let dataset = try SegmentationDataset.load(from: fixtureURL("metrics").path, classes: 3)
        let ensemble = try Ensemble(models, weights: [1, 2, 1])
        var configuration = TrainingConfiguration()
        configuration.batchSize = 3
        let trainer = try Trainer(model: models[0], configuration: configuration)
        let scores = try trainer.evaluate(dataset, ensemble: ensemble)

        // By hand: every member's logits of the whole set, the weighted mean of their softmax,
        // its arg-max, and MONAI's per-image Dice averaged over the images holding each class.
        let p = try models.map { try Predictor.probabilities(try Predictor.logits($0, images: dataset.images)) }
        let mean = try Tensor<Float>(
            shape: p[0].shape,
            scalars: (0..<p[0].count).map { (p[0].scalars[$0] + 2 * p[1].scalars[$0] + p[2].scalars[$0]) / 4 })
        let predicted = try Predictor.argmax(mean)
        let target = try LabelMap(shape: dataset.labelShape, int32Labels: dataset.labels)
        let dice = try presentDice(predicted: predicted, target: target, classes: 3)
        for (c, present) in dice.enumerated() {
            XCTAssertEqual(scores.dice[c], present.reduce(0, +) / Double(present.count), accuracy: 1e-12, "class \(c)")
        }
        XCTAssertTrue(scores.loss.isFinite)

        // A one-member ensemble scores as its network does.
        let alone = try trainer.evaluate(dataset, ensemble: try Ensemble([models[0]]))
        let plain = try trainer.evaluate(dataset)
        XCTAssertEqual(alone.dice, plain.dice)
        XCTAssertEqual(alone.iou, plain.iou)
        XCTAssertEqual(alone.loss, plain.loss, accuracy: 1e-5)
    }

    func testTheLogitsCombinationAveragesLogitsInEveryPath() throws {
        let models = try networks(2, classes: 3)
        let ensemble = try Ensemble(models, weights: [1, 3], combination: .logits)
        let image = try Tensor<Float>(
            shape: [12, 10, 3], scalars: randomTensor([12, 10, 3], seed: 7).scalars.map(Float.init))
        let settings = InferenceSettings(augmentation: .flip)
        let own = try models.map { try Predictor.logits($0, image: image, settings: settings) }
        let mean = try ensemble.meanLogits(image: image, settings: settings)
        for i in 0..<mean.count {
            XCTAssertEqual(mean.scalars[i], 0.25 * own[0].scalars[i] + 0.75 * own[1].scalars[i], accuracy: 1e-5)
        }
        XCTAssertEqual(
            try ensemble.probabilities(image: image, settings: settings).scalars,
            try Predictor.probabilities(mean).scalars)

        // Evaluation scores the arg-max of the mean logits, and their loss is the members' mean.
        let dataset = try SegmentationDataset.load(from: fixtureURL("metrics").path, classes: 3)
        var configuration = TrainingConfiguration()
        configuration.batchSize = 4
        let trainer = try Trainer(model: models[0], configuration: configuration)
        let scores = try trainer.evaluate(dataset, ensemble: ensemble)
        let batch = try ensemble.meanLogits(images: dataset.images)
        let predicted = try Predictor.argmax(batch)
        let target = try LabelMap(shape: dataset.labelShape, int32Labels: dataset.labels)
        let dice = try presentDice(predicted: predicted, target: target, classes: 3)
        for (c, present) in dice.enumerated() {
            XCTAssertEqual(scores.dice[c], present.reduce(0, +) / Double(present.count), accuracy: 1e-12, "class \(c)")
        }
    }

    func testMembersAndWeightsAreChecked() throws {
        let two = try networks(2, classes: 2)
        let other = try networks(1, classes: 3)
        XCTAssertThrowsError(try Ensemble([])) { XCTAssertTrue("\($0)".contains("at least one network"), "\($0)") }
        XCTAssertThrowsError(try Ensemble(two + other)) {
            XCTAssertTrue("\($0)".contains("member 3") && "\($0)".contains("3 classes"), "\($0)")
        }
        XCTAssertThrowsError(try Ensemble(two + networks(1, classes: 2, channels: 1))) {
            XCTAssertTrue("\($0)".contains("1 channel(s)"), "\($0)")
        }
        for weights in [[1.0], [1, -1], [0, 0], [1, .nan]] {
            XCTAssertThrowsError(try Ensemble(two, weights: weights), "\(weights)")
        }
        let ensemble = try Ensemble(two)
        XCTAssertThrowsError(try ensemble.combined([Tensor<Float>(shape: [2, 2])])) {
            XCTAssertTrue("\($0)".contains("2 network(s)"), "\($0)")
        }
        let trainer = try Trainer(model: other[0], configuration: TrainingConfiguration())
        let dataset = try SegmentationDataset.load(from: fixtureURL("metrics").path, classes: 3)
        XCTAssertThrowsError(try trainer.evaluate(dataset, ensemble: ensemble)) {
            XCTAssertTrue("\($0)".contains("predicts 2 classes"), "\($0)")
        }
    }
}
