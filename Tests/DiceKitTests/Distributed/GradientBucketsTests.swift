// GradientBuckets: every trainable gradient is reduced exactly once, and the all-reduces start in
// the same order whether backward ran (buckets start as stages finish) or not (a rank without
// samples starts them all at the end): the condition for collectives not to deadlock.

import XCTest

@testable import DiceKit

/// Records the sizes of the all-reduces started and doubles every value (a stand-in for a sum
/// over two ranks holding the same gradients).
final class RecordingCommunicator: Communicator {
    var rank: Int { 0 }
    var size: Int { 2 }
    var started: [Int] = []
    func allReduceSum(_ values: inout [Float]) throws { values = values.map { 2 * $0 } }
    func allReduceSum(_ values: inout [Double]) throws { values = values.map { 2 * $0 } }
    func allGather(_ values: [Double]) throws -> [[Double]] { [values, values] }
    func broadcast(_ values: inout [Float], root: Int) throws {}
    func startAllReduceSum(_ values: [Float]) throws -> any PendingAllReduce {
        started.append(values.count)
        return CompletedAllReduce(values.map { 2 * $0 })
    }
}

final class GradientBucketsTests: XCTestCase {
    func testBucketsStartInOneOrderWithOrWithoutBackwardAndCoverEveryGradientOnce() throws {
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 1, classes: 2, baseWidth: 2, depth: 2), seed: 1)
        var generator = SeededGenerator(seed: 2)
        let images = Tensor<Float>.normal([1, 8, 8, 1], generator: &generator)

        // With backward: buckets start as stages finish.
        let during = RecordingCommunicator()
        let buckets = GradientBuckets(model: model, communicator: during)
        model.parameters.zeroGradients()
        let logits = try model.forward(images)
        model.backwardStageFinished = { buckets.stageFinished($0) }
        try model.backward(Tensor(shape: logits.shape, repeating: 1))
        model.backwardStageFinished = nil
        XCTAssertEqual(
            during.started.count, 8,
            "one bucket per stage with parameters: head, dec.1, up.1, dec.0, up.0, mid, down.1, down.0")
        let before = model.parameters.trainable.map(\.gradient.scalars)
        try buckets.finish()
        for (parameter, old) in zip(model.parameters.trainable, before) {
            XCTAssertEqual(parameter.gradient.scalars, old.map { 2 * $0 }, "\(parameter.name) is reduced exactly once")
        }

        // Without backward (a rank without samples): the same all-reduces, in the same order.
        let after = RecordingCommunicator()
        try GradientBuckets(model: model, communicator: after).finish()
        XCTAssertEqual(after.started, during.started)
        XCTAssertEqual(during.started.reduce(0, +), model.parameters.trainable.reduce(0) { $0 + $1.gradient.count })
    }
}
