// One entry point for every data source a user can name on the command line.

import Foundation

extension SegmentationDataset {
    /// Loads the data set a user names: `path` is
    /// - a directory holding images.npy (with masks.npy or labels.npy) → `loadNPY(directory:)`;
    /// - a directory holding images/ (and masks/) → `loadPNGFolder(_:masks:classes:)`;
    /// - a file FILE.npy (with FILE_masks.npy) → `loadNPY(file:)`.
    /// (The synthetic set has no path: call `syntheticPolyps(count:seed:configuration:)`.)
    ///
    /// - Parameters:
    ///   - masks: how PNG masks become classes (default `.binary`); ignored for .npy sources.
    ///   - classes: K; nil takes max(label) + 1 (at least 2).
    /// - Throws: `DiceKitError.file` when `path` matches no layout; otherwise as the loader.
    public static func load(from path: String, masks: MaskEncoding = .binary, classes: Int? = nil) throws -> SegmentationDataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DiceKitError.file(path: path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue {
            guard path.hasSuffix(".npy") else {
                throw DiceKitError.file(path: path, reason: "expected a .npy file (with FILE_masks.npy) or a directory")
            }
            return try loadNPY(file: path, classes: classes)
        }
        let base = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: base.appendingPathComponent("images.npy").path) {
            return try loadNPY(directory: path, classes: classes)
        }
        var sub: ObjCBool = false
        if FileManager.default.fileExists(atPath: base.appendingPathComponent("images").path, isDirectory: &sub), sub.boolValue {
            return try loadPNGFolder(path, masks: masks, classes: classes)
        }
        throw DiceKitError.file(path: path, reason: "expected images.npy + masks.npy, or images/ + masks/ with PNG files")
    }
}
