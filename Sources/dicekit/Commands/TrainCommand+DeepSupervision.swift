// `dicekit train --deep-supervision same|exp|two|w0,w1,… [--deep-supervision-levels N]`: trains
// with MONAI's DeepSupervisionLoss over the full-resolution output and the lower decoder levels'
// heads (Docs/Training.md, "Deep supervision").

import DiceKit

extension TrainCommand {
    /// Help lines of the deep-supervision options.
    static let deepSupervisionHelp = """
          --deep-supervision same|exp|two|w0,w1,…   deep supervision (nnU-Net's scheme, MONAI's
                                 DeepSupervisionLoss): the loss also on 1×1 heads of the lower decoder
                                 levels against nearest-resampled labels, weights 1 each (same), 1, ½, ¼,
                                 … ≥ 1/16 (exp), 1, ½, ½, … (two) or as given; eval/predict/best use the
                                 full-resolution output only (default: off)
          --deep-supervision-levels N   outputs supervised incl. full resolution, 2…depth (default depth)
        """

    /// Reads the deep-supervision options into `config` and their canonical values into
    /// `recorded` (they cannot change on resume).
    ///
    /// - Throws: `UsageError` (exit 2) for an unknown weighting, bad weights, levels out of
    ///   2…`depth` or levels without --deep-supervision.
    static func parseDeepSupervision(
        _ arguments: ParsedArguments, depth: Int, into config: inout TrainingConfiguration,
        recorded: inout [String: String]
    ) throws {
        guard let name = arguments.string("deep-supervision") else {
            if arguments.string("deep-supervision-levels") != nil {
                throw UsageError(message: "--deep-supervision-levels needs --deep-supervision same|exp|two|w0,w1,…")
            }
            return
        }
        guard depth >= 2 else {
            throw UsageError(
                message:
                    "--deep-supervision with --depth \(depth): a depth-1 U-Net has no lower decoder level; expected --depth ≥ 2"
            )
        }
        let levels = try arguments.int("deep-supervision-levels", default: depth, in: 2...depth)!
        do {
            let weighting = try DeepSupervisionWeighting(name: name)
            _ = try weighting.weights(levels: levels)
            config.deepSupervision = weighting
        } catch let error as DiceKitError { throw UsageError(message: error.description) }
        config.deepSupervisionLevels = levels
        recorded["deep-supervision"] = config.deepSupervision!.name
        recorded["deep-supervision-levels"] = "\(levels)"
    }
}
