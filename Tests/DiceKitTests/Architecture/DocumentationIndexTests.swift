// The documentation's indexes stay true to the pages they index: Docs/Benchmarks.md lists every
// page of Docs/Benchmarks/ and every section and sitting on it, in the page's order, and every
// relative link in README.md and Docs/ names a file that exists.

import Foundation
import XCTest

final class DocumentationIndexTests: XCTestCase {
    /// The package root, found from this file's path (Tests/DiceKitTests/Architecture/…).
    private let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The `##` and `###` headings of a Markdown text outside its fenced code blocks.
    private func headings(_ text: String) -> [String] {
        var inFence = false
        var found: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inFence.toggle()
            } else if !inFence, line.hasPrefix("## ") || line.hasPrefix("### ") {
                found.append(line.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces))
            }
        }
        return found
    }

    func testTheBenchmarkIndexListsEverySittingOfEveryCPUPage() throws {
        let docs = packageRoot.appendingPathComponent("Docs")
        let index = try String(contentsOf: docs.appendingPathComponent("Benchmarks.md"), encoding: .utf8)
        let indexLines = index.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let pages = try FileManager.default.contentsOfDirectory(atPath: docs.appendingPathComponent("Benchmarks").path)
            .filter { $0.hasSuffix(".md") }.sorted()
        XCTAssertFalse(pages.isEmpty, "no pages in Docs/Benchmarks/")
        for page in pages {
            let link = "](Benchmarks/\(page))"
            guard let start = indexLines.firstIndex(where: { $0.hasPrefix("- [") && $0.contains(link) }) else {
                XCTFail("Docs/Benchmarks.md does not link Benchmarks/\(page)")
                continue
            }
            // The page's entries: the lines after its link, up to the next page's link or the
            // list's end.
            let entries = indexLines[(start + 1)...]
                .prefix { !$0.isEmpty && !($0.hasPrefix("- [") && $0.contains("](Benchmarks/")) }
                .map { String($0.dropFirst(2)) }
            let text = try String(
                contentsOf: docs.appendingPathComponent("Benchmarks").appendingPathComponent(page), encoding: .utf8)
            XCTAssertEqual(entries, headings(text), "the index's entries for Benchmarks/\(page)")
        }
    }

    func testEveryRelativeLinkNamesAFileThatExists() throws {
        let fileManager = FileManager.default
        let docs = packageRoot.appendingPathComponent("Docs")
        var files = [packageRoot.appendingPathComponent("README.md")]
        let enumerator = try XCTUnwrap(fileManager.enumerator(at: docs, includingPropertiesForKeys: nil))
        for case let url as URL in enumerator where url.pathExtension == "md" { files.append(url) }
        let link = try NSRegularExpression(pattern: #"\]\(([^)#\s]+)(#[^)]*)?\)"#)
        var broken: [String] = []
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let range = NSRange(text.startIndex..., in: text)
            for match in link.matches(in: text, range: range) {
                guard let target = Range(match.range(at: 1), in: text).map({ String(text[$0]) }),
                    !target.hasPrefix("http://"), !target.hasPrefix("https://")
                else { continue }
                let resolved = file.deletingLastPathComponent().appendingPathComponent(target).standardized
                if !fileManager.fileExists(atPath: resolved.path) {
                    broken.append("\(file.lastPathComponent): \(target)")
                }
            }
        }
        XCTAssertEqual(broken, [], "relative links to files that do not exist")
    }
}
