// A test-only hook for the crash-safety tests: with DICEKIT_TEST_KILL_AT=<point>:<epoch> in the
// environment, the process kills itself with SIGKILL (no clean-up, as a power cut or the OOM
// killer would) when training reaches that point in that epoch. Points, in order per epoch:
//   checkpoint-mid-write      half of last.safetensors is in its temporary file
//   checkpoint-before-rename  the temporary file is complete and flushed, not yet renamed
//   checkpoint-after-rename   last.safetensors is in place
//   metrics-before            before the epoch's line is appended to metrics.jsonl
//   metrics-after             after it
// and, in distributed training, rank-epoch-start (before an epoch's first step) and rank-step
// (before each later step). DICEKIT_TEST_FAIL_AT=<point>:<epoch> instead makes the process throw
// an error there (a rank that fails while the others wait for it).
// Without the variables every call is one comparison of an immutable value.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Kill points for crash-safety tests (see the file header).
enum CrashTestPoint {
    /// The requested point and epoch, read once from the environment.
    private static let target = point(from: "DICEKIT_TEST_KILL_AT")
    /// The requested failure point and epoch, read once from the environment.
    private static let failure = point(from: "DICEKIT_TEST_FAIL_AT")

    private static func point(from variable: String) -> (point: Substring, epoch: Int)? {
        guard let value = ProcessInfo.processInfo.environment[variable],
            let colon = value.lastIndex(of: ":"), let epoch = Int(value[value.index(after: colon)...])
        else { return nil }
        return (value[..<colon], epoch)
    }

    /// Throws `DiceKitError.value` when `point` in `epoch` is the requested failure point.
    static func failIfRequested(_ point: String, epoch: Int) throws {
        guard let failure, failure.epoch == epoch, failure.point == point else { return }
        throw DiceKitError.value("test failure requested at \(point) of epoch \(epoch) (DICEKIT_TEST_FAIL_AT)")
    }

    /// Kills the process with SIGKILL when `point` in `epoch` is the requested one.
    static func reach(_ point: String, epoch: Int) {
        guard let target, target.epoch == epoch, target.point == point else { return }
        kill(getpid(), SIGKILL)
    }
}
