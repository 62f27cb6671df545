// Atomic file replacement: write a temporary file in the destination's directory, flush it to
// disk, then rename(2) it over the destination. rename within one file system is atomic, so a
// reader (or a crash) sees either the complete old file or the complete new one, never a mix.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole files so that an interrupted write never destroys the previous version.
public enum AtomicFile {
    /// Replaces the file at `path` with `bytes`, atomically.
    ///
    /// The bytes go to a temporary file `.<name>.tmp-<pid>-<random>` in the same directory, which is
    /// flushed (`fsync`) and renamed over `path`. If anything fails, the temporary file is removed
    /// and the previous file at `path` (if any) is left untouched.
    ///
    /// - Throws: `DiceKitError.file` naming the path and the system error.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(bytes, to: path, failAfterBytes: nil)
    }

    /// Test hook: as `write(_:to:)`, but fails with an injected error once `failAfterBytes` bytes
    /// have reached the temporary file, to simulate a crash or a full disk mid-write.
    static func write(_ bytes: [UInt8], to path: String, failAfterBytes: Int?) throws {
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, "cannot create a temporary file (\(lastError()))") }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do {
            try bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    var chunk = Swift.min(1 << 20, raw.count - offset)
                    if let limit = failAfterBytes {
                        if offset >= limit { throw failure(path, "injected failure after \(limit) bytes") }
                        chunk = Swift.min(chunk, limit - offset)
                    }
                    let written = posixWrite(fd, raw.baseAddress! + offset, chunk)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw failure(path, "write failed (\(lastError()))")
                    }
                    offset += written
                }
                if let limit = failAfterBytes, limit <= raw.count {
                    throw failure(path, "injected failure after \(limit) bytes")
                }
            }
            guard fsync(fd) == 0 else { throw failure(path, "fsync failed (\(lastError()))") }
            closed = true
            guard close(fd) == 0 else { throw failure(path, "close failed (\(lastError()))") }
            guard rename(temporary, path) == 0 else { throw failure(path, "rename failed (\(lastError()))") }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    private static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(directory).\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }

    private static func failure(_ path: String, _ reason: String) -> DiceKitError {
        .file(path: path, reason: reason)
    }
}

/// write(2), named apart from `AtomicFile.write`.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
