// `dicekit predict`: logits and PNG overlays (image | ground truth | prediction) of a checkpoint.

import DiceKit
import Foundation

enum PredictCommand: Command {
    static let spec = CommandSpec(
        name: "predict",
        summary: "logits (.npy) and PNG overlays of a checkpoint's predictions",
        help: """
        usage: dicekit predict --checkpoint FILE --input X.npy|DIR [--logits OUT.npy] [--out DIR] [--batch-size B]

        --input X.npy   images [N, H, W, C] (float32 in [0, 1], or uint8)
        --input DIR     a data set as `dicekit train --data DIR` reads it (its masks are shown as ground truth)
        --logits OUT    writes the logits [N, H, W, classes], float32, channels-last
        --out DIR       writes DIR/NNNN.png: image | ground truth (if known) | prediction, side by side,
                        classes coloured (1 green, 2 blue, 3 yellow, …) over the dimmed image
        At least one of --logits and --out is required.
        """,
        valueOptions: ["checkpoint", "input", "logits", "out", "batch-size"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.string("logits") != nil || arguments.string("out") != nil else {
            throw UsageError(message: "nothing to write: give --logits OUT.npy and/or --out DIR")
        }
        let (checkpoint, input) = (try required(arguments, "checkpoint"), try required(arguments, "input"))
        let batchSize = try arguments.int("batch-size", default: 8, in: 1...4096)!
        let model = try UNet<Float>.load(contentsOf: checkpoint)
        let images: Tensor<Float>
        var truth: [Int32]? = nil
        if input.hasSuffix(".npy") && !FileManager.default.fileExists(atPath: input.dropLast(4) + "_masks.npy") {
            images = try loadImages(input)
        } else {
            let dataset = try SegmentationDataset.load(from: input, classes: model.configuration.classes)
            images = dataset.images
            truth = dataset.labels
        }
        guard images.rank == 4 else { throw DiceKitError.shape("predict writes 2-D overlays; got images of shape \(images.shape)") }
        let logits = try Predictor.logits(model, images: images, batchSize: batchSize)
        if let path = arguments.string("logits") { try NPY.write(logits, to: path) }
        guard let out = arguments.string("out") else { return }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let predicted = try Predictor.argmax(logits).labels
        let (n, h, w, c) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        for i in 0..<n {
            let panels = truth == nil ? 2 : 3
            var pixels = [UInt8](repeating: 0, count: h * w * panels * 3)
            for y in 0..<h {
                for x in 0..<w {
                    let p = (i * h + y) * w + x
                    var rgb = [Float](repeating: 0, count: 3)
                    for k in 0..<3 { rgb[k] = images.scalars[p * c + min(k, c - 1)] }
                    let labelsPerPanel: [Int?] = truth == nil ? [nil, predicted[p]] : [nil, Int(truth![p]), predicted[p]]
                    for (panel, label) in labelsPerPanel.enumerated() {
                        let colour = overlay(rgb, label: label)
                        let o = (y * w * panels + panel * w + x) * 3
                        for k in 0..<3 { pixels[o + k] = colour[k] }
                    }
                }
            }
            let path = (out as NSString).appendingPathComponent(String(format: "%04d.png", i))
            try PNG.write(try PNGImage(width: w * panels, height: h, channels: 3, pixels: pixels), to: path)
        }
        printError("wrote \(n) overlay(s) to \(out)")
    }

    /// The image pixel (label nil), or the dimmed pixel blended with the class colour.
    static func overlay(_ rgb: [Float], label: Int?) -> [UInt8] {
        let palette: [[Float]] = [[0, 1, 0], [0.2, 0.4, 1], [1, 0.9, 0], [1, 0, 1], [0, 1, 1]]
        let byte = { (v: Float) in UInt8(max(0, min(255, (v * 255).rounded()))) }
        guard let label else { return rgb.map(byte) }
        if label == 0 { return rgb.map { byte($0 * 0.6) } }
        let colour = palette[(label - 1) % palette.count]
        return (0..<3).map { byte(0.4 * rgb[$0] + 0.6 * colour[$0]) }
    }
}
