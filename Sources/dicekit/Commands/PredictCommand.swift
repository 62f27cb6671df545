// `dicekit predict`: a checkpoint applied to images of any size (a file, a folder, an .npy
// array), one image at a time: logits, probabilities, masks, overlays, per-image Dice.

import DiceKit
import Foundation

enum PredictCommand: Command {
    static let spec = CommandSpec(
        name: "predict",
        summary: "masks, overlays, logits and per-image Dice of a checkpoint on images of any size",
        help: """
            usage: dicekit predict --checkpoint FILE[,FILE…] --input FILE|DIR [--out DIR] [--masks DIR] [--mask-values index|255]
                                   [--logits OUT] [--probabilities OUT] [--tile S[,T[,U]]] [--overlap F] [--batch-size B]
                                   [--tta none|flip] [--padding reflect|zero] [--image-size H,W] [--resize MODE] [--mask-encoding E]
                                   [--ignore-index K] [--keep-largest N] [--min-size S] [--postprocess-classes LIST]
                                   [--merge-classes] [--connectivity K] [--ensemble mean|vote|logits] [--ensemble-weights W,…]
                                   [--threads T] [--precision float32|bf16]

            --input FILE     one image: .png, .jpg, .jpeg, or .npy [H, W, C] / [H, W] ([D, H, W, C] for a 3-D checkpoint);
                             an .npy stack [N, H, W, C] ([N, D, H, W, C]) with FILE_masks.npy as ground truth if present
            --input DIR      DIR/images.npy (+ masks.npy), DIR/images/* (+ masks/* where present), or a folder of
                             PNG/JPEG/NPY images; every image is predicted at its own size
            NIfTI (3-D checkpoints): --input CASE_0000.nii.gz, DIR/imagesTs/ (+ labelsTs/), DIR/imagesTr/ (+ labelsTr/)
                             or a folder of .nii/.nii.gz files, grouped into cases as nnU-Net does; --masks DIR writes
                             DIR/CASE.nii.gz with the scan's spacing and orientation. --intensity, and a D,H,W
                             --image-size or --target-spacing DZ,DY,DX, default to the checkpoint's training options;
                             a resampled volume's scores go back to its own grid before the argmax, the Dice and
                             every output
            --out DIR        DIR/NAME.png: image | ground truth (if known) | prediction, with "DICE x" drawn above
                             when the ground truth is known; and DIR/NAME_mask.png unless --masks says elsewhere
            --masks DIR      DIR/NAME_mask.png, one grey value per pixel (NAME_mask.npy for volumes)
            --mask-values V  index (default): the class index; 255: 0 and 255 (two-class checkpoints)
            --logits OUT     OUT.npy: the logits of every image stacked [N, H, W, classes] (images of one size);
                             any other OUT is a folder receiving OUT/NAME_logits.npy [H, W, classes] per image
            --probabilities OUT   as --logits, softmax (sigmoid for one class) probabilities: OUT.npy or OUT/NAME_prob.npy
            --tile S[,T[,U]] sliding-window inference with windows of S (per axis), multiples of 2^depth; a tile larger
                             than the image is clamped to it; logits blended with Gaussian weights (MONAI's
                             sliding_window_inference, mode gaussian, sigma_scale 0.125); a checkpoint trained
                             with --patch-size slides its patch size unless --tile or --image-size is given
            --overlap F      fraction of a window shared with the next, in [0, 1) (default 0.25; needs a window)
            --batch-size B   windows per forward pass with --tile (default 8): memory grows with B × tile, not the image
            --tta flip       mean of the logits over every combination of flipped axes (4 passes; 8 for volumes)
            --padding P      how images are padded to a multiple of 2^depth before inference and cropped back
                             after: reflect (default, mirror about the edge) or zero
            At least one of --out, --masks, --logits and --probabilities is required. Per image, one JSON line
            on stdout; with ground truth, a Dice table on stderr.
              --image-size, --resize, --mask-encoding and --ignore-index read image files as `dicekit train` does
              (ground-truth pixels labelled with the ignore index count nowhere in the Dice). A picture resized
              by --image-size (stretch or fit; crop is refused) has its scores brought back to its own size
              before the arg-max: masks, overlays, arrays and the Dice are on the picture's grid.
            \(PostprocessOption.help)
            The masks, overlays and Dice show the post-processed prediction; --logits and --probabilities
            stay the network's.
            \(CheckpointOption.help)
            With several checkpoints, --probabilities writes the ensemble's (vote: each class's share of the
            votes); --logits writes the mean logits of --ensemble logits and is refused for mean and vote.
            \(ThreadsOption.help)
            \(PrecisionOption.help)
            """,
        valueOptions: Set([
            "input", "logits", "probabilities", "out", "masks", "mask-values", "batch-size",
            "tile", "overlap", "tta", "padding", "image-size", "resize", "mask-encoding", "ignore-index", "threads",
            "precision", "intensity", "target-spacing",
        ]).union(PostprocessOption.valueOptions).union(CheckpointOption.valueOptions),
        flags: PostprocessOption.flags
    )

