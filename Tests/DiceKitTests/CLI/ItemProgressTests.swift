// The progress of `dicekit eval` and `predict` (ItemProgress): off a terminal one line per item evaluated
// whole and nothing for batches; on a terminal one line rewritten in place, cleared at the end.

import XCTest

@testable import dicekit

final class ItemProgressTests: XCTestCase {
    /// A progress whose clock advances by `step` seconds at each reading, its text collected.
    private func progress(
        total: Int, whole: Bool, interactive: Bool, step: Double = 2
    ) -> (ItemProgress, () -> String) {
        final class Box: @unchecked Sendable {
            var text = ""
            var now = 0.0
        }
        let box = Box()
        let progress = ItemProgress(
            total: total, noun: "case", whole: whole, interactive: interactive, sink: { box.text += $0 },
            clock: {
                defer { box.now += step }
                return box.now
            })
        return (progress, { box.text })
    }

    func testOffATerminalEachWholeCaseIsALine() {
        let (whole, text) = progress(total: 3, whole: true, interactive: false)
        whole.advance(by: 0) // nothing before the first case off a terminal
        for _ in 0..<3 { whole.advance(by: 1) }
        whole.clear()
        // The clock reads 0 at the start, then 2 (nothing), 4, 6, 8: the first case took 4 s, the
        // others 2; the ETA is the mean rate's.
        XCTAssertEqual(
            text(),
            "case 1/3 done in 4.0 s  ETA 0:08\ncase 2/3 done in 2.0 s  ETA 0:03\n"
                + "case 3/3 done in 2.0 s  ETA 0:00\n")
        let (batches, quiet) = progress(total: 8, whole: false, interactive: false)
        batches.advance(by: 4)
        batches.advance(by: 4)
        XCTAssertEqual(quiet(), "")
    }

    func testOnATerminalOneLineIsRewrittenAndCleared() {
        let (progress, text) = progress(total: 8, whole: false, interactive: true)
        progress.advance(by: 0)
        progress.advance(by: 4)
        progress.advance(by: 4)
        progress.clear()
        let erase = "\r\u{1B}[2K"
        XCTAssertEqual(
            text(),
            erase + "evaluating 0/8 cases  0.0 cases/s  ETA --:--" + erase
                + "evaluating 4/8 cases  1.0 cases/s  ETA 0:04" + erase
                + "evaluating 8/8 cases  1.3 cases/s  ETA 0:00"
                + erase)
    }
}
