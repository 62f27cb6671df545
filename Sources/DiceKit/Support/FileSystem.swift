// File-system checks and reads with one-line errors. Foundation's FileManager reports failures
// as `CocoaError`s whose description spans the whole user-info dictionary; the readers and the
// command-line tool go through these functions instead, which name the path and the system's
// reason (strerror) in one line.
//
// `checkWritableDirectory` is what every command that writes files calls before it loads or
// generates any data, so a bad `--out` fails at once rather than after minutes of work.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// File-system helpers whose errors are `DiceKitError.file` with the path and one-line reason.
public enum FileSystem {
    /// Pseudo file systems of the kernel: never a place for output files.
    static let pseudoFileSystems = ["/proc", "/sys", "/dev"]

    /// Creates the directory `path` (and its missing parents) unless it exists, and checks that
    /// files can be created in it.
    ///
    /// The check is real, not a guess from permission bits: a probe file is created and removed,
    /// so read-only mounts, full quotas and access-control lists are caught too.
    ///
    /// - Throws: `DiceKitError.file` naming the path and the reason: a parent or the path itself
    ///   is a regular file, the path lies in /proc, /sys or /dev, a directory cannot be created,
    ///   or the directory is not writable (read-only file system, no permission).
    public static func checkWritableDirectory(_ path: String) throws {
        guard !path.isEmpty else { throw DiceKitError.file(path: "''", reason: "empty path; expected a directory") }
        let absolute = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
        var components: [Substring] = []
        for component in absolute.split(separator: "/") where component != "." {
            if component == ".." { _ = components.popLast() } else { components.append(component) }
        }
        let normalized = "/" + components.joined(separator: "/")
        for root in pseudoFileSystems where normalized == root || normalized.hasPrefix(root + "/") {
            throw DiceKitError.file(
                path: path,
                reason: "lies in the kernel's pseudo file system \(root); expected a directory on a real disk")
        }
        try createDirectory(path)
        let probe = path + "/.dicekit-write-test-\(getpid())"
        unlink(probe) // a leftover of a killed process that had the same id
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DiceKitError.file(path: path, reason: "cannot create files in this directory (\(lastError()))")
        }
        close(fd)
        unlink(probe)
    }

    /// Checks, before any work, that a file can later be written at `path`: its directory exists
    /// (or can be created) and is writable, and `path` itself is not a directory.
    ///
    /// - Throws: `DiceKitError.file` naming the path and the reason.
    public static func checkWritableFile(_ path: String) throws {
        guard !path.isEmpty else { throw DiceKitError.file(path: "''", reason: "empty path; expected a file name") }
        if isDirectory(path) { throw DiceKitError.file(path: path, reason: "is a directory; expected a file name") }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        do {
            try checkWritableDirectory(directory)
        } catch DiceKitError.file(_, let reason) {
            throw DiceKitError.file(path: path, reason: "its folder \(directory) \(reason)")
        }
    }

    /// Creates the directory `path` and its missing parents (like `mkdir -p`).
    ///
    /// - Throws: `DiceKitError.file` naming the first path that is not a directory or cannot be
    ///   created, with the system's reason.
    public static func createDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if isDirectory(prefix) { continue }
            if exists(prefix) { throw DiceKitError.file(path: prefix, reason: "is a file; expected a directory") }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw DiceKitError.file(path: prefix, reason: "cannot create directory (\(lastError()))")
            }
        }
        guard isDirectory(path) else { throw DiceKitError.file(path: path, reason: "cannot create directory") }
    }

    /// The bytes of the regular file at `path`.
    ///
    /// - Parameter limit: the largest size accepted (default 16 GiB): more is an error, not an
    ///   attempt to allocate it.
    /// - Throws: `DiceKitError.file` when the path does not exist, is a directory or a device,
    ///   cannot be opened or read, or is larger than `limit`.
    public static func readFile(_ path: String, limit: Int = 16 << 30) throws -> [UInt8] {
        try readStart(of: path, limit: limit) { $0 }.bytes
    }

    /// The first `count` bytes of the regular file at `path` (all of it when it is shorter), and
    /// the file's size: a header read without reading what follows it.
    ///
    /// - Throws: `DiceKitError.file` when the path does not exist, is a directory or a device,
    ///   or cannot be opened or read.
    public static func readPrefix(_ path: String, count: Int) throws -> (bytes: [UInt8], fileSize: Int) {
        try readStart(of: path, limit: .max) { min($0, max(count, 0)) }
    }

    /// Reads `wanted(size)` bytes from the start of the regular file at `path`.
    private static func readStart(of path: String, limit: Int, wanted: (Int) -> Int) throws -> (
        bytes: [UInt8], fileSize: Int
    ) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw DiceKitError.file(
                path: path, reason: errno == ENOENT ? "no such file" : "cannot be read (\(lastError()))")
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw DiceKitError.file(path: path, reason: "is a directory; expected a file") }
        guard type == S_IFREG else { throw DiceKitError.file(path: path, reason: "is not a regular file") }
        let size = Int(info.st_size)
        guard size <= limit else {
            throw DiceKitError.file(path: path, reason: "is \(size) bytes; the limit is \(limit)")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DiceKitError.file(path: path, reason: "cannot be opened (\(lastError()))") }
        defer { close(fd) }
        let count = wanted(size)
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, count - offset) }
            if got < 0 {
                if errno == EINTR { continue }
                throw DiceKitError.file(path: path, reason: "read failed (\(lastError()))")
            }
            if got == 0 { break } // the file shrank while being read
            offset += got
        }
        return (offset == count ? bytes : Array(bytes[..<offset]), size)
    }

    /// Whether `path` names an existing directory (following symbolic links).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// Whether anything exists at `path` (following symbolic links).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    static func currentDirectory() -> String {
        guard let cwd = getcwd(nil, 0) else { return "." }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
