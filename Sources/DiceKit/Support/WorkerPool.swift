// A small persistent thread pool for the library's short parallel loops (the Dice losses'
// per-sample tasks, the convolution workers).
//
// Why not DispatchQueue.concurrentPerform: a loss evaluation is ~0.1–0.2 ms of work, and
// libdispatch wakes its worker threads anew for every call; measured, the worker's first task
// started ~25 µs after the call and about a quarter of the wall time went to wake-up and join.
// Here the workers stay awake (spinning on one atomic) for a short while after each job, so
// back-to-back calls start at once, and then park on a condition variable, so an idle pool
// uses no CPU.
//
// Protocol. One job at a time: `busy` is taken by the caller; a call that finds the pool busy
// (a nested call from inside a body, or another thread's call) runs its tasks serially on its
// own thread, so no call ever waits for another. A job is published as two words:
//   `limit`  = epoch << 32 | task count
//   `ticket` = epoch << 32 | next task index
// Each participant (the caller and the workers) takes indices by compare-and-swap on `ticket`,
// having checked that `limit` carries the same epoch. A worker that falls behind (it read the
// epoch of a job that has since finished) therefore can never take an index of a later job: its
// swap fails, or its epoch check does. The caller waits until `remaining` (tasks not finished)
// reaches zero, spinning briefly and then parking too.

internal import CDiceKitKernels
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A persistent pool of `workers` threads that runs the tasks of `run(_:_:)` with the caller.
///
/// Bodies must be independent of one another (no task may wait for another task of the same
/// call): a call may run entirely on the caller's thread. They are `@Sendable`: the compiler
/// checks that what they capture may be used from several threads at once (raw buffers go
/// through `TaskShared`, whose contract is that tasks write disjoint elements).
///
/// `@unchecked Sendable`: the atomics are `Sendable` as they are; the rest is shared under two
/// rules the compiler cannot see. `body` is written by the caller holding `busy` only while no
/// job is published (before `ticket` is stored with the new epoch, after `remaining` reached
/// zero) and read by a participant only after a successful swap on `ticket` in the job's epoch,
/// which orders the read after the write (release/acquire on `ticket`) and before the job's end.
/// `sleepers`, `callerParked`, `stopping` and `threads` are read and written only with `mutex`
/// held; the pthread objects themselves are made for sharing between threads. (A
/// `Synchronization.Mutex` cannot serve: the parked threads wait on condition variables, which
/// need the pthread mutex.)
final class WorkerPool: @unchecked Sendable {
    /// How long a thread spins for new work (workers) or for the last task (caller) before it
    /// parks: long enough to bridge the gap between back-to-back calls, short enough that an
    /// idle pool costs nothing measurable.
    static let spinNanoseconds: UInt64 = 80_000

    /// Number of pool threads (created on the first parallel call).
    let workers: Int

    /// Held by the caller of the running job; a call that cannot take it runs serially.
    private let busy = Atomic<Bool>(false)
    /// epoch << 32 | next task index of the current job.
    private let ticket = Atomic<UInt64>(0)
    /// epoch << 32 | task count of the current job.
    private let limit = Atomic<UInt64>(0)
    /// Tasks of the current job not finished yet.
    private let remaining = Atomic<Int>(0)
    /// The current job's body; written only while no job is published (see the protocol).
    private var body: (@Sendable (Int) -> Void)?

    /// Guards `sleepers`, `callerParked`, `stopping`, `threads` and the waits on both conditions.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled when a job is published to parked workers, or the pool stops.
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Signalled when the last task finishes while the caller is parked.
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Workers parked on `wake`.
    private var sleepers = 0
    /// Whether the caller is parked on `finished`.
    private var callerParked = false
    /// Set by deinit: parked workers exit.
    private var stopping = false
    /// The pool's threads, joined by deinit.
    private var threads: [pthread_t] = []

    /// A pool with `workers` threads (0 runs everything on the caller).
    init(workers: Int) {
        self.workers = max(0, workers)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
    }

    deinit {
        // Only private pools end (tests); the threads hold no reference, so stop and join them.
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_cond_destroy(finished)
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        finished.deallocate()
        wake.deallocate()
        mutex.deallocate()
    }

