// The persistent worker pool (Support/WorkerPool.swift): every index runs exactly once, nested
// and concurrent calls complete (serially when the pool is busy), long bodies and parked
// workers are handled, results equal a serial loop's, and a private pool ends cleanly.

import Dispatch
import XCTest

@testable import DiceKit

final class WorkerPoolTests: XCTestCase {
    /// Runs `count` tasks on `pool` and returns how often each index ran.
    private static func runCounts(_ pool: WorkerPool, _ count: Int) -> [Int] {
        var hits = [Int](repeating: 0, count: count)
        hits.withUnsafeMutableBufferPointer { buffer in
            // Each task writes only its own slot, so the tasks need no synchronisation.
            let shared = TaskShared(buffer.baseAddress!)
            pool.run(count) { i in shared.buffers[i] += 1 }
        }
        return hits
    }

    func testEveryIndexRunsExactlyOnce() {
        let pool = WorkerPool(workers: 3)
        for count in [0, 1, 2, 3, 4, 7, 64, 1000] {
            for _ in 0..<20 {
                XCTAssertEqual(Self.runCounts(pool, count), [Int](repeating: 1, count: count), "count \(count)")
            }
        }
    }

    func testPoolWithoutThreadsRunsOnTheCaller() {
        let pool = WorkerPool(workers: 0)
        XCTAssertEqual(Self.runCounts(pool, 10), [Int](repeating: 1, count: 10))
    }

    func testNestedCallsComplete() {
        let pool = WorkerPool(workers: 2)
        let outer = 6
        let inner = 50
        var hits = [Int](repeating: 0, count: outer * inner)
        hits.withUnsafeMutableBufferPointer { buffer in
            let shared = TaskShared(buffer.baseAddress!)
            pool.run(outer) { o in
                // The pool is busy with the outer call: this one runs serially on this thread.
                pool.run(inner) { i in shared.buffers[o * inner + i] += 1 }
            }
        }
        XCTAssertEqual(hits, [Int](repeating: 1, count: outer * inner))
    }

    func testConcurrentCallersFromSeveralThreads() {
        let pool = WorkerPool(workers: 2)
        let callers = 4
        let rounds = 200
        let count = 37
        var failures = [Int](repeating: 0, count: callers)
        failures.withUnsafeMutableBufferPointer { buffer in
            // Each caller counts its own failures.
            let shared = TaskShared(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: callers) { caller in
                for _ in 0..<rounds where Self.runCounts(pool, count) != [Int](repeating: 1, count: count) {
                    shared.buffers[caller] += 1
                }
            }
        }
        XCTAssertEqual(failures, [Int](repeating: 0, count: callers))
    }

    func testResultsEqualASerialLoop() {
        let pool = WorkerPool(workers: 3)
        // Per-task sums of a Float sequence, stored by task index and summed in index order: the
        // same bits whatever thread ran which task.
        func partials(_ run: (Int, @Sendable (Int) -> Void) -> Void) -> Double {
            var sums = [Float](repeating: 0, count: 16)
            sums.withUnsafeMutableBufferPointer { buffer in
                let shared = TaskShared(buffer.baseAddress!)
                run(16) { task in
                    let base = shared.buffers
                    var s: Float = 0
                    for i in 0..<10_000 { s += Float.sin(Float(task * 10_000 + i) * 1e-3) }
                    base[task] = s
                }
            }
            return sums.reduce(0.0) { $0 + Double($1) }
        }
        let serial = partials { count, body in for i in 0..<count { body(i) } }
        for _ in 0..<10 {
            XCTAssertEqual(partials { pool.run($0, $1) }, serial)
        }
    }

    func testLongBodyAndParkedWorkers() {
        let pool = WorkerPool(workers: 1)
        // One task far longer than the spin time: the caller parks until the worker finishes.
        var hits = [Int](repeating: 0, count: 2)
        hits.withUnsafeMutableBufferPointer { buffer in
            let shared = TaskShared(buffer.baseAddress!)
            pool.run(2) { i in
                if i == 0 { usleep(100_000) }
                shared.buffers[i] += 1
            }
        }
        XCTAssertEqual(hits, [1, 1])
        // Idle well past the spin time, so the worker parks; the next call wakes it.
        usleep(50_000)
        XCTAssertEqual(Self.runCounts(pool, 100), [Int](repeating: 1, count: 100))
    }

    func testPrivatePoolEndsCleanly() {
        for _ in 0..<5 {
            let pool = WorkerPool(workers: 2)
            XCTAssertEqual(Self.runCounts(pool, 8), [Int](repeating: 1, count: 8))
        }
        // A pool that never ran a parallel job has no threads to end.
        _ = WorkerPool(workers: 4)
    }
}
