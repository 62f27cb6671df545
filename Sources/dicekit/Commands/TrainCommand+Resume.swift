// `dicekit train --resume`: the same command plus `--resume DIR/last.safetensors` continues the
// run. The settings that cannot change mid-run (data, validation data, sizes, image size,
// resizing, target spacing, mask encoding, ignore index, classes, validation share or fold,
// augmentation, patches, loss and its options (TrainCommand+LossOptions.swift), deep supervision,
// weight average, batch size, seed, optimiser, architecture) are stored in the checkpoint; an
// omitted one takes the checkpoint's value (not the default), a given one must equal it.

import DiceKit
import Foundation

extension TrainCommand {
    /// Value options and flags whose canonical values `recordedOptions` stores; the others
    /// (--epochs, --lr, --schedule, --clip, --weight-decay, --momentum, --threads, --out,
    /// --on-nonfinite) may change on resume.
    static let fixedOptions =
        [
            "data", "count", "size", "classes", "val-fraction", "folds", "fold", "no-augment", "loss", "batch-size",
            "seed", "optimizer", "base", "depth", "norm", "activation", "val-data", "image-size", "resize",
            "mask-encoding", "intensity", "target-spacing", "ignore-index", "augment", "deep-supervision",
            "deep-supervision-levels",
            "patch-size", "patches-per-case", "foreground-oversampling", "regions", "region-order", "ema",
            "ema-warmup", "ema-bn", "swa", "swa-lr", "swa-anneal-epochs", "swa-anneal", "swa-bn",
        ] + lossValueOptions.union(lossFlags).sorted()

    /// The checkpoint named by `--resume`, read and checked before any data is read.
    ///
    /// - Throws: `DiceKitError` for a model-only or malformed checkpoint (exit 1).
    static func resumeCheckpoint(_ arguments: ParsedArguments) throws -> (path: String, checkpoint: TrainingCheckpoint)?
    {
        guard let path = arguments.string("resume") else { return nil }
        return (path, try TrainingCheckpoint.read(contentsOf: path))
    }

    /// `arguments` with every fixed option it leaves out taken from `stored` (the checkpoint's
    /// record), so an omitted `--size` means the checkpoint's size, not the default.
    static func filling(_ arguments: ParsedArguments, from stored: [String: String]) -> ParsedArguments {
        var filled = arguments
        for (name, value) in stored where fixedOptions.contains(name) {
            if spec.flags.contains(name) {
                if value == "true" { filled.flags.insert(name) }
            } else if filled.values[name] == nil {
                filled.values[name] = value
            }
        }
        return filled
    }

    /// Refuses a fixed option whose value differs from the checkpoint's, naming the option, the
    /// checkpoint's value and the given one.
    ///
    /// - Throws: `UsageError` (exit 2).
    static func checkUnchanged(_ recorded: [String: String], against stored: [String: String], checkpoint: String)
        throws
    {
        for name in fixedOptions where recorded[name] != stored[name] {
            let given = recorded[name] ?? "(not given)"
            let saved = stored[name] ?? "(not given)"
            throw UsageError(
                message:
                    "--\(name) \(given) differs from the value the run was started with (\(saved), stored in \(checkpoint)); "
                    + "it cannot change on resume: omit it or give \(saved)")
        }
    }

    /// A path as stored in the record: absolute and standardised, so `data` and `./data` compare equal.
    static func canonicalPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// Copies `best.safetensors` from the checkpoint's folder into `output` when resuming into
    /// another folder that has none, so the best epoch of the history stays beside the log.
    static func carryBestCheckpoint(from checkpoint: String, to output: String) throws {
        let source = (checkpoint as NSString).deletingLastPathComponent
        let from = ((source.isEmpty ? "." : source) as NSString).appendingPathComponent("best.safetensors")
        let to = (output as NSString).appendingPathComponent("best.safetensors")
        guard canonicalPath(from) != canonicalPath(to), !FileManager.default.fileExists(atPath: to),
            let bytes = FileManager.default.contents(atPath: from)
        else { return }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try AtomicFile.write([UInt8](bytes), to: to)
    }
}