    /// Runs `body(i)` once for every i in 0..<count, on the caller and the pool's threads, and
    /// returns when all have finished. Serially on the caller when the pool is busy (nested or
    /// concurrent calls) or has no threads. The order in which tasks run is unspecified: a
    /// reduction must keep one partial per task (not per thread) and sum them in task order.
    /// Subnormals flush to zero in every participant (the caller's MXCSR is restored on return).
    func run(_ count: Int, _ body: @Sendable (Int) -> Void) {
        precondition(count >= 0 && count < 1 << 32, "WorkerPool.run: task count out of range")
        let control = dk_fp_flush_begin()
        defer { dk_fp_restore(control) }
        guard count > 1, workers > 0,
            busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            for i in 0..<count { body(i) }
            return
        }
        startThreadsIfNeeded()
        withoutActuallyEscaping(body) { escaping in
            self.body = escaping
            // The epoch (32 bits, wrapping) of the previous job is the one `limit` carries.
            let epoch = ((limit.load(ordering: .relaxed) >> 32) + 1) & 0xFFFF_FFFF
            remaining.store(count, ordering: .relaxed)
            // `limit` before `ticket`: whoever sees the new ticket also sees the new limit.
            pthread_mutex_lock(mutex)
            limit.store(epoch << 32 | UInt64(count), ordering: .releasing)
            ticket.store(epoch << 32, ordering: .releasing)
            if sleepers > 0 { pthread_cond_broadcast(wake) }
            pthread_mutex_unlock(mutex)
            participate(epoch: epoch, caller: true)
            waitForCompletion()
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Takes and runs tasks of job `epoch` until none is left (or a newer job is published).
    /// A worker that finishes the last task wakes the caller if it has parked.
    private func participate(epoch: UInt64, caller: Bool) {
        while true {
            let t = ticket.load(ordering: .acquiring)
            guard t >> 32 == epoch else { return }
            let l = limit.load(ordering: .acquiring)
            guard l >> 32 == epoch, t & 0xFFFF_FFFF < l & 0xFFFF_FFFF else { return }
            guard ticket.compareExchange(expected: t, desired: t + 1, ordering: .acquiringAndReleasing).exchanged else {
                continue
            }
            // The swap succeeded in this epoch and the task is not done: the job cannot end yet,
            // so `body` is still this job's.
            body!(Int(t & 0xFFFF_FFFF))
            if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 && !caller {
                // Taking the mutex orders this with the caller's check before it parks.
                pthread_mutex_lock(mutex)
                if callerParked { pthread_cond_signal(finished) }
                pthread_mutex_unlock(mutex)
            }
        }
    }

    /// The caller's wait for the tasks that workers are still running.
    private func waitForCompletion() {
        if remaining.load(ordering: .acquiring) == 0 { return }
        let deadline = monotonicNanoseconds() + Self.spinNanoseconds
        var spins = 0
        while remaining.load(ordering: .acquiring) != 0 {
            spins += 1
            // Reading the clock costs ~20 ns; every 64 loads is plenty.
            if spins & 63 == 0 && monotonicNanoseconds() > deadline {
                pthread_mutex_lock(mutex)
                callerParked = true
                while remaining.load(ordering: .acquiring) != 0 { pthread_cond_wait(finished, mutex) }
                callerParked = false
                pthread_mutex_unlock(mutex)
                return
            }
        }
    }

    /// A worker: waits for a job (spinning, then parked), helps with it, and repeats.
    private func workerLoop() {
        var seen: UInt64 = ticket.load(ordering: .acquiring) >> 32
        while true {
            let deadline = monotonicNanoseconds() + Self.spinNanoseconds
            var spins = 0
            var current = ticket.load(ordering: .acquiring) >> 32
            while current == seen {
                spins += 1
                if spins & 63 == 0 && monotonicNanoseconds() > deadline {
                    pthread_mutex_lock(mutex)
                    sleepers += 1
                    while !stopping && ticket.load(ordering: .acquiring) >> 32 == seen {
                        pthread_cond_wait(wake, mutex)
                    }
                    sleepers -= 1
                    let stop = stopping
                    pthread_mutex_unlock(mutex)
                    if stop { return }
                }
                current = ticket.load(ordering: .acquiring) >> 32
            }
            seen = current
            participate(epoch: current, caller: false)
        }
    }

    /// Creates the threads on first use (a library should not start threads at load time).
    private func startThreadsIfNeeded() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard threads.isEmpty else { return }
        let context = Unmanaged.passUnretained(self).toOpaque()
        for _ in 0..<workers {
            var thread = pthread_t()
            let status = pthread_create(
                &thread, nil,
                { context in
                    // Unretained: the pool's deinit joins its threads, so it outlives them; a retained
                    // reference would keep a private pool (and its threads) alive for ever. The
                    // thread is the pool's own: it flushes subnormals for its whole life.
                    _ = dk_fp_flush_begin()
                    Unmanaged<WorkerPool>.fromOpaque(context!)._withUnsafeGuaranteedRef { $0.workerLoop() }
                    return nil
                }, context)
            precondition(status == 0, "WorkerPool: pthread_create failed (\(status))")
            threads.append(thread)
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call).
private func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

extension WorkerPool {
    /// Runs `body` on consecutive ranges that cover 0..<count, each about `grain` elements long
    /// (a multiple of 16, so vector loops rarely see a tail), in parallel when there are several.
    /// For element-wise loops over large tensors (activations, copies, optimiser updates), whose
    /// results do not depend on the split.
    func forEachRange(_ count: Int, grain: Int = 1 << 16, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > grain else {
            if count > 0 { withFlushToZero { body(0..<count) } }
            return
        }
        let length = (grain + 15) / 16 * 16
        let chunks = (count + length - 1) / length
        run(chunks) { c in body((c * length)..<Swift.min(count, (c + 1) * length)) }
    }
}

/// Runs `body` with flush-to-zero and denormals-are-zero set in this thread's MXCSR, restoring
/// the caller's control word afterwards (nested calls cost two register reads). Subnormal
/// operands cost ~100 cycles each on many x86 cores: a diverging network's ~300 k subnormal
/// gradient values made one step 15× slower.
func withFlushToZero<R>(_ body: () throws -> R) rethrows -> R {
    let control = dk_fp_flush_begin()
    defer { dk_fp_restore(control) }
    return try body()
}
