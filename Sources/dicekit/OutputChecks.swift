// Checks every output location of a command before it loads or generates any data, and turns
// any error that reaches the top level into one line.
//
// Each command that writes files calls `checkOutputs` first thing in its `run`, so a bad
// `--out` (a file, a folder inside /proc or /sys, a read-only mount, no permission) fails at
// once with the path and the reason, not after minutes of work. `oneLine(_:)` is the fallback
// of the dispatcher: no multi-line `Error Domain=NSCocoaErrorDomain … UserInfo={…}` text from
// Foundation ever reaches the user.

import DiceKit
import Foundation

/// Checks, before any work, that every directory in `directories` exists or can be created and
/// is writable, and that every file in `files` can be written (nil entries, absent options, are
/// skipped).
///
/// - Throws: `DiceKitError.file` naming the path and the reason.
func checkOutputs(directories: [String?] = [], files: [String?] = []) throws {
    for directory in directories.compactMap({ $0 }) { try FileSystem.checkWritableDirectory(directory) }
    for file in files.compactMap({ $0 }) { try FileSystem.checkWritableFile(file) }
}

/// One line describing `error`: DiceKit's own errors as they are; Foundation's file errors as
/// "PATH: reason"; anything else cut to its first line.
func oneLine(_ error: Error) -> String {
    if error is DiceKitError || error is NPYError || error is SafetensorsError || error is PNGError {
        return flattened(String(describing: error))
    }
    let ns = error as NSError
    if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain {
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        var reason = cocoaReason(ns)
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            reason += " (\(String(cString: strerror(Int32(underlying.code)))))"
        } else if ns.domain == NSPOSIXErrorDomain {
            reason = String(cString: strerror(Int32(ns.code)))
        }
        return flattened(path.map { "\($0): \(reason)" } ?? reason)
    }
    return flattened(String(describing: error))
}

/// The text of `error` for the known Foundation file error codes.
private func cocoaReason(_ error: NSError) -> String {
    switch error.code {
    case CocoaError.fileNoSuchFile.rawValue, CocoaError.fileReadNoSuchFile.rawValue: return "no such file or directory"
    case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileWriteNoPermission.rawValue: return "permission denied"
    case CocoaError.fileWriteOutOfSpace.rawValue: return "no space left on the device"
    case CocoaError.fileWriteVolumeReadOnly.rawValue: return "read-only file system"
    case CocoaError.fileWriteFileExists.rawValue: return "a file is in the way"
    case CocoaError.fileReadCorruptFile.rawValue: return "the file is corrupt"
    case CocoaError.fileReadTooLarge.rawValue: return "the file is too large"
    case CocoaError.fileWriteInvalidFileName.rawValue, CocoaError.fileReadInvalidFileName.rawValue:
        return "invalid file name"
    default: return "file operation failed (code \(error.code))"
    }
}

/// `text` on one line: line breaks become "; ", and it is never empty.
func flattened(_ text: String) -> String {
    let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
        !$0.isEmpty
    }
    return lines.isEmpty ? "unknown error" : lines.joined(separator: "; ")
}
