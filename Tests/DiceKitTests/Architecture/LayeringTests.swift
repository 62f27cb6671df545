// The folders of Sources/DiceKit depend one way, in the order Docs/Architecture.md states under
// "Dependency order": a file may name the types of its own folder and of the folders listed
// before it, never those of a folder on the same line or after it.
//
// What is checked: every type, protocol and type alias declared at file scope (not private) is
// owned by its folder; every capitalised identifier in a file's code (comments and string
// literals removed) that names another folder's type is an edge. Methods added by an extension
// in a higher folder are not seen; the review of a change still has to keep those out.

import Foundation
import XCTest

final class LayeringTests: XCTestCase {
    /// The package root, found from this file's path (Tests/DiceKitTests/Architecture/…).
    private let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func testFoldersDependOneWayInTheDocumentedOrder() throws {
        let levels = try statedOrder()
        let sources = packageRoot.appendingPathComponent("Sources/DiceKit")
        let files = try swiftFiles(under: sources)
        XCTAssertFalse(files.isEmpty, "no Swift files under \(sources.path)")

        var level: [String: Int] = [:]
        for (index, folders) in levels.enumerated() {
            for folder in folders { level[folder] = index }
        }
        let folders = Set(files.map(\.folder))
        let unlisted = folders.subtracting(level.keys).sorted()
        XCTAssertEqual(unlisted, [], "folders missing from Docs/Architecture.md's dependency order")
        let stale = Set(level.keys).subtracting(folders).sorted()
        XCTAssertEqual(stale, [], "folders in Docs/Architecture.md's dependency order that do not exist")

        var owner: [String: String] = [:]
        for file in files {
            for name in declaredTypes(in: file.text) { owner[name] = owner[name] ?? file.folder }
        }
        var violations: [String] = []
        for file in files {
            guard let from = level[file.folder] else { continue }
            for name in Set(capitalisedIdentifiers(in: code(of: file.text))).sorted() {
                guard let to = owner[name], to != file.folder, let target = level[to] else { continue }
                if target >= from {
                    violations.append("\(file.folder)/\(file.name) uses \(name) from \(to)/")
                }
            }
        }
        XCTAssertEqual(violations, [], "back-edges against Docs/Architecture.md's dependency order")
    }

    /// The check itself finds an edge that goes up, and none in a file that only looks down.
    func testTheCheckSeesAnEdgeAndIgnoresCommentsAndStrings() {
        let text = """
            /// Uses `Trainer` in a comment only.
            struct Probe { let t: Tensor<Float>; let s = "Trainer" } // Trainer
            """
        XCTAssertEqual(Set(capitalisedIdentifiers(in: code(of: text))), ["Probe", "Tensor", "Float"])
        XCTAssertEqual(
            declaredTypes(in: "public struct A {}\nprivate enum B {}\n  struct C {}\nfinal class D {}"),
            ["A", "D"])
    }

    // MARK: - Reading the sources

    private struct SourceFile {
        let folder: String
        let name: String
        let text: String
    }

    private func swiftFiles(under root: URL) throws -> [SourceFile] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
            return []
        }
        var files: [SourceFile] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let relative = url.path.dropFirst(root.path.count + 1)
            guard let slash = relative.firstIndex(of: "/") else { continue }
            files.append(
                SourceFile(
                    folder: String(relative[..<slash]),
                    name: String(relative[relative.index(after: slash)...]),
                    text: try String(contentsOf: url, encoding: .utf8)))
        }
        return files
    }

    /// The levels of the fenced block after "## Dependency order", bottom first; a line lists
    /// the folders of one level, separated by commas.
    private func statedOrder() throws -> [[String]] {
        let doc = try String(contentsOf: packageRoot.appendingPathComponent("Docs/Architecture.md"), encoding: .utf8)
        let lines = doc.components(separatedBy: "\n")
        guard let heading = lines.firstIndex(of: "## Dependency order"),
            let open = lines[heading...].firstIndex(where: { $0.hasPrefix("```") }),
            let close = lines[(open + 1)...].firstIndex(where: { $0.hasPrefix("```") })
        else {
            XCTFail("Docs/Architecture.md has no fenced block under \"## Dependency order\"")
            return []
        }
        return lines[(open + 1)..<close].compactMap { line in
            let folders = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            return folders.isEmpty ? nil : folders
        }
    }
}

/// Names of the non-private types, protocols and type aliases declared at file scope.
private func declaredTypes(in text: String) -> [String] {
    let pattern =
        #"^(?:@\w+(?:\([^)]*\))?\s+)*((?:(?:public|internal|package|open|private|fileprivate|final|indirect|nonisolated)\s+)*)(?:struct|class|enum|protocol|actor|typealias)\s+([A-Za-z_]\w*)"#
    let regex = try! NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
    let range = NSRange(text.startIndex..., in: text)
    return regex.matches(in: text, range: range).compactMap { match in
        let modifiers = Range(match.range(at: 1), in: text).map { String(text[$0]) } ?? ""
        if modifiers.contains("private") { return nil }
        return Range(match.range(at: 2), in: text).map { String(text[$0]) }
    }
}

/// The text with comments and string literals removed (byte-wise: every delimiter is ASCII).
private func code(of text: String) -> String {
    let bytes = Array(text.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    func starts(_ s: String) -> Bool { bytes[i...].starts(with: s.utf8) }
    func skip(past s: String) {
        let pattern = Array(s.utf8)
        while i < bytes.count, !bytes[i...].starts(with: pattern) { i += 1 }
        i = min(bytes.count, i + pattern.count)
    }
    while i < bytes.count {
        if starts("//") {
            while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
        } else if starts("/*") {
            skip(past: "*/")
        } else if starts("\"\"\"") {
            i += 3
            skip(past: "\"\"\"")
        } else if bytes[i] == UInt8(ascii: "\"") {
            // A one-line literal: to the closing quote, stepping over escaped characters.
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\n") {
                i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
            }
            i += 1
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Identifiers that start with a capital letter.
private func capitalisedIdentifiers(in code: String) -> [String] {
    var names: [String] = []
    var current = ""
    for character in code {
        if character.isLetter || character.isNumber || character == "_" {
            current.append(character)
        } else {
            if let first = current.first, first.isUppercase { names.append(current) }
            current = ""
        }
    }
    if let first = current.first, first.isUppercase { names.append(current) }
    return names
}
