// `dicekit info FILE…`: the dtype, shape and value range of .npy files, the extents,
// channels, spacing and value range of NIfTI volumes, and what a checkpoint holds
// (InfoCommand+Checkpoint.swift), as JSON lines.

import DiceKit

enum InfoCommand: Command {
    static let spec = CommandSpec(
        name: "info",
        summary:
            "print dtype, shape and value range of .npy files (extents and spacing of NIfTI volumes; what a checkpoint holds)",
        help: """
            usage: dicekit info FILE.npy|FILE.nii[.gz]|FILE.safetensors [FILE ...]

            Prints one JSON object per file: {"file", "dtype", "shape", "min", "max", "finite"} for .npy;
            {"file", "format": "nifti", "shape": [D, H, W, C], "spacing": [dz, dy, dx], "min", "max"} for
            NIfTI (axes as DiceKit reads them: x fastest, so D is the file's z; scaling applied);
            {"file", "format": "safetensors", "tensors", "finite", "checkpoint": "training"|"model"|null,
            "model": {"in", "classes", "base", "depth", "spatial_rank", "normalization", "parameters"},
            "epoch", "loss", "history": {"epochs", "best_epoch", "best_val_dice_foreground", "precisions"}}
            for a checkpoint ("model" null with "model_error" when the tensors are not a U-Net's;
            "history" for training checkpoints only).
            Exits 1 with a one-line message if a file is missing or malformed.
            """,
        positionals: 1...1000
    )

    static func run(_ arguments: ParsedArguments) throws {
        for path in arguments.positionals {
            if isSafetensors(path) {
                printOutput(try checkpointInfo(path).encoded)
                continue
            }
            if NIfTI.isNIfTI(path) {
                let volume = try NIfTI.read(contentsOf: path)
                let list = { (values: [String]) in "[" + values.joined(separator: ", ") + "]" }
                printOutput(
                    "{\"file\": \(jsonString(path)), \"format\": \"nifti\", \"shape\": \(list((volume.extents + [volume.channels]).map(String.init))), "
                        + "\"spacing\": \(list(volume.spacing.map(jsonNumber))), \"min\": \(jsonNumber(Double(volume.values.min() ?? .nan))), "
                        + "\"max\": \(jsonNumber(Double(volume.values.max() ?? .nan)))}")
                continue
            }
            let array = try NPY.read(contentsOf: path)
            let values = array.tensor(of: Double.self)
            let shape = "[" + array.shape.map(String.init).joined(separator: ", ") + "]"
            printOutput(
                "{\"file\": \(jsonString(path)), \"dtype\": \"\(array.dtype.rawValue)\", \"shape\": \(shape), "
                    + "\"min\": \(jsonNumber(values.min() ?? .nan)), \"max\": \(jsonNumber(values.max() ?? .nan)), "
                    + "\"finite\": \(values.isFinite)}")
        }
    }
}
