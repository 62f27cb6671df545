// `--keep-largest N`, `--min-size S`, `--postprocess-classes LIST`, `--merge-classes` and
// `--connectivity K` (predict, eval): connected-component post-processing of the arg-max
// prediction (`ComponentFilter`; MONAI's KeepLargestConnectedComponent and RemoveSmallObjects);
// or `--postprocess FILE`, the plan `eval --choose-postprocessing` wrote (`PostprocessingPlan`).

import DiceKit

enum PostprocessOption {
    /// The help lines.
    static let help = """
        post-processing of the arg-max prediction (Docs/Inference.md, "Post-processing"):
          --keep-largest N       keep the N largest connected components of each class (of each
                                 region's labels together, with regions), the rest becomes
                                 background (MONAI KeepLargestConnectedComponent)
          --min-size S           drop components of fewer than S pixels/voxels (MONAI
                                 RemoveSmallObjects), before --keep-largest when both are given
          --postprocess-classes LIST   the classes filtered, e.g. 1,3 (default: every class but 0)
          --merge-classes        components of the union of those classes, not of each class
                                 (neither option applies with regions)
          --connectivity K       neighbours along at most K axes: 1 (4-/6-neighbours) to the rank
                                 (8-/26-neighbours, the default)
          --postprocess FILE     the steps of a post-processing file that eval --choose-postprocessing
                                 wrote (instead of the options above)
        """

    /// The value options.
    static let valueOptions: Set<String> = [
        "keep-largest", "min-size", "postprocess-classes", "connectivity", "postprocess",
    ]
    /// The flags.
    static let flags: Set<String> = ["merge-classes"]

    /// The post-processing the options describe: the plan of `--postprocess FILE`, the filter of
    /// `--keep-largest` and `--min-size` (with `regions`, one per region: nnU-Net's region
    /// post-processing), or nil.
    ///
    /// - Throws: `UsageError` for a malformed value or a mix of `--postprocess` and a filter
    ///   option; `DiceKitError.file` for a plan file that cannot be read or does not fit.
    static func parse(
        _ arguments: ParsedArguments, classes: Int, spatialRank: Int, connectivityHasOtherUse: Bool = false,
        regions: LabelRegions? = nil
    ) throws -> (any LabelPostprocessor)? {
        guard let file = arguments.string("postprocess") else {
            guard let regions else {
                return try filter(
                    arguments, classes: classes, spatialRank: spatialRank,
                    connectivityHasOtherUse: connectivityHasOtherUse)
            }
            return try regionFilters(
                arguments, regions: regions, spatialRank: spatialRank, connectivityHasOtherUse: connectivityHasOtherUse)
        }
        let mixed =
            ["keep-largest", "min-size", "postprocess-classes"].first { arguments.string($0) != nil }
            ?? (arguments.flag("merge-classes") ? "merge-classes" : nil)
            ?? (arguments.string("connectivity") != nil && !connectivityHasOtherUse ? "connectivity" : nil)
        if let mixed {
            throw UsageError(
                message:
                    "--postprocess \(file) and --\(mixed): the file holds the whole post-processing; give one of them")
        }
        return try PostprocessingPlan(
            contentsOf: file, classes: regions?.labelClasses ?? classes, spatialRank: spatialRank, regions: regions)
    }

    /// The per-region filters of `--keep-largest` and `--min-size` (`PostprocessingPlan(regions:)`),
    /// or nil without them.
    ///
    /// - Throws: `UsageError` for a malformed value, `--postprocess-classes` or `--merge-classes`
    ///   (a region is the set filtered), or an option without a filter to apply to.
    static func regionFilters(
        _ arguments: ParsedArguments, regions: LabelRegions, spatialRank: Int, connectivityHasOtherUse: Bool
    ) throws -> PostprocessingPlan? {
        if let option = ["postprocess-classes", "merge-classes"].first(where: {
            arguments.string($0) != nil || arguments.flag($0)
        }) {
            throw UsageError(
                message:
                    "--\(option) with regions \(regions.description): each region's labels are filtered together; drop --\(option)"
            )
        }
        guard
            let filter = try filter(
                arguments, classes: regions.labelClasses, spatialRank: spatialRank,
                connectivityHasOtherUse: connectivityHasOtherUse)
        else { return nil }
        return try PostprocessingPlan(
            regions: regions, keepLargest: filter.keepLargest, minimumSize: filter.minimumSize,
            connectivity: filter.connectivity)
    }

    /// The filter the options describe, or nil without `--keep-largest` and `--min-size`.
    ///
    /// - Parameters:
    ///   - classes: the checkpoint's class count (labels 0..<max(2, classes)).
    ///   - spatialRank: 2 for images, 3 for volumes.
    ///   - connectivityHasOtherUse: whether `--connectivity` also serves another option (the lesion
    ///     metrics of `eval`), so that it is not refused without a filter.
    /// - Throws: `UsageError` for a malformed value or an option without a filter to apply to.
    static func filter(
        _ arguments: ParsedArguments, classes: Int, spatialRank: Int, connectivityHasOtherUse: Bool
    ) throws -> ComponentFilter? {
        let keep = try arguments.int("keep-largest")
        let minimum = try arguments.int("min-size")
        if let keep, keep < 1 { throw UsageError(message: "--keep-largest \(keep); expected a count ≥ 1") }
        if let minimum, minimum < 1 {
            throw UsageError(message: "--min-size \(minimum); expected a size ≥ 1 pixel (voxel)")
        }
        let connectivity = try connectivityOption(arguments, spatialRank: spatialRank)
        let labels = max(2, classes)
        let selected = try arguments.string("postprocess-classes").map { text in
            try text.split(separator: ",", omittingEmptySubsequences: false).map { word -> Int in
                guard let c = Int(word.trimmingSpaces()), (1..<labels).contains(c) else {
                    throw UsageError(
                        message:
                            "--postprocess-classes: '\(word)' in '\(text)'; expected classes in 1..<\(labels), comma-separated"
                    )
                }
                return c
            }
        }
        guard keep != nil || minimum != nil else {
            let stray =
                ["postprocess-classes", "merge-classes"].first { arguments.string($0) != nil || arguments.flag($0) }
                ?? (connectivity != nil && !connectivityHasOtherUse ? "connectivity" : nil)
            if let stray { throw UsageError(message: "--\(stray) applies with --keep-largest N or --min-size S") }
            return nil
        }
        do {
            return try ComponentFilter(
                keepLargest: keep, minimumSize: minimum, classes: selected, connectivity: connectivity,
                mergeClasses: arguments.flag("merge-classes"))
        } catch DiceKitError.option(let message) {
            throw UsageError(message: "--postprocess-classes: \(message)")
        }
    }

    /// `--connectivity K`, checked against the spatial rank; nil when not given.
    static func connectivityOption(_ arguments: ParsedArguments, spatialRank: Int) throws -> Int? {
        guard arguments.string("connectivity") != nil else { return nil }
        guard let k = try arguments.int("connectivity"), (1...spatialRank).contains(k) else {
            throw UsageError(
                message:
                    "--connectivity \(arguments.string("connectivity")!); expected 1...\(spatialRank) for a \(spatialRank)-D checkpoint"
            )
        }
        return k
    }
}
