// Raw buffers handed to the tasks of one parallel call (`WorkerPool.run`, `forEachRange`,
// `DispatchQueue.concurrentPerform`).

/// Raw buffers (a pointer, or a tuple or struct of pointers) that the tasks of one parallel
/// call share (`WorkerPool.run` and the functions built on it, `concurrentPerform`): every task
/// may read the memory, and each task writes only elements that no other task of the same call
/// reads or writes (its own samples, rows, channel blocks or per-task partial sums).
///
/// Raw pointers are not `Sendable`, because the compiler cannot know who else uses the memory.
/// Here it is known: the memory outlives the call (the call returns only after the last task has
/// finished, and the owner frees it afterwards), and the writes of distinct tasks are disjoint,
/// which each use states beside its `TaskShared(...)`. That contract is what the
/// `@unchecked Sendable` conformance stands for; the work itself stays `@Sendable`, so anything
/// else a task captures is still checked by the compiler.
///
/// Usage: wrap the pointers outside the work, unwrap them first thing inside it:
///
///     let shared = TaskShared((input, output))
///     WorkerPool.shared.run(count) { task in
///         let (input, output) = shared.buffers
///         output[task] = input[task] * 2   // task t writes element t only
///     }
struct TaskShared<Buffers>: @unchecked Sendable {
    /// The wrapped pointers.
    let buffers: Buffers

    /// Wraps `buffers` for the tasks of one pool call.
    init(_ buffers: Buffers) { self.buffers = buffers }
}
