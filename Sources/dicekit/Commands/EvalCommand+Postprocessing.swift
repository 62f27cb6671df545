// `eval --choose-postprocessing FILE [--search-min-size]`: nnU-Net's choice of post-processing on
// the predictions eval scored (`PostprocessingPlan.choose`; with a minimum component size searched
// per class after it), written for `--postprocess FILE`.

import DiceKit

extension EvalCommand {
    /// The mean of the foreground classes' values, NaN ones (absent classes) skipped; an
    /// infinite HD95 stays infinite.
    static func foregroundMean(_ perClass: [Double]) -> Double {
        let foreground = perClass.dropFirst().filter { !$0.isNaN }
        return foreground.isEmpty ? .nan : foreground.reduce(0, +) / Double(foreground.count)
    }

    /// Chooses the post-processing on the observed predictions (of a model with `classes`
    /// classes, scored by `regions` when given), writes it to `file` and prints each trial with
    /// the scored columns' `names`; returns the JSON field for eval's output.
    static func choosePostprocessing(
        _ observed: (predicted: [LabelMap], targets: [LabelMap]), file: String, classes: Int, spatialRank: Int,
        ignoreIndex: Int?, connectivity: Int?, regions: LabelRegions?, names: [String], minimumSizeSearch: Bool
    ) throws -> String {
        let selection = try PostprocessingPlan.choose(
            predicted: observed.predicted, targets: observed.targets, classes: classes, ignoreIndex: ignoreIndex,
            connectivity: connectivity, regions: regions, minimumSizeSearch: minimumSizeSearch)
        for trial in selection.trials {
            let owner = trial.column.map { "\(regions == nil ? "class" : "region") \(names[$0])" }
            let what =
                trial.filter.minimumSize.map { "components of \(owner ?? "the foreground") of \($0)+ positions" }
                ?? owner.map { "largest component of \($0)" } ?? "largest foreground component"
            let (before, after) =
                trial.column.map { (trial.before[$0], trial.after[$0]) } ?? (
                    PostprocessingSelection.foregroundMean(trial.before),
                    PostprocessingSelection.foregroundMean(trial.after)
                )
            printError(
                "post-processing: keep the \(what): Dice \(fixed(before)) → \(fixed(after)), \(trial.accepted ? "kept" : "not kept")"
            )
        }
        try AtomicFile.write(
            Array(selection.json(classes: classes, spatialRank: spatialRank, regions: regions).prettyEncoded.utf8),
            to: file)
        printError(
            "wrote \(file): \(selection.plan.steps.count) step(s); foreground Dice (nnU-Net's) \(fixed(PostprocessingSelection.foregroundMean(selection.baseline))) → \(fixed(PostprocessingSelection.foregroundMean(selection.final)))"
        )
        return ", \"postprocessing\": {\"file\": \(jsonString(file)), \"steps\": \(selection.plan.steps.count), "
            + "\"dice_foreground_before\": \(jsonNumber(PostprocessingSelection.foregroundMean(selection.baseline))), "
            + "\"dice_foreground_after\": \(jsonNumber(PostprocessingSelection.foregroundMean(selection.final)))}"
    }
}
