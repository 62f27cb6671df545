// `dicekit train --augment LIST` / `--no-augment`: which augmentations run, by name, and how the
// choice is recorded in the checkpoint for resume.

import DiceKit

extension TrainCommand {
    /// The help lines of the augmentation options.
    static let augmentHelp = """
          --augment LIST         augmentations, comma-separated (default flip,rot90,intensity), each
                                 seeded and applied to image and mask alike:
                                   flip        mirror W, H (and D for volumes), each with probability 0.5
                                   rot90       k·90° turns (square images only; others keep their orientation)
                                   intensity   brightness ±0.1, contrast ±10 % (image only)
                                   gamma       gamma in [0.67, 1.5] over the image's range (image only)
                                   scale-crop  a window of 75–100 % of each side, stretched back
                                   affine      rotation ±15°, scale ±10 %, shear ±0.1 (bilinear image,
                                               nearest mask; outside becomes 0 / background)
                                   noise       p 0.15: Gaussian noise of σ in [0, 0.05] (image only)
                                   blur        p 0.2: Gaussian blur of σ in [0.5, 1] pixels (image only)
                                 none is --no-augment
          --no-augment           disable augmentation
        """

    /// The augmentation `--augment` / `--no-augment` choose (default `.standard`).
    ///
    /// - Throws: `UsageError` for an unknown name or both options together.
    static func augmentation(_ arguments: ParsedArguments) throws -> Augmentation {
        guard let text = arguments.string("augment") else { return arguments.flag("no-augment") ? .none : .standard }
        guard !arguments.flag("no-augment") else {
            throw UsageError(message: "--augment and --no-augment exclude each other (--augment none is --no-augment)")
        }
        do { return try Augmentation(names: text) } catch let error as DiceKitError {
            throw UsageError(message: "--augment: \(error.description)")
        }
    }

    /// The record of the choice for resume: "no-augment" ("true" for none) and "augment" (the
    /// names, only when neither none nor the default set, so older checkpoints compare equal).
    static func recordedAugmentation(_ augmentation: Augmentation) -> [String: String] {
        var record = ["no-augment": "\(augmentation == .none)"]
        if augmentation != .none, augmentation != .standard { record["augment"] = augmentation.names }
        return record
    }
}
