// Notices, within a fraction of a second, a rank of the job that has ended on this machine
// (killed by a signal, the out-of-memory killer, an exit) or failed with an error, so that the
// job stops with one line from the lowest surviving rank (rank 0 unless it is the one that
// ended) naming the rank, the cause and where training was, instead of hanging in a collective
// or leaving only mpirun's report. Open MPI itself gives a survivor no error on the shared-memory
// transport: it kills the survivors (SIGTERM, then SIGKILL a second later) and prints its own
// block on stderr (`mpirun -q` silences it).
//
// How: at start the ranks all-gather (machine, pid), the machine being the host name, the boot
// id and the pid namespace (so that containers sharing a host name are told apart). A background thread polls every 100 ms the
// processes of the other ranks on the same host (/proc/PID/stat: gone, or a zombie whose exit
// status says how it ended) and a per-host folder where a failing rank leaves its error
// (`rank-R`). The thread never calls MPI (MPI_THREAD_FUNNELED): the reporting rank writes its
// line and ends with _exit(1), upon which mpirun ends the others. A `reported` marker keeps the
// other survivors silent. Ranks on other machines are not watched; mpirun ends the job for them.

import DiceKit
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Watches the other ranks on this host for an unexpected end; see the file header.
final class RankWatcher: Sendable {
    /// The ranks on this host (ascending, this one included) and their process ids.
    private let local: [(rank: Int, pid: Int32)]
    private let rank: Int
    private let size: Int
    /// Where the ranks on this host leave failure notes (named after the lowest rank's pid).
    let folder: String
    private let stopped = Atomic<Bool>(false)
    private let progress = Mutex("before the first training step")

    /// Watches the ranks of `hosts`/`pids` (indexed by rank) that share this rank's host.
    init(rank: Int, hosts: [UInt64], pids: [Int32]) {
        self.rank = rank
        size = pids.count
        local = pids.indices.filter { hosts[$0] == hosts[rank] }.map { ($0, pids[$0]) }
        folder =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "dicekit-ranks-\(local[0].pid)"
            ).path
    }

    /// What identifies the process ids this process can see: the kernel's boot id (one per
    /// machine and boot) and the pid namespace (containers on one machine have their own), with
    /// the host name; two ranks with equal values can look at each other's /proc entries.
    static var processSpace: String {
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        var link = [CChar](repeating: 0, count: 256)
        let length = readlink("/proc/self/ns/pid", &link, link.count - 1)
        let namespace =
            length > 0 ? String(decoding: link[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host) \(boot.trimmingCharacters(in: .whitespacesAndNewlines)) \(namespace)"
    }

    /// Where training is, for the report ("epoch 3, step 1; last good checkpoint …").
    func note(_ text: String) { progress.withLock { $0 = text } }

    /// Where training is, as last noted.
    var currentProgress: String { progress.withLock { $0 } }

    /// Starts the polling thread (after removing the folders that jobs ended by a fault left).
    func start() {
        guard local.count > 1 else { return }
        if isReporter { removeStaleFolders() }
        let thread = Thread { [self] in
            while !stopped.load(ordering: .acquiring) {
                if let (ended, cause) = endedRank() {
                    report(ended, cause)
                    return
                }
                usleep(100_000)
            }
        }
        thread.name = "dicekit-rank-watcher"
        thread.start()
    }

    /// Stops watching (before MPI_Finalize, after which the ranks leave at different times).
    func stop() { stopped.store(true, ordering: .releasing) }

    /// Whether this rank is the one to report for the host: no lower rank here is still running.
    var isReporter: Bool { local.first?.rank == rank }

    /// Leaves `reason` for the reporting rank; false when it could not be written.
    func leaveNote(_ reason: String) -> Bool {
        let path = "\(folder)/rank-\(rank)"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(reason.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            return true
        } catch {
            return false
        }
    }

    /// Marks the job's fault as reported (true if no other rank had done so).
    func claimReport() -> Bool {
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return open("\(folder)/reported", O_CREAT | O_EXCL | O_WRONLY, 0o644) >= 0
    }

    /// Removes the notes folder (by the host's lowest rank at the end of a run).
    func removeFolder() {
        if isReporter { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// Removes `dicekit-ranks-PID` folders whose process no longer runs (the reporting rank of a
    /// fault ends without removing its folder, so that the other survivors stay silent).
    private func removeStaleFolders() {
        let temporary = FileManager.default.temporaryDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        for name in names where name.hasPrefix("dicekit-ranks-") {
            guard let pid = Int32(name.dropFirst("dicekit-ranks-".count)), Self.ending(of: pid) != nil else { continue }
            try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
        }
    }

    /// The first other rank on this host that failed (its note) or whose process ended, and how.
    private func endedRank() -> (Int, String)? {
        for (other, pid) in local where other != rank {
            if let note = try? String(contentsOfFile: "\(folder)/rank-\(other)", encoding: .utf8) {
                return (other, "failed: \(note)")
            }
            if let cause = Self.ending(of: pid) { return (other, "stopped (\(cause))") }
        }
        return nil
    }

    /// Prints the one line if this is the lowest rank still running here, then ends the rank.
    private func report(_ ended: Int, _ cause: String) {
        let reporter = local.first { $0.rank == rank || ($0.rank != ended && Self.ending(of: $0.pid) == nil) }
        guard reporter?.rank == rank, claimReport() else { return } // another rank reports; mpirun ends this one
        FileHandle.standardError.write(
            Data("dicekit: rank \(ended) of \(size) \(cause) at \(currentProgress); stopping all ranks\n".utf8))
        _exit(1)
    }

    /// How process `pid` ended, or nil while it runs: a zombie's exit status from /proc (field
    /// 52 of /proc/PID/stat), or a general description once its parent has collected it.
    static func ending(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
            guard kill(pid, 0) != 0, errno == ESRCH else { return nil }
            return "its process ended unexpectedly: killed (SIGKILL, the out-of-memory killer) or exited"
        }
        // pid (comm) state ...: the fields after the last ')' start with the state.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.first == "Z" else { return nil }
        // Field 52 overall is the 50th after the command name.
        guard fields.count >= 50, let status = Int32(fields[49].trimmingCharacters(in: .whitespacesAndNewlines))
        else { return "its process ended" }
        let signal = status & 0x7F
        if signal != 0 { return "killed by signal \(signal) (\(String(cString: strsignal(signal))))" }
        return "exited with status \((status >> 8) & 0xFF) before the end of training"
    }
}
