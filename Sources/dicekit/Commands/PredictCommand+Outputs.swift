// The files `dicekit predict` writes: overlays, masks, logits and probabilities, either one
// stacked .npy for all images (which must share a size) or one file per image in a folder.
// Every location is checked before the checkpoint or any image is read.

import DiceKit
import Foundation

/// How mask PNGs encode classes.
enum MaskValues: String, CaseIterable {
    /// The class index as the grey level.
    case index
    /// 0 for background, 255 for class 1 (two-class checkpoints).
    case binary = "255"
}

/// The output options of `predict`.
struct PredictionOutputs {
    let overlays: String?
    let masks: String?
    let maskValues: MaskValues
    let logits: String?
    let probabilities: String?

    init(_ arguments: ParsedArguments) throws {
        overlays = arguments.string("out")
        masks = arguments.string("masks") ?? overlays
        logits = arguments.string("logits")
        probabilities = arguments.string("probabilities")
        maskValues = try arguments.choice("mask-values", as: MaskValues.self, default: .index)!
        guard overlays != nil || masks != nil || logits != nil || probabilities != nil else {
            throw UsageError(
                message: "nothing to write: give --out DIR, --masks DIR, --logits OUT and/or --probabilities OUT")
        }
        if arguments.string("mask-values") != nil, masks == nil {
            throw UsageError(message: "--mask-values applies to mask files; give --masks DIR or --out DIR")
        }
    }

    /// Whether `path` names one stacked .npy file rather than a folder of per-image files.
    static func isStacked(_ path: String) -> Bool { path.lowercased().hasSuffix(".npy") }

    /// Checks every location before any work.
    func check() throws {
        let arrays = [logits, probabilities].compactMap { $0 }
        try checkOutputs(
            directories: [overlays, masks] + arrays.filter { !Self.isStacked($0) },
            files: arrays.filter(Self.isStacked))
    }

    /// Checks the options that depend on the checkpoint.
    func check(against configuration: UNetConfiguration) throws {
        if maskValues == .binary, configuration.classes > 2 {
            throw UsageError(
                message:
                    "--mask-values 255 writes two-class masks; the checkpoint has \(configuration.classes) classes (use --mask-values index)"
            )
        }
        if overlays != nil, configuration.spatialRank == 3 {
            throw UsageError(
                message: "--out draws 2-D overlays; for a 3-D checkpoint give --masks, --logits or --probabilities")
        }
    }

    /// A writer for `count` images (creates the output folders).
    func writer(count: Int, configuration: UNetConfiguration) throws -> PredictionWriter {
        for folder in [overlays, masks] + [logits, probabilities].map({ $0.flatMap { Self.isStacked($0) ? nil : $0 } })
        {
            if let folder { try FileSystem.createDirectory(folder) }
        }
        return PredictionWriter(outputs: self, count: count, configuration: configuration)
    }
}

/// Writes each image's outputs as it is predicted and the stacked arrays at the end.
struct PredictionWriter {
    /// What the network (or ensemble) gave for one image, [spatial…, classes].
    enum Scores {
        /// One network's logits (the probabilities are their softmax).
        case logits(Tensor<Float>)
        /// An ensemble's combined probabilities (no logits).
        case probabilities(Tensor<Float>)

        var shape: [Int] {
            switch self {
            case .logits(let t), .probabilities(let t): return t.shape
            }
        }

        /// The same kind of scores with `transform` applied to the values.
        func mapped(_ transform: (Tensor<Float>) throws -> Tensor<Float>) rethrows -> Scores {
            switch self {
            case .logits(let t): return .logits(try transform(t))
            case .probabilities(let t): return .probabilities(try transform(t))
            }
        }

        /// Checks that the scores are finite (`Predictor.requireFinite`), naming `image`.
        ///
        /// - Throws: `DiceKitError.value` for NaN or infinite scores.
        func requireFinite(image: String) throws {
            switch self {
            case .logits(let t): try Predictor.requireFinite(t, of: "\(image): the model's logits")
            case .probabilities(let t): try Predictor.requireFinite(t, of: "\(image): the ensemble's probabilities")
            }
        }

        /// The label map [1, spatial…] of a network of `configuration`: the arg-max (or the
        /// regions' labels) of the logits, or of the combined probabilities (`Ensemble.labels`).
        func labels(_ configuration: UNetConfiguration) throws -> LabelMap {
            switch self {
            case .logits(let t): return try configuration.labels(logits: try t.reshaped(to: [1] + t.shape))
            case .probabilities(let t):
                let batched = try t.reshaped(to: [1] + t.shape)
                return try configuration.regions?.labels(probabilities: batched) ?? Ensemble.labels(batched)
            }
        }
    }

