// metrics.jsonl: one JSON object per epoch, one per line, flushed as each epoch ends so a
// crashed or interrupted run keeps every finished epoch.

#if canImport(Glibc)
    import Glibc
#endif

/// Appends one JSON line per epoch to a file (`OUT/metrics.jsonl`).
public final class MetricsLog {
    /// The file written to.
    public let path: String
    private let descriptor: Int32

    /// Opens `path` for writing.
    ///
    /// - Parameter append: keep existing lines (when resuming a run); default false truncates.
    /// - Throws: `DiceKitError.file` when the file cannot be opened.
    public init(path: String, append: Bool = false) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
        guard descriptor >= 0 else {
            throw DiceKitError.file(
                path: path, reason: "cannot be opened for writing (\(String(cString: strerror(errno))))")
        }
    }

    deinit { close(descriptor) }

    /// Writes `metrics.json` as one line and flushes it to the file.
    ///
    /// - Throws: `DiceKitError.file` when the write fails.
    public func append(_ metrics: EpochMetrics) throws { try append(line: metrics.json) }

    /// Writes any JSON value as one line.
    ///
    /// - Throws: `DiceKitError.file` when the write fails.
    public func append(line value: JSONValue) throws {
        let bytes = Array((value.encoded + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw DiceKitError.file(path: path, reason: "write failed (\(String(cString: strerror(errno))))")
        }
    }
}

extension MetricsLog {
    /// Replaces the file at `path` with one line per epoch of `epochs`, atomically (a resumed
    /// run rewrites its log from the checkpoint's history, so a kill between the checkpoint and
    /// the log line leaves no epoch missing or repeated).
    ///
    /// - Throws: `DiceKitError.file` when it cannot be written.
    public static func rewrite(_ epochs: [EpochMetrics], to path: String) throws {
        try AtomicFile.write(Array(epochs.map { $0.json.encoded + "\n" }.joined().utf8), to: path)
    }
}
