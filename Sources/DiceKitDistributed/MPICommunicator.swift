// DiceKit's `Communicator` over Open MPI (Debian libopenmpi-dev, pkg-config ompi-c). The
// predefined handles come from the C shim (CMPIShim), since Open MPI defines them as macros over
// globals. Errors are returned, not fatal (MPI_ERRORS_RETURN), and become `DiceKitError`s; a
// rank that fails calls `abort(reason:)` so that the job stops at once instead of hanging, and a
// `RankWatcher` notices ranks on the same machine that end or fail, so that the lowest surviving
// rank reports them in one line.
// Threading: MPI_THREAD_FUNNELED, all calls from the thread that initialised MPI (the training
// loop's); the compute threads (OpenBLAS, the worker pool) never call MPI.

internal import CMPI
internal import CMPIShim
import DiceKit
import Foundation

/// The ranks of an `mpirun` job (MPI_COMM_WORLD) as a DiceKit `Communicator`.
///
/// ```
/// let world = try MPICommunicator()
/// trainer.communicator = world
/// defer { world.finish() }
/// ```
public final class MPICommunicator: Communicator {
    /// This process's rank in MPI_COMM_WORLD.
    public let rank: Int
    /// The number of processes in MPI_COMM_WORLD.
    public let size: Int
    private var finished = false
    private var watcher: RankWatcher?

    /// Whether this process was started by `mpirun` (or another launcher that sets the Open MPI
    /// or PMI environment), i.e. whether `init()` will find other ranks.
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMI_SIZE"] != nil
            || environment["PMIX_RANK"] != nil
    }

    /// Initialises MPI (once per process) and joins MPI_COMM_WORLD.
    ///
    /// - Throws: `DiceKitError.value` when MPI cannot be initialised or gives no thread support.
    public init() throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let code = MPI_Init_thread(nil, nil, dicekit_mpi_thread_funneled(), &provided)
            guard code == dicekit_mpi_success() else {
                throw DiceKitError.value(
                    "MPI_Init_thread failed with code \(code); expected an MPI job started by mpirun")
            }
            guard provided >= dicekit_mpi_thread_funneled() else {
                throw DiceKitError.value("MPI provides thread level \(provided); expected at least MPI_THREAD_FUNNELED")
            }
        }
        MPI_Comm_set_errhandler(dicekit_mpi_comm_world(), dicekit_mpi_errors_return())
        var r: Int32 = 0
        var s: Int32 = 0
        MPI_Comm_rank(dicekit_mpi_comm_world(), &r)
        MPI_Comm_size(dicekit_mpi_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
        if size > 1 { try startWatching() }
    }

    /// All-gathers every rank's host and process id and starts the `RankWatcher`.
    private func startWatching() throws {
        let host = Self.fingerprint(RankWatcher.processSpace)
        let all = try allGather([Double(host >> 32), Double(host & 0xFFFF_FFFF), Double(getpid())])
        let watcher = RankWatcher(
            rank: rank, hosts: all.map { UInt64($0[0]) << 32 | UInt64($0[1]) }, pids: all.map { Int32($0[2]) })
        watcher.start()
        self.watcher = watcher
    }

    /// FNV-1a, 64 bits.
    private static func fingerprint(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// Records where training is ("epoch 3, step 1; last good checkpoint …"), for the line that
    /// reports a rank that ends or fails.
    public func noteProgress(_ description: String) { watcher?.note(description) }

    /// Leaves MPI (MPI_Finalize, a collective: every rank calls it once at the end). Idempotent.
    public func finish() {
        guard !finished else { return }
        finished = true
        watcher?.stop() // the ranks leave MPI_Finalize at different times
        MPI_Finalize()
        watcher?.removeFolder()
    }

    /// Stops every rank of the job for a failure of this rank (one that the others wait for in a
    /// collective). The line `dicekit: rank R of N failed: <reason> at <progress>; stopping all
    /// ranks` comes from the lowest rank on this machine: this rank hands `reason` to it and
    /// waits to be ended; rank 0 (or a rank whose reporter does not answer within 5 s) prints
    /// it itself and calls MPI_Abort, which ends every rank at once.
    public func abort(reason: String, code: Int32 = 1) -> Never {
        if let watcher, !watcher.isReporter, watcher.leaveNote(reason) {
            for _ in 0..<50 { usleep(100_000) } // the reporter prints and ends the job meanwhile
        }
        watcher?.stop()
        if watcher?.claimReport() ?? true {
            let progress = watcher.map { " at \($0.currentProgress)" } ?? ""
            FileHandle.standardError.write(
                Data("dicekit: rank \(rank) of \(size) failed: \(reason)\(progress); stopping all ranks\n".utf8))
        }
        MPI_Abort(dicekit_mpi_comm_world(), code)
        exit(code)
    }

    /// Sums `values` over the ranks (MPI_Allreduce, in place).
    public func allReduceSum(_ values: inout [Float]) throws {
        try reduce(&values, type: dicekit_mpi_float(), name: "all-reduce of \(values.count) floats")
    }

    /// Sums `values` over the ranks (MPI_Allreduce, in place).
    public func allReduceSum(_ values: inout [Double]) throws {
        try reduce(&values, type: dicekit_mpi_double(), name: "all-reduce of \(values.count) doubles")
    }

    /// Every rank's `values` (MPI_Allgather of the lengths, then MPI_Allgatherv).
    public func allGather(_ values: [Double]) throws -> [[Double]] {
        var counts = [Int64](repeating: 0, count: size)
        var mine = Int64(values.count)
        try check(
            MPI_Allgather(&mine, 1, dicekit_mpi_int64(), &counts, 1, dicekit_mpi_int64(), dicekit_mpi_comm_world()),
            "all-gather of lengths")
        guard counts.reduce(0, +) < Int64(Int32.max) else {
            throw DiceKitError.value("all-gather of \(counts.reduce(0, +)) doubles; expected fewer than 2³¹")
        }
        let sizes = counts.map { Int32($0) }
        var displacements = [Int32](repeating: 0, count: size)
        for i in 1..<max(size, 1) { displacements[i] = displacements[i - 1] + sizes[i - 1] }
        var all = [Double](repeating: 0, count: Int(counts.reduce(0, +)))
        try values.withUnsafeBufferPointer { source in
            try check(
                MPI_Allgatherv(
                    source.baseAddress, Int32(values.count), dicekit_mpi_double(), &all, sizes, displacements,
                    dicekit_mpi_double(), dicekit_mpi_comm_world()), "all-gather of \(values.count) doubles")
        }
        return (0..<size).map { Array(all[Int(displacements[$0])..<Int(displacements[$0] + sizes[$0])]) }
    }

    /// Rank `root`'s `values` on every rank (MPI_Bcast, in place, in pieces below 2³¹ elements).
    public func broadcast(_ values: inout [Float], root: Int) throws {
        precondition(root >= 0 && root < size, "MPICommunicator: root \(root) out of 0..<\(size)")
        try values.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            repeat {
                let count = min(buffer.count - start, Int(Int32.max))
                try check(
                    MPI_Bcast(
                        buffer.baseAddress.map { $0 + start }, Int32(count), dicekit_mpi_float(), Int32(root),
                        dicekit_mpi_comm_world()), "broadcast of \(buffer.count) floats")
                start += count
            } while start < buffer.count
        }
    }

    /// Starts summing `values` over the ranks (MPI_Iallreduce on a copy) and returns at once.
    public func startAllReduceSum(_ values: [Float]) throws -> any PendingAllReduce {
        try MPIPendingAllReduce(values, communicator: self)
    }

    fileprivate func checked(_ code: Int32, _ operation: String) throws { try check(code, operation) }

    private func reduce<T>(_ values: inout [T], type: MPI_Datatype, name: String) throws {
        guard size > 1 else { return }
        try values.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let count = min(buffer.count - start, Int(Int32.max))
                // MPI_IN_PLACE is a macro too: (void *) 1.
                try check(
                    MPI_Allreduce(
                        UnsafeRawPointer(bitPattern: 1), buffer.baseAddress! + start, Int32(count), type,
                        dicekit_mpi_sum(), dicekit_mpi_comm_world()), name)
                start += count
            }
        }
    }

    private func check(_ code: Int32, _ operation: String) throws {
        guard code != dicekit_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(dicekit_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw DiceKitError.value("MPI \(operation) failed on rank \(rank): \(message)")
    }
}

