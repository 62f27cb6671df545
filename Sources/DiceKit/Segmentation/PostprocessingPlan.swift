// Post-processing as a list of component filters applied in turn: what nnU-Net's
// `determine_postprocessing` chooses on cross-validation predictions (its postprocessing.pkl),
// and what `dicekit eval --choose-postprocessing` writes and `--postprocess FILE` applies.
//
// File (JSON): {"classes": L, "spatial_rank": r, "steps": [{"keep_largest": 1, "min_size": null,
// "classes": [1, 2], "merge_classes": true, "connectivity": null}, …], …}, and "regions": "1,2,3;2,3;3"
// when chosen on regions (L is then the count of labels they cover); other fields (the scores
// that led to the choice) are kept for the reader and ignored here.

import Foundation

/// Something that cleans up predicted label maps: a `ComponentFilter` or a `PostprocessingPlan`.
public protocol LabelPostprocessor: Sendable {
    /// The processed label maps [N, spatial…] (each sample on its own).
    func apply(to labels: LabelMap) throws -> LabelMap
    /// Processes one sample's labels (row-major, `spatialShape`) in place.
    func applyToSample(_ labels: inout [Int32], spatialShape: [Int]) throws
}

extension ComponentFilter: LabelPostprocessor {}

/// Component filters applied one after the other (an empty plan changes nothing).
///
/// ```
/// let plan = try PostprocessingPlan(contentsOf: "runs/cv/postprocessing.json")
/// let cleaned = try plan.apply(to: predicted)
/// ```
public struct PostprocessingPlan: LabelPostprocessor, Equatable {
    /// The filters, in the order they run.
    public var steps: [ComponentFilter]

    /// A plan of `steps`.
    public init(steps: [ComponentFilter] = []) { self.steps = steps }

    /// nnU-Net's post-processing of a region-based prediction: one filter per region, in region
    /// order, on the union of the region's labels (`mergeClasses`); a dropped component becomes
    /// background.
    ///
    /// - Throws: `DiceKitError.option` as `ComponentFilter.init`.
    public init(regions: LabelRegions, keepLargest: Int? = nil, minimumSize: Int? = nil, connectivity: Int? = nil)
        throws
    {
        steps = try regions.regions.map { region in
            try ComponentFilter(
                keepLargest: keepLargest, minimumSize: minimumSize, classes: region.map(Int.init),
                connectivity: connectivity, mergeClasses: true)
        }
    }

    public func apply(to labels: LabelMap) throws -> LabelMap {
        var labels = labels
        for step in steps { labels = try step.apply(to: labels) }
        return labels
    }

    public func applyToSample(_ labels: inout [Int32], spatialShape: [Int]) throws {
        for step in steps { try step.applyToSample(&labels, spatialShape: spatialShape) }
    }

    /// The largest class a step names (0 for none), to check the plan against a model.
    public var largestClass: Int { steps.flatMap { $0.classes ?? [] }.max() ?? 0 }

    /// The steps as the file's "steps" array.
    public var stepsJSON: JSONValue {
        .array(
            steps.map { step in
                .object([
                    JSONField("keep_largest", step.keepLargest.map { .integer($0) } ?? .null),
                    JSONField("min_size", step.minimumSize.map { .integer($0) } ?? .null),
                    JSONField("classes", step.classes.map { .array($0.map { .integer($0) }) } ?? .null),
                    JSONField("merge_classes", .bool(step.mergeClasses)),
                    JSONField("connectivity", step.connectivity.map { .integer($0) } ?? .null),
                ])
            })
    }

    /// Reads the "steps" of a plan file, and checks it against a model that predicts `classes`
    /// classes (labels) in `spatialRank` dimensions (when given), scored by `regions`: a file
    /// chosen on regions fits only the same regions.
    ///
    /// - Throws: `DiceKitError.file` for an unreadable or malformed file, or one written for
    ///   another class count, rank or regions.
    public init(
        contentsOf path: String, classes: Int? = nil, spatialRank: Int? = nil, regions: LabelRegions? = nil
    ) throws {
        func bad(_ reason: String) -> DiceKitError { .file(path: path, reason: reason) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw bad("cannot read the post-processing file")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let steps = root["steps"] as? [[String: Any]]
        else {
            throw bad("not a post-processing file; expected a JSON object with a \"steps\" array")
        }
        if let classes, let saved = root["classes"] as? Int, saved != max(2, classes) {
            throw bad("chosen for \(saved) labels; the checkpoint predicts \(max(2, classes))")
        }
        if let spatialRank, let saved = root["spatial_rank"] as? Int, saved != spatialRank {
            throw bad("chosen for \(saved)-D predictions; the checkpoint is \(spatialRank)-D")
        }
        if let saved = root["regions"] as? String, saved != regions?.description {
            throw bad(
                "chosen for regions \(saved); the predictions are scored by \(regions.map { "regions \($0.description)" } ?? "classes")"
            )
        }
        self.steps = try steps.enumerated().map { i, step in
            func integer(_ key: String) throws -> Int? {
                guard let value = step[key], !(value is NSNull) else { return nil }
                guard let n = value as? Int else { throw bad("step \(i + 1): \"\(key)\" is not an integer") }
                return n
            }
            let classes: [Int]?
            if let value = step["classes"], !(value is NSNull) {
                guard let list = value as? [Int] else {
                    throw bad("step \(i + 1): \"classes\" is not a list of integers")
                }
                classes = list
            } else {
                classes = nil
            }
            do {
                return try ComponentFilter(
                    keepLargest: try integer("keep_largest"), minimumSize: try integer("min_size"), classes: classes,
                    connectivity: try integer("connectivity"), mergeClasses: step["merge_classes"] as? Bool ?? false)
            } catch DiceKitError.option(let message) {
                throw bad("step \(i + 1): \(message)")
            }
        }
        if let classes, largestClass >= max(2, classes) {
            throw bad("a step filters class \(largestClass); the checkpoint predicts classes 0..<\(max(2, classes))")
        }
    }
}
