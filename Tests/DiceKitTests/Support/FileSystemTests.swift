// File-system failures are one-line `DiceKitError.file`s naming the path and the reason. The
// tests that must fail even as root (CI runs as root, where permission bits do not block
// writes) use a file in the way or a path under /proc.

import XCTest

@testable import DiceKit

#if canImport(Glibc)
    import Glibc
#endif

final class FileSystemTests: XCTestCase {
    private func assertFileError<R>(
        _ body: @autoclosure () throws -> R, path: String, mentioning fragment: String, line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), line: line) { error in
            guard case DiceKitError.file(let reported, let reason) = error else {
                return XCTFail("\(error)", line: line)
            }
            XCTAssertEqual(reported, path, line: line)
            XCTAssertTrue(reason.contains(fragment), reason, line: line)
            XCTAssertFalse("\(error)".contains("\n"), line: line)
        }
    }

    func testDirectoryThatIsAFileOrLiesBelowOne() throws {
        let root = try temporaryDirectory(self).path
        let file = root + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        assertFileError(try FileSystem.checkWritableDirectory(file), path: file, mentioning: "is a file")
        assertFileError(try FileSystem.checkWritableDirectory(file + "/sub/dir"), path: file, mentioning: "is a file")
        assertFileError(
            try FileSystem.checkWritableFile(file + "/x.npy"), path: file + "/x.npy", mentioning: "is a file")
    }

    func testPseudoFileSystemsAreRefused() {
        for path in ["/proc/dicekit-out", "/sys/x/y", "/proc", "/tmp/../proc/self/x", "/dev/shm-not"] {
            assertFileError(try FileSystem.checkWritableDirectory(path), path: path, mentioning: "pseudo file system")
        }
        assertFileError(
            try FileSystem.checkWritableFile("/proc/logits.npy"), path: "/proc/logits.npy",
            mentioning: "pseudo file system")
    }

    func testDirectoryAsAFileName() throws {
        let root = try temporaryDirectory(self).path
        assertFileError(try FileSystem.checkWritableFile(root), path: root, mentioning: "is a directory")
    }

    func testWritableDirectoryIsCreatedAndLeftClean() throws {
        let root = try temporaryDirectory(self).path
        let nested = root + "/a/b/c"
        try FileSystem.checkWritableDirectory(nested)
        XCTAssertTrue(FileSystem.isDirectory(nested))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: nested), [])
        try FileSystem.checkWritableFile(root + "/d/out.npy")
        XCTAssertTrue(FileSystem.isDirectory(root + "/d"))
    }

    func testReadOnlyDirectory() throws {
        guard geteuid() != 0 else {
            throw XCTSkip("root ignores permission bits; /proc and file-in-the-way cases cover root")
        }
        let root = try temporaryDirectory(self).path
        chmod(root, 0o555)
        defer { chmod(root, 0o755) }
        assertFileError(try FileSystem.checkWritableDirectory(root), path: root, mentioning: "Permission denied")
    }

    func testReadFileErrors() throws {
        let root = try temporaryDirectory(self).path
        assertFileError(try FileSystem.readFile(root + "/missing"), path: root + "/missing", mentioning: "no such file")
        assertFileError(try FileSystem.readFile(root), path: root, mentioning: "is a directory")
        assertFileError(try FileSystem.readFile("/dev/zero"), path: "/dev/zero", mentioning: "not a regular file")
        let file = root + "/f"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(try FileSystem.readFile(file), [1, 2, 3])
        assertFileError(try FileSystem.readFile(file, limit: 2), path: file, mentioning: "limit is 2")
    }
}
