// `eval --choose-postprocessing FILE`: nnU-Net's choice of post-processing on the predictions eval
// scored (`PostprocessingPlan.choose`), written for `--postprocess FILE`.

import DiceKit

extension EvalCommand {
    /// The mean of the foreground classes' values, NaN ones (absent classes) skipped; an
    /// infinite HD95 stays infinite.
    static func foregroundMean(_ perClass: [Double]) -> Double {
        let foreground = perClass.dropFirst().filter { !$0.isNaN }
        return foreground.isEmpty ? .nan : foreground.reduce(0, +) / Double(foreground.count)
    }

    /// Chooses the post-processing on the observed predictions, writes it to `file` and prints
    /// each trial; returns the JSON field for eval's output.
    static func choosePostprocessing(
        _ observed: (predicted: [LabelMap], targets: [LabelMap]), file: String, classes: Int, spatialRank: Int,
        ignoreIndex: Int?, connectivity: Int?
    ) throws -> String {
        let selection = try PostprocessingPlan.choose(
            predicted: observed.predicted, targets: observed.targets, classes: classes, ignoreIndex: ignoreIndex,
            connectivity: connectivity)
        for trial in selection.trials {
            let what =
                trial.filter.mergeClasses
                ? "largest foreground component" : "largest component of class \(trial.filter.classes![0])"
            let (before, after) =
                trial.filter.mergeClasses
                ? (
                    PostprocessingSelection.foregroundMean(trial.before),
                    PostprocessingSelection.foregroundMean(trial.after)
                )
                : (trial.before[trial.filter.classes![0]], trial.after[trial.filter.classes![0]])
            printError(
                "post-processing: keep the \(what): Dice \(fixed(before)) → \(fixed(after)), \(trial.accepted ? "kept" : "not kept")"
            )
        }
        try AtomicFile.write(
            Array(selection.json(classes: classes, spatialRank: spatialRank).prettyEncoded.utf8), to: file)
        printError(
            "wrote \(file): \(selection.plan.steps.count) step(s); foreground Dice (nnU-Net's) \(fixed(PostprocessingSelection.foregroundMean(selection.baseline))) → \(fixed(PostprocessingSelection.foregroundMean(selection.final)))"
        )
        return ", \"postprocessing\": {\"file\": \(jsonString(file)), \"steps\": \(selection.plan.steps.count), "
            + "\"dice_foreground_before\": \(jsonNumber(PostprocessingSelection.foregroundMean(selection.baseline))), "
            + "\"dice_foreground_after\": \(jsonNumber(PostprocessingSelection.foregroundMean(selection.final)))}"
    }
}
