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
        try write(bytes, to: path, failAfterBytes: failAfterBytes, stages: nil)
    }

    /// The moments of a write that `write(_:to:stages:)` reports, for crash-safety tests.
    enum Stage: String, Sendable {
        /// Half of the bytes are in the temporary file.
        case halfWritten = "mid-write"
        /// The temporary file is complete and flushed; the rename is next.
        case beforeRename = "before-rename"
        /// The new file is in place.
        case afterRename = "after-rename"
    }

    /// Test hook: as `write(_:to:)`, calling `stages` at each `Stage` (a test kills the process there).
    static func write(_ bytes: [UInt8], to path: String, stages: (Stage) -> Void) throws {
        try withoutActuallyEscaping(stages) { try write(bytes, to: path, failAfterBytes: nil, stages: $0) }
    }

    /// Removes the temporary files `.<name>.tmp-<pid>-<random>` that writes killed before their
    /// rename left in `directory` (those of this process and of processes still running are
    /// kept). Errors are
    /// ignored: a leftover is harmless, only untidy.
    public static func removeLeftovers(in directory: String) {
        guard let dir = opendir(directory) else { return }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            names.append(name)
        }
        closedir(dir)
        for name in names where name.hasPrefix(".") {
            // The last dot-separated part is "tmp-<pid>-<random>" (neither number holds a dot).
            guard let last = name.split(separator: ".", omittingEmptySubsequences: false).last else { continue }
            let parts = last.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "tmp", let pid = Int32(parts[1]), UInt32(parts[2]) != nil else {
                continue
            }
            if pid == getpid() || kill(pid, 0) == 0 || errno == EPERM { continue } // still running
            unlink(directory + "/" + name)
        }
    }

    private static func write(_ bytes: [UInt8], to path: String, failAfterBytes: Int?, stages: ((Stage) -> Void)?)
        throws
    {
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
                let half = stages == nil ? -1 : raw.count / 2
                while offset < raw.count {
                    var chunk = Swift.min(1 << 20, raw.count - offset)
                    if offset < half { chunk = Swift.min(chunk, half - offset) }
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
                    if offset == half { stages?(.halfWritten) }
                }
                if let limit = failAfterBytes, limit <= raw.count {
                    throw failure(path, "injected failure after \(limit) bytes")
                }
            }
            guard fsync(fd) == 0 else { throw failure(path, "fsync failed (\(lastError()))") }
            closed = true
            guard close(fd) == 0 else { throw failure(path, "close failed (\(lastError()))") }
            stages?(.beforeRename)
            guard rename(temporary, path) == 0 else { throw failure(path, "rename failed (\(lastError()))") }
            stages?(.afterRename)
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
