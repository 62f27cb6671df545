// Turning logits into label maps: the arg-max over the channel axis (the class with the largest
// logit, which is also the largest softmax probability; ties go to the lower index).

import Foundation

/// Predictions from a trained network.
public enum Predictor {
    /// The arg-max class of channels-last logits [N, spatial…, K] as labels [N, spatial…].
    /// With a single channel (sigmoid output), a logit > 0 is class 1.
    ///
    /// - Throws: `DiceKitError.shape` for a tensor of rank below 2.
    public static func argmax(_ logits: Tensor<Float>) throws -> LabelMap {
        guard logits.rank >= 2, let k = logits.shape.last, k >= 1 else {
            throw DiceKitError.shape("argmax needs logits [N, spatial…, classes], got shape \(logits.shape)")
        }
        let positions = logits.count / k
        var labels = [Int](repeating: 0, count: positions)
        logits.withUnsafeBufferPointer { x in
            for p in 0..<positions {
                let row = p * k
                if k == 1 {
                    labels[p] = x[row] > 0 ? 1 : 0
                    continue
                }
                var best = 0
                var bestValue = x[row]
                for c in 1..<k where x[row + c] > bestValue {
                    best = c
                    bestValue = x[row + c]
                }
                labels[p] = best
            }
        }
        return try LabelMap(shape: Array(logits.shape.dropLast()), labels: labels)
    }

    /// Checks that `scores` (channels-last logits or probabilities [N, spatial…, K]) are finite:
    /// the arg-max of a NaN is no class, and a model whose weights overflow Float on an image
    /// gives NaN or infinite logits everywhere (`dicekit predict` and `eval` check every output).
    ///
    /// - Throws: `DiceKitError.value` naming `subject` ("the model's logits"), how many values
    ///   are not finite, and the first: its value, position (counted over every axis but the
    ///   last) and channel.
    public static func requireFinite(_ scores: Tensor<Float>, of subject: String) throws {
        let bad = scores.withUnsafeBufferPointer { x in x.indices.first { !x[$0].isFinite } }
        guard let first = bad else { return }
        let count = scores.withUnsafeBufferPointer { x in x.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
        let k = Swift.max(scores.shape.last ?? 1, 1)
        let value = scores.withUnsafeBufferPointer { $0[first] }
        throw DiceKitError.value(
            "\(subject) are not finite: \(count) of \(scores.count) values, the first \(value) at position "
                + "\(first / k), channel \(first % k); expected finite values (weights that are not finite, or "
                + "overflow float32 on these images: a diverged checkpoint?)")
    }

    /// Logits of `model` for `images`, in evaluation mode, `batchSize` images at a time, with the
    /// convolutions in `precision` (default nil: the model's own `precision`; a value is set on
    /// the model for the call and the previous one restored).
    ///
    /// One input batch is allocated and refilled for every batch (a last, shorter batch gets its
    /// own), and each batch's logits are copied into the result, allocated once.
    ///
    /// - Throws: as `UNet.forward(_:mode:)`.
    public static func logits(
        _ model: UNet<Float>, images: Tensor<Float>, batchSize: Int = 8,
        precision: ComputePrecision? = nil
    ) throws -> Tensor<Float> {
        let previous = model.precision
        if let precision { model.precision = precision }
        defer { model.precision = previous }
        let n = images.shape.first ?? 0
        let per = images.count / max(n, 1)
        let size = max(batchSize, 1)
        var outputs: [Float] = []
        var outShape: [Int] = []
        var batch = Tensor<Float>(shape: [min(size, n)] + images.shape.dropFirst())
        for start in stride(from: 0, to: n, by: size) {
            let end = min(start + size, n)
            if batch.shape[0] != end - start { batch = Tensor(shape: [end - start] + images.shape.dropFirst()) }
            images.withUnsafeBufferPointer { source in
                batch.withUnsafeMutableBufferPointer { target in
                    guard let from = source.baseAddress, let to = target.baseAddress else { return }
                    to.update(from: from + start * per, count: (end - start) * per)
                }
            }
            let out = try model.forward(batch, mode: .evaluation)
            // The whole output is allocated once, when the first batch gives its size per image.
            if start == 0 { outputs = [Float](repeating: 0, count: n * (out.count / (end - start))) }
            out.withUnsafeBufferPointer { source in
                outputs.withUnsafeMutableBufferPointer { target in
                    guard let from = source.baseAddress, let to = target.baseAddress else { return }
                    (to + start * (source.count / (end - start))).update(from: from, count: source.count)
                }
            }
            outShape = Array(out.shape.dropFirst())
        }
        return try Tensor(shape: [n] + outShape, scalars: outputs)
    }
}

extension UNetConfiguration {
    /// The label map of this network's channels-last logits [N, spatial…, classes]: the
    /// regions' labels (`LabelRegions.labels(logits:)`) or the arg-max class (`Predictor.argmax`).
    ///
    /// - Throws: `DiceKitError.shape` for logits of another channel count or rank below 2.
    public func labels(logits: Tensor<Float>) throws -> LabelMap {
        try regions?.labels(logits: logits) ?? Predictor.argmax(logits)
    }

    /// The probabilities of this network's channels-last logits [..., classes]: each region's
    /// sigmoid with `regions`, otherwise `Predictor.probabilities` (the softmax; the sigmoid of a
    /// single channel).
    ///
    /// - Throws: `DiceKitError.shape` for logits of another channel count.
    public func probabilities(logits: Tensor<Float>) throws -> Tensor<Float> {
        guard regions != nil else { return try Predictor.probabilities(logits) }
        guard logits.shape.last == classes else {
            throw DiceKitError.shape("region logits of shape \(logits.shape); expected [..., \(classes)]")
        }
        return Tensor(uncheckedShape: logits.shape, storage: logits.scalars.map { 1 / (1 + expf(-$0)) })
    }
}
