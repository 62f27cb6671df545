// The collective operations that data-parallel training needs, as a protocol, so that the
// trainer has one code path: `SingleProcessCommunicator` (here) makes every collective the
// identity; the MPI implementation lives in the separate `DiceKitDistributed` module, so a
// package that links only DiceKit never needs MPI. See Docs/Distributed.md.

/// A group of `size` processes (ranks 0..<size) that run the same program on different data
/// and combine their results with collective operations.
///
/// Every rank must call the same collectives in the same order with the same element counts
/// (except `allGather`, whose contributions may differ in length); otherwise the job hangs or
/// fails. A collective that fails throws `DiceKitError.value` naming the operation.
public protocol Communicator: AnyObject {
    /// This process's rank, 0..<size (rank 0 writes files and reports progress).
    var rank: Int { get }
    /// The number of processes (≥ 1).
    var size: Int { get }
    /// Replaces `values` on every rank by their element-wise sum over the ranks.
    func allReduceSum(_ values: inout [Float]) throws
    /// Replaces `values` on every rank by their element-wise sum over the ranks.
    func allReduceSum(_ values: inout [Double]) throws
    /// Every rank's `values`, indexed by rank (the lengths may differ between ranks).
    func allGather(_ values: [Double]) throws -> [[Double]]
    /// Replaces `values` on every rank by rank `root`'s (same length on every rank).
    func broadcast(_ values: inout [Float], root: Int) throws
    /// Starts summing `values` over the ranks and returns at once (MPI_Iallreduce), so that
    /// computation can go on while the data travels; `wait()` gives the sums. Like every
    /// collective, the ranks must start their all-reduces in the same order.
    func startAllReduceSum(_ values: [Float]) throws -> any PendingAllReduce
    /// Records where training is ("epoch 3, step 1; last good checkpoint …"), for the message
    /// that reports a rank that ends or fails. Not a collective.
    func noteProgress(_ description: String)
}

/// An all-reduce in flight; see `Communicator.startAllReduceSum(_:)`.
public protocol PendingAllReduce: AnyObject {
    /// Lets the transfer advance without blocking; true once it is complete.
    func test() throws -> Bool
    /// Waits for the transfer and returns the sums.
    func wait() throws -> [Float]
}

/// An all-reduce that was complete when it started (for communicators without non-blocking
/// collectives, and for one process).
public final class CompletedAllReduce: PendingAllReduce {
    private let sums: [Float]
    /// The result `sums`.
    public init(_ sums: [Float]) { self.sums = sums }
    /// Always true.
    public func test() throws -> Bool { true }
    /// `sums`.
    public func wait() throws -> [Float] { sums }
}

extension Communicator {
    /// Whether more than one process takes part.
    public var isDistributed: Bool { size > 1 }

    /// The blocking default: sums at once with `allReduceSum`.
    public func startAllReduceSum(_ values: [Float]) throws -> any PendingAllReduce {
        var sums = values
        try allReduceSum(&sums)
        return CompletedAllReduce(sums)
    }

    /// Ignores the note (nothing reports faults of other ranks).
    public func noteProgress(_ description: String) {}

    /// True on every rank when `flag` is true on at least one rank.
    public func anyRank(_ flag: Bool) throws -> Bool {
        guard isDistributed else { return flag }
        var value = [flag ? 1.0 : 0.0]
        try allReduceSum(&value)
        return value[0] > 0
    }
}

/// One process alone: rank 0 of 1; every collective leaves its input as it is.
public final class SingleProcessCommunicator: Communicator {
    /// The single process's communicator.
    public init() {}
    /// Always 0.
    public var rank: Int { 0 }
    /// Always 1.
    public var size: Int { 1 }
    /// Leaves `values` unchanged (the sum over one rank).
    public func allReduceSum(_ values: inout [Float]) throws {}
    /// Leaves `values` unchanged (the sum over one rank).
    public func allReduceSum(_ values: inout [Double]) throws {}
    /// `[values]`.
    public func allGather(_ values: [Double]) throws -> [[Double]] { [values] }
    /// Leaves `values` unchanged.
    ///
    /// - Precondition: `root` is 0.
    public func broadcast(_ values: inout [Float], root: Int) throws {
        precondition(root == 0, "SingleProcessCommunicator: root \(root) out of 0..<1")
    }
}
