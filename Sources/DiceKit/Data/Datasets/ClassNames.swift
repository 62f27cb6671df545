// Class names from an optional classes.json beside the data, for tables and JSON output.
//
// Accepted forms: a JSON array of names in class order, ["background", "polyp"], or an object
// from class index to name, {"0": "background", "1": "polyp"} (indices 0..<K, each once).
// Without a classes.json, the "labels" of a dataset.json (nnU-Net v2: {"background": 0, "liver":
// 1}; the Medical Segmentation Decathlon: {"0": "background", "1": "liver"}) name the classes.

import Foundation

/// Reading `classes.json`.
public enum ClassNames {
    /// The file name looked for.
    public static let fileName = "classes.json"

    /// The classes.json that belongs to a data source: DIR/classes.json for a folder, the
    /// folder of FILE.npy for a file.
    public static func path(for source: String) -> String {
        var isDirectory: ObjCBool = false
        let folder =
            FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) && isDirectory.boolValue
            ? source : (source as NSString).deletingLastPathComponent
        return ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent(fileName)
    }

    /// The class names of the classes.json beside `source`, or nil when there is none.
    ///
    /// - Throws: `DiceKitError.file` naming the file when it is not one of the accepted forms
    ///   (empty, more than 256 names, an empty or repeated name, a gap in the indices).
    public static func load(besides source: String) throws -> [String]? {
        let path = path(for: source)
        guard FileManager.default.fileExists(atPath: path) else {
            let dataset = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
                "dataset.json")
            guard FileManager.default.fileExists(atPath: dataset) else { return nil }
            return try readDatasetJSON(contentsOf: dataset)
        }
        return try read(contentsOf: path)
    }

    /// The class names of a dataset.json's "labels" (nil when it has none), checked as a
    /// classes.json's.
    ///
    /// nil too for nnU-Net regions (a label given as a list of labels: `LabelRegions.readDatasetJSON`).
    ///
    /// - Throws: `DiceKitError.file` naming the file for an
    ///   "ignore" label (give it as the ignore index instead) or the errors of `read(contentsOf:)`.
    public static func readDatasetJSON(contentsOf path: String) throws -> [String]? {
        guard let data = FileManager.default.contents(atPath: path),
            let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw DiceKitError.file(
                path: path, reason: "not a JSON object (expected nnU-Net's or the Decathlon's dataset.json)")
        }
        guard let labels = root["labels"] as? [String: Any] else { return nil }
        // nnU-Net regions name regions, not classes (`LabelRegions.readDatasetJSON(contentsOf:)`).
        if labels.values.contains(where: { $0 is [Any] }) { return nil }
        var byIndex = [String: String]()
        for (key, value) in labels {
            if let name = value as? String {
                byIndex[key] = name
            } else if let index = value as? Int {
                if key == "ignore" {
                    throw DiceKitError.file(
                        path: path,
                        reason: "an \"ignore\" label \(index); give it as the ignore index (--ignore-index \(index))")
                }
                byIndex[String(index)] = key
            } else {
                throw DiceKitError.file(
                    path: path,
                    reason: "label \"\(key)\" is a region (a list of labels); expected one class index per name")
            }
        }
        do {
            return try names(from: byIndex, path: path)
        } catch DiceKitError.file(_, let reason) {
            throw DiceKitError.file(path: path, reason: "labels: " + reason)
        }
    }

    /// The class names in a classes.json file.
    ///
    /// - Throws: as `load(besides:)`.
    public static func read(contentsOf path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiceKitError.file(path: path, reason: "cannot be read")
        }
        return try names(from: try? JSONSerialization.jsonObject(with: data), path: path)
    }

    /// The names in parsed JSON of an accepted form; `path` names the file in errors.
    private static func names(from parsed: Any?, path: String) throws -> [String] {
        let expected = "expected [\"background\", \"polyp\", …] or {\"0\": \"background\", …}"
        var names: [String]
        if let list = parsed as? [Any] {
            guard let strings = list as? [String] else {
                throw DiceKitError.file(path: path, reason: "an entry is not a string; \(expected)")
            }
            names = strings
        } else if let map = parsed as? [String: Any] {
            var byIndex = [Int: String]()
            for (key, value) in map {
                guard let index = Int(key), index >= 0, index < 256, let name = value as? String else {
                    throw DiceKitError.file(
                        path: path, reason: "entry \"\(key)\" is not a class index 0…255 with a name; \(expected)")
                }
                byIndex[index] = name
            }
            guard byIndex.keys.sorted() == Array(0..<byIndex.count) else {
                throw DiceKitError.file(
                    path: path,
                    reason: "class indices \(byIndex.keys.sorted()) have a gap; expected 0..<\(byIndex.count)")
            }
            names = (0..<byIndex.count).map { byIndex[$0]! }
        } else {
            throw DiceKitError.file(path: path, reason: "not valid JSON of the accepted forms; \(expected)")
        }
        guard (1...256).contains(names.count) else {
            throw DiceKitError.file(path: path, reason: "\(names.count) class names; expected 1…256")
        }
        if let empty = names.firstIndex(where: { $0.isEmpty }) {
            throw DiceKitError.file(path: path, reason: "class \(empty) has an empty name")
        }
        if let repeated = names.enumerated().first(where: { names[..<$0.offset].contains($0.element) }) {
            throw DiceKitError.file(path: path, reason: "class name \"\(repeated.element)\" appears twice")
        }
        return names
    }
}