    static func run(_ arguments: ParsedArguments) throws {
        let outputs = try PredictionOutputs(arguments)
        try ThreadsOption.apply(arguments)
        let precision = try PrecisionOption.parse(arguments)
        let input = try arguments.required("input")
        var options = try DataOptions.folderOptions(arguments)
        // A given --tile is checked now; without one, a patch-trained checkpoint's size is taken
        // once the outputs and the checkpoint's path are known to be usable.
        var window = arguments.string("tile") == nil ? nil : try windowOption(arguments)
        let padding = try arguments.choice("padding", as: PaddingMode.self, default: .reflect)!
        let augmentation = try arguments.choice(
            "tta", as: TestTimeAugmentation.self, default: TestTimeAugmentation.none)!
        try outputs.check()
        let paths = try CheckpointOption.paths(arguments)
        if window == nil { window = try windowOption(arguments, recordedTile: try patchTile(of: paths[0], arguments)) }
        let settings = InferenceSettings(window: window, padding: padding, augmentation: augmentation)
        let combination = try arguments.choice("ensemble", as: EnsembleCombination.self, default: .mean)!
        if paths.count > 1, combination != .logits, let target = outputs.logits {
            throw UsageError(
                message:
                    "--logits \(target): an ensemble of --ensemble \(combination.rawValue) has no logits; give --probabilities OUT, or --ensemble logits"
            )
        }
        let (model, ensemble) = try CheckpointOption.load(arguments, paths: paths, precision: precision)
        let configuration = model.configuration
        do {
            for member in ensemble?.members ?? [model] { try settings.validate(for: member.configuration) }
        } catch DiceKitError.option(let message) {
            throw UsageError(message: "--tile: \(message)")
        }
        try outputs.check(against: configuration)
        let postprocessing = try PostprocessOption.parse(
            arguments, classes: configuration.classes, spatialRank: configuration.spatialRank,
            regions: configuration.regions)
        if configuration.spatialRank == 3, PredictionInputs.namesNIfTI(input) {
            try inheritVolumeOptions(&options, from: paths[0])
        }
        let inputs = try PredictionInputs.load(from: input, options: options, spatialRank: configuration.spatialRank)
        if inputs.holdsPictures { try notePictureSize(options, window: window, checkpoint: paths[0]) }
        let labelClasses = max(2, configuration.labelClasses)
        if let k = options.ignoreIndex, (0..<labelClasses).contains(k) {
            throw UsageError(
                message:
                    "--ignore-index \(k) is one of the checkpoint's class indices 0..<\(labelClasses); expected a value outside them"
            )
        }
        var report = DiceReport(
            classes: labelClasses, names: try classNames(besides: input), ignore: options.ignoreIndex,
            regions: configuration.regions)
        var writer = try outputs.writer(count: inputs.count, configuration: configuration)
        // Off a terminal the per-image lines on stdout are the progress.
        let progress = ItemProgress(
            verb: "predicting", total: inputs.count, noun: configuration.spatialRank == 3 ? "case" : "image",
            whole: false)
        defer { progress.clear() }
        progress.advance(by: 0)
        for index in 0..<inputs.count {
            let item = try inputs.item(index, channels: configuration.inputChannels)
            let scores: PredictionWriter.Scores
            if let ensemble, ensemble.combination == .logits {
                scores = .logits(try ensemble.meanLogits(image: item.image, settings: settings))
            } else if let ensemble {
                scores = .probabilities(try ensemble.probabilities(image: item.image, settings: settings))
            } else {
                scores = .logits(try Predictor.logits(model, image: item.image, settings: settings))
            }
            try scores.requireFinite(image: item.name)
            // A resized NIfTI volume's scores go back to its own grid before the argmax.
            let prediction = try scores.mapped(item.scoresOnGrid)
            let labels = try prediction.labels(configuration)
            var predicted = labels.labels.map { Int32($0) }
            try postprocessing?.applyToSample(&predicted, spatialShape: Array(labels.shape.dropFirst()))
            let dice = item.labels == nil ? nil : try report.add(item, predicted: predicted)
            try writer.write(item, prediction, predicted: predicted, dice: dice?.foreground)
            progress.clear()
            printOutput(report.jsonLine(item, predicted: predicted, dice: dice))
            progress.advance(by: 1)
        }
        progress.clear()
        try writer.finish()
        report.printTable()
    }

