// Preparing the next batches on a background thread while the current step runs.
//
// One Foundation `Thread` builds the batches of a `BatchPlan` in order (0, 1, 2, …) into a FIFO
// of at most `depth` batches; the training thread takes them with `next()`. Goals, in order:
// 1. The same batches as reading the plan directly: a batch depends on (seed, epoch, index)
//    only (see `BatchPlan`), so neither the depth nor the timing can change a bit.
// 2. Bounded memory: at most `depth` finished batches wait, plus the one being built.
// 3. Errors travel: a batch that fails (a corrupt file found mid-epoch) is queued as its error,
//    the producer stops, and `next()` throws that error (it names the file) in the caller.
// 4. Clean stops: `cancel()` (also run on deinit) wakes the producer, waits until it has left
//    its loop, and returns; no thread outlives the prefetcher by more than the batch in hand.
// The project's WorkerPool runs compute kernels; I/O and decoding stay off it.

import Foundation

/// Builds the batches of a `BatchPlan` ahead, on a background thread, through a bounded queue.
///
/// Use from one thread: call `next()` until it returns nil, or `cancel()` to stop early.
public final class BatchPrefetcher {
    /// The plan whose batches are prepared.
    public let plan: BatchPlan
    /// The most finished batches held waiting, ≥ 1.
    public let depth: Int
    private let state: PrefetchState
    private var consumed = 0
    /// Seconds `next()` spent blocked, waiting for the producer.
    public private(set) var waitSeconds = 0.0

    /// Starts the producer thread on `plan`.
    ///
    /// - Parameter depth: the most finished batches held waiting (default 2), 1…64.
    /// - Throws: `DiceKitError.option` for a depth outside 1…64.
    public init(plan: BatchPlan, depth: Int = 2) throws {
        guard (1...64).contains(depth) else {
            throw DiceKitError.invalidOption(name: "prefetch depth", value: "\(depth)", expected: "1…64")
        }
        self.plan = plan
        self.depth = depth
        let state = PrefetchState(plan: plan, depth: depth)
        self.state = state
        let thread = Thread { state.produce() }
        thread.name = "dicekit.batch-prefetch"
        thread.start()
    }

    deinit { state.cancel() }

    /// The next batch in plan order, nil after the last one (or after `cancel()`).
    ///
    /// - Throws: the error the producer met building this batch (e.g. a `JPEGError` naming the
    ///   file); the producer has stopped, and later calls return nil.
    public func next() throws -> SegmentationBatch? {
        guard consumed < plan.count else { return nil }
        let start = ProcessInfo.processInfo.systemUptime
        let result = state.take()
        waitSeconds += ProcessInfo.processInfo.systemUptime - start
        guard let result else { return nil }
        consumed += 1
        switch result {
        case .success(let batch): return batch
        case .failure(let error):
            consumed = plan.count
            throw error
        }
    }

    /// Stops the producer and waits until it has left its loop (it finishes the batch in hand
    /// first). Idempotent; later `next()` calls return nil.
    public func cancel() {
        consumed = plan.count
        state.cancel()
    }

    /// Whether the producer thread has left its loop (after the last batch, an error or `cancel()`).
    public var producerFinished: Bool { state.isFinished }

    /// The most batches that were waiting in the queue at once (≤ `depth`).
    public var peakQueued: Int { state.peakQueued }
}

/// The queue shared by the producer thread and the consumer.
///
/// `@unchecked Sendable`: every mutable field is read and written only while `condition` is
/// locked; `plan` is an immutable Sendable value.
private final class PrefetchState: @unchecked Sendable {
    private let plan: BatchPlan
    private let depth: Int
    private let condition = NSCondition()
    private var queue: [Result<SegmentationBatch, any Error>] = []
    private var cancelled = false
    private var finished = false
    private var peak = 0

    init(plan: BatchPlan, depth: Int) {
        self.plan = plan
        self.depth = depth
    }

    /// The producer's loop: batches 0..<count in order, waiting while the queue is full.
    func produce() {
        for i in 0..<plan.count {
            condition.lock()
            while queue.count >= depth && !cancelled { condition.wait() }
            let stop = cancelled
            condition.unlock()
            if stop { break }
            let result = Result { try plan.batch(i) }
            condition.lock()
            queue.append(result)
            peak = max(peak, queue.count)
            if case .failure = result {
                // Finished in the same critical section: the consumer that takes the error sees it.
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.broadcast()
            condition.unlock()
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// The oldest queued result, waiting for one; nil when the producer finished (or was
    /// cancelled) with nothing left.
    func take() -> Result<SegmentationBatch, any Error>? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !finished && !cancelled { condition.wait() }
        guard !queue.isEmpty, !cancelled else { return nil }
        let result = queue.removeFirst()
        condition.broadcast()
        return result
    }

    /// Asks the producer to stop and waits until it has.
    func cancel() {
        condition.lock()
        cancelled = true
        queue.removeAll()
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    var isFinished: Bool {
        condition.lock()
        defer { condition.unlock() }
        return finished
    }

    var peakQueued: Int {
        condition.lock()
        defer { condition.unlock() }
        return peak
    }
}