/// An MPI_Iallreduce in flight: owns the buffer MPI writes into until the request completes.
final class MPIPendingAllReduce: PendingAllReduce {
    private let buffer: UnsafeMutableBufferPointer<Float>
    private var request: MPI_Request?
    private var done: Bool
    private let communicator: MPICommunicator
    private let count: Int

    init(_ values: [Float], communicator: MPICommunicator) throws {
        precondition(
            values.count < Int(Int32.max), "MPIPendingAllReduce: \(values.count) floats; expected fewer than 2³¹")
        self.communicator = communicator
        count = values.count
        buffer = .allocate(capacity: max(values.count, 1))
        _ = buffer.initialize(from: values)
        request = dicekit_mpi_request_null()
        done = communicator.size == 1
        guard !done else { return }
        do {
            // MPI_IN_PLACE is (void *) 1.
            try communicator.checked(
                MPI_Iallreduce(
                    UnsafeRawPointer(bitPattern: 1), buffer.baseAddress, Int32(values.count),
                    dicekit_mpi_float(), dicekit_mpi_sum(), dicekit_mpi_comm_world(), &request),
                "start of an all-reduce of \(values.count) floats")
        } catch {
            done = true
            throw error
        }
    }

    func test() throws -> Bool {
        guard !done else { return true }
        var flag: Int32 = 0
        try communicator.checked(
            MPI_Test(&request, &flag, dicekit_mpi_status_ignore()), "progress of an all-reduce of \(count) floats")
        done = flag != 0
        return done
    }

    func wait() throws -> [Float] {
        if !done {
            try communicator.checked(MPI_Wait(&request, dicekit_mpi_status_ignore()), "all-reduce of \(count) floats")
            done = true
        }
        return Array(buffer[0..<count])
    }

    deinit {
        // MPI may still write into the buffer until the request completes.
        if !done { MPI_Wait(&request, dicekit_mpi_status_ignore()) }
        buffer.deallocate()
    }
}