    /// A NIfTI input is read as the checkpoint's training data was: `--intensity`, and a D,H,W
    /// `--image-size` or the target spacing (median resolved) when neither is given, take the
    /// recorded values (a notice on stderr, prefixed with `command`, says so).
    static func inheritVolumeOptions(
        _ options: inout DatasetOptions, from checkpoint: String, command: String = "predict"
    ) throws {
        guard let record = try EvalCommand.record(of: checkpoint) else { return }
        var taken = [String]()
        if options.intensity == nil, let text = record["intensity"] {
            options.intensity = try IntensityNormalization(parsing: text)
            taken.append("--intensity \(text)")
        }
        if options.imageSize == nil, options.targetSpacing == nil {
            if let text = record["image-size"], let size = try? ImageSize(parsing: text), size.depth != nil {
                options.imageSize = size
                taken.append("--image-size \(text)")
            } else if let text = record["trained-spacing"] {
                options.targetSpacing = try TargetSpacing(parsing: text)
                taken.append("--target-spacing \(text)")
            }
        }
        if !taken.isEmpty { printError("\(command): \(taken.joined(separator: " ")) as the checkpoint was trained") }
    }

    /// Pictures read at their own size (no image size, no window) by a checkpoint trained on
    /// pictures resized on load: one notice on stderr, prefixed with `command`, naming the size
    /// they were trained at (a polyp four times larger than any the network saw is not found).
    static func notePictureSize(
        _ options: DatasetOptions, window: SlidingWindow?, checkpoint: String, command: String = "predict"
    ) throws {
        guard options.imageSize == nil, window == nil, let text = try EvalCommand.record(of: checkpoint)?["image-size"],
            let size = try? ImageSize(parsing: text), size.depth == nil
        else { return }
        printError(
            "\(command): the checkpoint was trained on pictures resized to \(size.height) × \(size.width); these are read at their own size (give --image-size \(text) to read them as trained)"
        )
    }

    /// The classes.json beside the input (for DIR/images/FILE, DIR's), for the table's columns.
    static func classNames(besides input: String) throws -> [String]? {
        if let names = try ClassNames.load(besides: input) { return names }
        let folder = (input as NSString).deletingLastPathComponent
        guard (folder as NSString).lastPathComponent == "images" else { return nil }
        return try ClassNames.load(besides: (folder as NSString).deletingLastPathComponent)
    }

    /// The patch size of a checkpoint trained on patches (`train --patch-size`), the window to
    /// slide when neither `--tile` nor `--image-size` is given (a notice says so); else nil.
    static func patchTile(of checkpoint: String, _ arguments: ParsedArguments, command: String = "predict") throws
        -> String?
    {
        guard arguments.string("tile") == nil, arguments.string("image-size") == nil,
            let tile = try EvalCommand.record(of: checkpoint)?["patch-size"]
        else { return nil }
        printError("\(command): --tile \(tile) as the checkpoint was trained on patches of that size")
        return tile
    }

    /// `--tile` (or `recordedTile`, the checkpoint's patch size) and `--overlap` (with
    /// `--batch-size` windows per pass), or nil without either.
    static func windowOption(_ arguments: ParsedArguments, recordedTile: String? = nil) throws -> SlidingWindow? {
        let batchSize = try arguments.int("batch-size", default: 8, in: 1...4096)!
        guard let text = arguments.string("tile") ?? recordedTile else {
            if let overlap = arguments.string("overlap") {
                throw UsageError(message: "--overlap \(overlap) needs --tile S")
            }
            return nil
        }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingSpaces()) }
        guard (1...3).contains(parts.count), parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw UsageError(
                message: "--tile expects S or S,T (S,T,U for volumes) with positive integers, got '\(text)'")
        }
        let overlap = try arguments.double("overlap", default: 0.25)!
        guard overlap >= 0, overlap < 1 else {
            throw UsageError(message: "--overlap \(arguments.string("overlap")!); expected a fraction in [0, 1)")
        }
        do {
            return try SlidingWindow(tile: parts.map { $0! }, overlap: overlap, batchSize: batchSize)
        } catch DiceKitError.option(let message) {
            throw UsageError(message: "--tile: \(message)")
        }
    }
}
