// The progress of `dicekit eval` and `predict` on standard error: on a terminal, one line
// rewritten in place (images or cases done, their rate, the ETA), cleared before anything else
// is printed; otherwise (a log file, CI) `eval` prints one line per image or case evaluated whole
// through sliding windows (the slow path: a large volume takes seconds to minutes), and nothing
// for batches of images, which go fast; `predict`'s per-image lines on stdout serve there.

import DiceKit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Progress over `total` images or cases; see the file header.
final class ItemProgress {
    private let verb: String
    private let total: Int
    private let whole: Bool
    private let noun: String
    private let interactive: Bool
    private let sink: (String) -> Void
    private let clock: () -> Double
    private let start: Double
    private var done = 0
    private var lastItem: Double
    private var lastDraw = -Double.infinity
    private var lineOpen = false

    /// Progress of `verb` ("evaluating", "predicting") over `total` items called `noun` ("case",
    /// "image"), each processed whole through sliding windows (`whole`: a line per item off a
    /// terminal) or in batches.
    ///
    /// - Parameters:
    ///   - interactive: nil (default) asks `isatty` about standard error.
    ///   - sink: receives the text (default: standard error).
    ///   - clock: seconds from an arbitrary origin (default: the monotonic clock); for tests.
    init(
        verb: String = "evaluating", total: Int, noun: String, whole: Bool, interactive: Bool? = nil,
        sink: ((String) -> Void)? = nil,
        clock: (() -> Double)? = nil
    ) {
        self.verb = verb
        self.total = total
        self.noun = noun
        self.whole = whole
        self.interactive = interactive ?? (isatty(STDERR_FILENO) == 1)
        self.sink = sink ?? { StandardStream.error.write($0) }
        self.clock = clock ?? { ProcessInfo.processInfo.systemUptime }
        start = self.clock()
        lastItem = start
    }

    /// Records `count` more items (0: shows the line before the first). On a terminal, redraws
    /// the line (at most ten times a second, and always at the last); otherwise prints a line for
    /// an item evaluated whole.
    func advance(by count: Int) {
        done += count
        let now = clock()
        let unit = noun + "s"
        if interactive {
            guard now - lastDraw >= 0.1 || done >= total else { return }
            lastDraw = now
            let rate = now > start ? Double(done) / (now - start) : 0
            sink(
                "\r\u{1B}[2K\(verb) \(done)/\(total) \(unit)  \(String(format: "%.1f", rate)) \(unit)/s  ETA "
                    + ProgressReporter.duration(eta(now)))
            lineOpen = true
        } else if whole && count > 0 {
            sink(
                "\(noun) \(done)/\(total) done in \(String(format: "%.1f", now - lastItem)) s  ETA "
                    + ProgressReporter.duration(eta(now)) + "\n")
        }
        if count > 0 { lastItem = now }
    }

    /// Clears the terminal line, so that what follows starts on a clean line.
    func clear() {
        if lineOpen { sink("\r\u{1B}[2K") }
        lineOpen = false
    }

    /// Seconds left at the mean rate so far.
    private func eta(_ now: Double) -> Double {
        guard done > 0 else { return .nan }
        return (now - start) / Double(done) * Double(max(total - done, 0))
    }
}