    let outputs: PredictionOutputs
    let count: Int
    /// The network's configuration: its probabilities are its regions' sigmoids when it has regions.
    let configuration: UNetConfiguration
    private var logitsStack: [Float] = [], probabilityStack: [Float] = []
    private var stackShape: [Int]?
    private var firstName = ""
    private var written = 0

    init(outputs: PredictionOutputs, count: Int, configuration: UNetConfiguration) {
        self.outputs = outputs
        self.count = count
        self.configuration = configuration
    }

    /// Writes `item`'s files: overlay (titled with `dice` when the ground truth is known), mask,
    /// per-image arrays; keeps what goes into stacked arrays.
    mutating func write(_ item: PredictionInputs.Item, _ scores: Scores, predicted: [Int32], dice: Double?) throws {
        let extents = item.outputExtents
        if let folder = outputs.overlays {
            var picture = try SegmentationOverlay.sideBySide(
                image: item.outputImage, truth: item.labels, prediction: predicted)
            if item.labels != nil {
                picture = try SegmentationOverlay.titled(
                    picture, "DICE " + (dice.flatMap { $0.isFinite ? threeDecimals($0) : nil } ?? "-"))
            }
            try PNG.write(picture, to: path(folder, item.name + ".png"))
        }
        if let folder = outputs.masks, let grid = item.grid {
            // A NIfTI case: CASE.nii.gz with its scan's spacing and orientation, as nnU-Net writes it.
            let values = predicted.map { outputs.maskValues == .binary ? ($0 > 0 ? 255 : 0) : $0 }
            try NIfTI.writeLabels(
                values, extents: extents, to: path(folder, item.name + ".nii.gz"), geometryOf: grid.reference)
        } else if let folder = outputs.masks {
            let values = predicted.map { UInt8(outputs.maskValues == .binary ? ($0 > 0 ? 255 : 0) : min($0, 255)) }
            if extents.count == 2 {
                try PNG.write(
                    try PNGImage(width: extents[1], height: extents[0], channels: 1, pixels: values),
                    to: path(folder, item.name + "_mask.png"))
            } else {
                try NPY.write(
                    try NPYArray(integers: values.map(Int.init), shape: extents, dtype: .uint8),
                    to: path(folder, item.name + "_mask.npy"))
            }
        }
        var logits: Tensor<Float>?
        var probabilities: Tensor<Float>?
        switch scores {
        case .logits(let values):
            logits = values
            if outputs.probabilities != nil { probabilities = try configuration.probabilities(logits: values) }
        case .probabilities(let values): probabilities = values
        }
        if outputs.logits.map(PredictionOutputs.isStacked) == true
            || outputs.probabilities.map(PredictionOutputs.isStacked) == true
        {
            if let shape = stackShape, shape != scores.shape {
                throw DiceKitError.shape(
                    "\(item.source): prediction \(scores.shape) unlike \(shape) of \(firstName); a stacked OUT.npy needs images of one size (give a folder for one file per image)"
                )
            }
            if stackShape == nil { (stackShape, firstName) = (scores.shape, item.name) }
        }
        for (target, array, suffix) in [
            (outputs.logits, logits, "_logits.npy"), (outputs.probabilities, probabilities, "_prob.npy"),
        ] {
            guard let target, let array else { continue }
            if PredictionOutputs.isStacked(target) {
                if suffix == "_logits.npy" { logitsStack += array.scalars } else { probabilityStack += array.scalars }
            } else {
                try NPY.write(array, to: path(target, item.name + suffix))
            }
        }
        written += 1
    }

    /// Writes the stacked arrays and reports what was written on stderr.
    func finish() throws {
        for (target, values) in [(outputs.logits, logitsStack), (outputs.probabilities, probabilityStack)] {
            guard let target, PredictionOutputs.isStacked(target), let shape = stackShape else { continue }
            try NPY.write(try Tensor(shape: [written] + shape, scalars: values), to: target)
            printError("wrote \(target) [\(([written] + shape).map(String.init).joined(separator: ", "))]")
        }
        if let folder = outputs.overlays { printError("wrote \(written) overlay(s) to \(folder)") }
        if let folder = outputs.masks {
            printError(
                "wrote \(written) mask(s) to \(folder) (\(outputs.maskValues == .binary ? "0/255" : "class indices"))")
        }
        for target in [outputs.logits, outputs.probabilities].compactMap({ $0 })
        where !PredictionOutputs.isStacked(target) {
            printError("wrote \(written) array(s) to \(target)")
        }
    }

    private func path(_ folder: String, _ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
}

/// "0.873" for a finite score in [0, 1].
func threeDecimals(_ x: Double) -> String {
    precondition(x.isFinite, "threeDecimals: \(x)")
    let scaled = Int((x * 1000).rounded())
    let fraction = String(scaled % 1000)
    return "\(scaled / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
