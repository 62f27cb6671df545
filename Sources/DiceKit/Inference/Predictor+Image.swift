// One image of any size through a U-Net: flip test-time augmentation outermost (each flipped
// copy runs the whole pipeline and its logits are flipped back, so padding and windows never
// need to commute with the flips), then padding to the network's multiple, then one pass or a
// sliding window, then cropping back to the image. Everything is channels-last Float.

import Foundation

extension Predictor {
    /// The logits [spatial…, classes] of `model` for one image [spatial…, inputChannels] of any
    /// spatial size, in evaluation mode (see `InferenceSettings`).
    ///
    /// The image is padded on each spatial axis to the next multiple of 2^depth (half before,
    /// half after; `settings.padding` says with what) and the logits are cropped back. With a
    /// sliding window, at most `batchSize` windows are in the network at once and the logits are
    /// blended with Gaussian weights; with flip augmentation the logits are averaged over flips.
    ///
    /// - Throws: `DiceKitError.shape` when the image's rank or channel count does not fit the
    ///   network; `DiceKitError.option` for a tile that does not fit it (`InferenceSettings.validate`).
    public static func logits(
        _ model: UNet<Float>, image: Tensor<Float>, settings: InferenceSettings = InferenceSettings()
    ) throws -> Tensor<Float> {
        let configuration = model.configuration
        try settings.validate(for: configuration)
        let rank = configuration.spatialRank
        guard image.rank == rank + 1, image.shape.dropLast().allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape(
                "image shape \(image.shape); expected [\(rank == 2 ? "H, W" : "D, H, W"), \(configuration.inputChannels)] for a \(rank)-D network"
            )
        }
        guard image.shape[rank] == configuration.inputChannels else {
            throw DiceKitError.shape(
                "image of \(image.shape[rank]) channel(s); the network expects \(configuration.inputChannels)")
        }
        let extents = Array(image.shape.dropLast())
        let flips: [[Bool]] =
            settings.augmentation == .flip
            ? (0..<(1 << rank)).map { mask in (0..<rank).map { mask & (1 << $0) != 0 } }
            : [[Bool](repeating: false, count: rank)]
        var sum: [Float] = []
        for flip in flips {
            let maps = extents.indices.map { a in flip[a] ? Array((0..<extents[a]).reversed()) : Array(0..<extents[a]) }
            let flipped =
                flip.contains(true)
                ? SpatialRemap.remap(image.scalars, extents: extents, channels: image.shape[rank], maps: maps)
                : image.scalars
            let logits = try padded(model, flipped, extents: extents, settings: settings)
            let classes = configuration.classes
            let back =
                flip.contains(true)
                ? SpatialRemap.remap(logits, extents: extents, channels: classes, maps: maps) : logits
            if sum.isEmpty { sum = back } else { for i in sum.indices { sum[i] += back[i] } }
        }
        if flips.count > 1 {
            let scale = 1 / Float(flips.count)
            for i in sum.indices { sum[i] *= scale }
        }
        return try Tensor(shape: extents + [configuration.classes], scalars: sum)
    }

    /// The network's spatial multiple per axis: 2^depth.
    static func multiple(of configuration: UNetConfiguration) -> Int { 1 << configuration.depth }

    /// Pads, predicts (whole or windowed) and crops back: logits [extents…, classes], row-major.
    private static func padded(
        _ model: UNet<Float>, _ image: [Float], extents: [Int],
        settings: InferenceSettings
    ) throws -> [Float] {
        let configuration = model.configuration
        let (c, classes, m) = (configuration.inputChannels, configuration.classes, multiple(of: configuration))
        let padded = extents.map { ($0 + m - 1) / m * m }
        let before = zip(extents, padded).map { ($1 - $0) / 2 }
        let needsPadding = padded != extents
        let input =
            needsPadding
            ? SpatialRemap.remap(
                image, extents: extents, channels: c,
                maps: extents.indices.map { a in
                    SpatialRemap.padMap(
                        extent: extents[a], before: before[a], after: padded[a] - extents[a] - before[a],
                        mode: settings.padding)
                })
            : image
        let logits: [Float]
        if let window = settings.window {
            logits = try slidingWindow(model, input, extents: padded, window: window)
        } else {
            logits = try model.forward(Tensor(shape: [1] + padded + [c], scalars: input), mode: .evaluation).scalars
        }
        guard needsPadding else { return logits }
        return SpatialRemap.remap(
            logits, extents: padded, channels: classes,
            maps: extents.indices.map { a in Array(before[a]..<(before[a] + extents[a])) })
    }

    /// Gaussian-blended sliding-window logits of an image whose extents fit the network.
    static func slidingWindow(_ model: UNet<Float>, _ image: [Float], extents: [Int], window: SlidingWindow) throws
        -> [Float]
    {
        let configuration = model.configuration
        let (c, classes) = (configuration.inputChannels, configuration.classes)
        let sizes = window.tile(for: extents)
        let positions = window.windows(extents: extents, sizes: sizes)
        let weight = window.importanceMap(sizes: sizes)
        let voxels = extents.reduce(1, *)
        let windowVoxels = sizes.reduce(1, *)
        var sum = [Float](repeating: 0, count: voxels * classes)
        var weights = [Float](repeating: 0, count: voxels)
        // One input batch, refilled in place for every batch of windows (a last, shorter batch
        // gets its own): the network keeps no reference to it once its evaluation pass returns.
        var input = Tensor<Float>(shape: [min(window.batchSize, positions.count)] + sizes + [c])
        for batchStart in stride(from: 0, to: positions.count, by: window.batchSize) {
            let batch = positions[batchStart..<min(batchStart + window.batchSize, positions.count)]
            if input.shape[0] != batch.count { input = Tensor(shape: [batch.count] + sizes + [c]) }
            input.withUnsafeMutableBufferPointer { buffer in
                for (k, start) in batch.enumerated() {
                    SpatialRemap.remap(
                        image, extents: extents, channels: c,
                        maps: extents.indices.map { a in Array(start[a]..<(start[a] + sizes[a])) },
                        into: UnsafeMutableBufferPointer(
                            rebasing: buffer[(k * windowVoxels * c)..<((k + 1) * windowVoxels * c)]))
                }
            }
            let output = try model.forward(input, mode: .evaluation).scalars
            for (k, start) in batch.enumerated() {
                let slice = output[(k * windowVoxels * classes)..<((k + 1) * windowVoxels * classes)]
                SpatialRemap.accumulate(
                    slice, weight: weight, windowExtents: sizes, at: start,
                    into: &sum, weights: &weights, extents: extents, channels: classes)
            }
        }
        for p in 0..<voxels {
            let w = weights[p]
            for k in 0..<classes { sum[p * classes + k] /= w }
        }
        return sum
    }

    /// Class probabilities from logits [spatial…, K]: the softmax over the last axis
    /// (max-subtracted), or the sigmoid of a single channel.
    ///
    /// - Throws: `DiceKitError.shape` for a tensor of rank below 1 or without channels.
    public static func probabilities(_ logits: Tensor<Float>) throws -> Tensor<Float> {
        guard let k = logits.shape.last, k >= 1 else {
            throw DiceKitError.shape("probabilities need logits [spatial…, classes], got shape \(logits.shape)")
        }
        var values = logits.scalars
        let positions = values.count / k
        if k == 1 {
            for i in values.indices { values[i] = 1 / (1 + expf(-values[i])) }
        } else {
            for p in 0..<positions {
                let row = (p * k)..<((p + 1) * k)
                let top = values[row].max()!
                var total: Float = 0
                for i in row {
                    values[i] = expf(values[i] - top)
                    total += values[i]
                }
                for i in row { values[i] /= total }
            }
        }
        return try Tensor(shape: logits.shape, scalars: values)
    }
}
