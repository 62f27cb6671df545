// `dicekit predict`: logits and PNG overlays (image | ground truth | prediction) of a checkpoint.

import DiceKit
import Foundation

enum PredictCommand: Command {
    static let spec = CommandSpec(
        name: "predict",
        summary: "logits (.npy) and PNG overlays of a checkpoint's predictions",
        help: """
        usage: dicekit predict --checkpoint FILE --input X.npy|DIR [--logits OUT.npy] [--out DIR] [--batch-size B]
                               [--image-size H,W] [--resize MODE] [--mask-encoding E] [--threads T]
                               [--precision float32|bf16]

        --input X.npy   images [N, H, W, C] (float32 in [0, 1], or uint8); X_masks.npy, if present, is the ground truth
                        (X.npy may hold volumes [N, D, H, W, C] for a 3-D checkpoint: logits only)
        --input DIR     DIR/images.npy (+ masks.npy), DIR/images/*.{png,jpg} (+ masks/*), or a folder of PNG/JPEG images
        --logits OUT    writes the logits [N, H, W, classes] ([N, D, H, W, classes]), float32, channels-last
        --out DIR       writes DIR/NAME.png: image | ground truth (if known) | prediction, side by side,
                        classes as translucent colours with outlines (1 green, 2 blue, 3 yellow, …)
        \(ThreadsOption.help)
        \(PrecisionOption.help)
        At least one of --logits and --out is required.
          --image-size, --resize and --mask-encoding read image folders as `dicekit train` does.
        """,
        valueOptions: ["checkpoint", "input", "logits", "out", "batch-size", "image-size", "resize", "mask-encoding", "threads", "precision"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.string("logits") != nil || arguments.string("out") != nil else {
            throw UsageError(message: "nothing to write: give --logits OUT.npy and/or --out DIR")
        }
        try ThreadsOption.apply(arguments)
        let precision = try PrecisionOption.parse(arguments)
        let (checkpoint, input) = (try arguments.required("checkpoint"), try arguments.required("input"))
        let batchSize = try arguments.int("batch-size", default: 8, in: 1...4096)!
        try checkOutputs(directories: [arguments.string("out")], files: [arguments.string("logits")])
        let options = try DataOptions.folderOptions(arguments)
        let model = try UNet<Float>.load(contentsOf: checkpoint)
        let inputs = try PredictionInputs.load(from: input, options: options) { printError("warning: \($0)") }
        let images = inputs.images
        let logits = try Predictor.logits(model, images: images, batchSize: batchSize, precision: precision)
        if let path = arguments.string("logits") { try NPY.write(logits, to: path) }
        guard let out = arguments.string("out") else { return }
        guard images.rank == 4 else { throw DiceKitError.shape("overlays are 2-D pictures; got images of shape \(images.shape)") }
        try FileSystem.createDirectory(out)
        let predicted = try Predictor.argmax(logits).labels.map { Int32($0) }
        let (h, w, c) = (images.shape[1], images.shape[2], images.shape[3])
        for (i, name) in inputs.names.enumerated() {
            let pixels = h * w
            let image = try Tensor(shape: [h, w, c], scalars: Array(images.scalars[(i * pixels * c)..<((i + 1) * pixels * c)]))
            let truth = inputs.labels.map { Array($0[(i * pixels)..<((i + 1) * pixels)]) }
            let picture = try SegmentationOverlay.sideBySide(image: image, truth: truth,
                                                             prediction: Array(predicted[(i * pixels)..<((i + 1) * pixels)]))
            try PNG.write(picture, to: (out as NSString).appendingPathComponent(name + ".png"))
        }
        printError("wrote \(inputs.names.count) overlay(s) to \(out)")
    }
}
