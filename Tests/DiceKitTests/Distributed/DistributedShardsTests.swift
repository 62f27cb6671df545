// DistributedShards: the ranks' shards of every global batch are disjoint, cover it, follow one
// process's order, and handle a short last batch (a rank may get nothing) without padding.

import XCTest

@testable import DiceKit

final class DistributedShardsTests: XCTestCase {
    func testShardsPartitionEachGlobalBatchInOneProcessOrder() {
        let order = SegmentationDataset.permutation(11, seed: 7)
        for ranks in 1...4 {
            for batch in 1...3 {
                let shards = DistributedShards(order: order, batchPerRank: batch, ranks: ranks)
                let oneProcess = DistributedShards(order: order, batchPerRank: batch * ranks, ranks: 1)
                XCTAssertEqual(shards.steps, oneProcess.steps, "p \(ranks), B \(batch)")
                var seen: [Int] = []
                for step in 0..<shards.steps {
                    let global = Array(oneProcess.globalBatch(step))
                    var union: [Int] = []
                    for rank in 0..<ranks {
                        let mine = shards.indices(step: step, rank: rank)
                        XCTAssertLessThanOrEqual(mine.count, batch)
                        union += mine
                    }
                    XCTAssertEqual(
                        union.sorted(), global.sorted(), "step \(step): the ranks hold exactly one process's batch")
                    seen += union
                }
                XCTAssertEqual(seen.sorted(), Array(0..<11), "every sample once per epoch")
            }
        }
    }

    func testStridedPositionsAndAShortLastBatch() {
        let shards = DistributedShards(order: Array(0..<7), batchPerRank: 1, ranks: 3)
        XCTAssertEqual(shards.steps, 3)
        XCTAssertEqual((0..<3).map { shards.positions(step: 0, rank: $0) }, [[0], [1], [2]])
        XCTAssertEqual(
            (0..<3).map { shards.positions(step: 2, rank: $0) }, [[6], [], []], "no padding: ranks 1 and 2 sit out")
        let two = DistributedShards(order: [9, 8, 7, 6, 5], batchPerRank: 2, ranks: 2)
        XCTAssertEqual(two.indices(step: 0, rank: 0), [9, 7])
        XCTAssertEqual(two.indices(step: 0, rank: 1), [8, 6])
        XCTAssertEqual(two.indices(step: 1, rank: 1), [])
    }
}
