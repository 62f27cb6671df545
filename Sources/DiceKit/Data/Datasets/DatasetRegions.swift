// nnU-Net's region-based data sets: a dataset.json whose "labels" give some names a list of
// labels, with "regions_class_order" (nnU-Net v2's BraTS layout):
//
//   "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": 3},
//   "regions_class_order": [1, 2, 3]
//
// Every name but the background's is a region (a single label is a region of one), in the order
// the file lists them — the order "regions_class_order" pairs with — so the file's text is read
// for that order (JSON objects have none once parsed).

import Foundation

extension LabelRegions {
    /// The regions of the dataset.json beside `source` (DIR/dataset.json; for DIR/imagesTr, DIR's
    /// too), or nil when there is none or it names classes rather than regions.
    ///
    /// - Throws: as `readDatasetJSON(contentsOf:)`.
    public static func load(besides source: String) throws -> LabelRegions? {
        var isDirectory: ObjCBool = false
        let folder =
            FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) && isDirectory.boolValue
            ? source : (source as NSString).deletingLastPathComponent
        let path = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("dataset.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try readDatasetJSON(contentsOf: path)
    }

    /// The regions of a dataset.json (nil when no label is a list of labels).
    ///
    /// - Throws: `DiceKitError.file` naming the file when it is not a JSON object, a region is
    ///   not a label or a list of labels, an "ignore" label is listed (give it as the ignore
    ///   index instead), "regions_class_order" is missing or not one label per
    ///   region, or the regions are refused by `init(regions:order:names:)` (the reason given).
    public static func readDatasetJSON(contentsOf path: String) throws -> LabelRegions? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
            let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw DiceKitError.file(path: path, reason: "not a JSON object (expected nnU-Net's dataset.json)")
        }
        guard let labels = root["labels"] as? [String: Any], labels.values.contains(where: { $0 is [Any] }) else {
            return nil
        }
        // The names in the order the file lists them: by where each quoted name first appears
        // after "labels".
        let start = text.range(of: "\"labels\"")?.upperBound ?? text.startIndex
        let positioned = try labels.keys.map { name -> (String, String.Index) in
            guard let at = text.range(of: jsonString(name), range: start..<text.endIndex)?.lowerBound else {
                throw DiceKitError.file(
                    path: path, reason: "labels: cannot find \"\(name)\" in the text to tell the regions' order")
            }
            return (name, at)
        }
        var names: [String] = []
        var regions: [[Int32]] = []
        for (name, _) in positioned.sorted(by: { $0.1 < $1.1 }) {
            let value = labels[name]!
            let members: [Int32]?
            if let single = value as? Int {
                members = Int32(exactly: single).map { [$0] }
            } else if let list = value as? [Any] {
                let values = list.compactMap { ($0 as? Int).flatMap { Int32(exactly: $0) } }
                members = values.count == list.count ? values : nil
            } else {
                members = nil
            }
            if name == "ignore", let label = members?.first {
                throw DiceKitError.file(
                    path: path,
                    reason: "an \"ignore\" label \(label); give it as the ignore index (--ignore-index \(label))")
            }
            guard let members else {
                throw DiceKitError.file(
                    path: path, reason: "label \"\(name)\" is not a label or a list of labels (nnU-Net regions)")
            }
            if members == [0] { continue } // the background
            names.append(name)
            regions.append(members)
        }
        guard let orderValues = root["regions_class_order"] as? [Any] else {
            throw DiceKitError.file(
                path: path,
                reason:
                    "labels hold regions (lists of labels) but there is no \"regions_class_order\"; expected one label per region, as nnU-Net needs"
            )
        }
        let order = orderValues.compactMap { ($0 as? Int).flatMap { Int32(exactly: $0) } }
        guard order.count == orderValues.count else {
            throw DiceKitError.file(path: path, reason: "\"regions_class_order\" holds a value that is not a label")
        }
        do {
            return try LabelRegions(regions: regions, order: order, names: names)
        } catch let error as DiceKitError {
            throw DiceKitError.file(path: path, reason: "regions: \(error.description)")
        }
    }
}
