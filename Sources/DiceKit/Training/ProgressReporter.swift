// Training progress on the console: on a terminal, one line rewritten in place (epoch, step,
// loss, images/s, ETA); otherwise (a log file, CI), one line per finished epoch, so logs stay
// short and readable.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reports training progress; see the file header for the two styles.
public final class ProgressReporter {
    /// True for the in-place terminal line, false for one line per epoch.
    public let interactive: Bool
    private let totalEpochs: Int
    private let stepsPerEpoch: Int
    private let sink: (String) -> Void
    private let clock: () -> Double
    private let start: Double
    private var stepsDone = 0
    private let startStepsDone: Int
    private var epochStart: Double
    private var epochImages = 0
    private var epochLossSum = 0.0
    private var epochSteps = 0
    private var lastDraw = -Double.infinity
    private var lineOpen = false

    /// A reporter for a run of `totalEpochs` epochs of `stepsPerEpoch` steps.
    ///
    /// - Parameters:
    ///   - interactive: nil (default) asks `isatty` about standard error.
    ///   - firstEpoch: the epoch the run starts at (from 1; later when resuming), for the ETA.
    ///   - sink: receives the text (default: written to standard error unbuffered).
    ///   - clock: seconds from an arbitrary origin (default: the monotonic clock); for tests.
    public init(
        totalEpochs: Int, stepsPerEpoch: Int, firstEpoch: Int = 1, interactive: Bool? = nil,
        sink: ((String) -> Void)? = nil, clock: (() -> Double)? = nil
    ) {
        self.totalEpochs = max(totalEpochs, 1)
        self.stepsPerEpoch = max(stepsPerEpoch, 1)
        self.interactive = interactive ?? (isatty(STDERR_FILENO) == 1)
        self.sink = sink ?? { text in StandardStream.error.write(text) }
        self.clock = clock ?? { ProcessInfo.processInfo.systemUptime }
        start = self.clock()
        epochStart = start
        stepsDone = (max(firstEpoch, 1) - 1) * self.stepsPerEpoch
        startStepsDone = stepsDone
    }

    /// Records a finished training step: `images` samples with mean loss `loss`. On a terminal,
    /// redraws the progress line (at most ten times a second, and always on the epoch's last step).
    public func step(epoch: Int, step: Int, loss: Double, images: Int) {
        stepsDone += 1
        epochSteps += 1
        epochImages += images
        epochLossSum += loss
        guard interactive else { return }
        let now = clock()
        guard now - lastDraw >= 0.1 || step == stepsPerEpoch else { return }
        lastDraw = now
        let elapsed = now - epochStart
        let rate = elapsed > 0 ? Double(epochImages) / elapsed : 0
        let text =
            "epoch \(epoch)/\(totalEpochs)  step \(step)/\(stepsPerEpoch)  loss \(format(epochLossSum / Double(epochSteps), 4))"
            + "  \(format(rate, 1)) img/s  ETA \(Self.duration(eta(now)))"
        sink("\r\u{1B}[2K" + text)
        lineOpen = true
    }

    /// Ends an epoch: on a terminal, closes the progress line with the epoch's figures; otherwise
    /// prints them as one line. Resets the per-epoch counters.
    public func endEpoch(_ metrics: EpochMetrics) {
        var text = "epoch \(metrics.epoch)/\(totalEpochs)  loss \(format(metrics.trainLoss, 4))"
        if let loss = metrics.validationLoss { text += "  val loss \(format(loss, 4))" }
        if let dice = metrics.validationDiceForeground { text += "  val Dice \(format(dice, 4))" }
        if let iou = metrics.validationIoUForeground { text += "  val IoU \(format(iou, 4))" }
        text += "  \(format(metrics.imagesPerSecond, 1)) img/s"
        if let wait = metrics.dataWaitFraction { text += "  data wait \(format(100 * wait, 1)) %" }
        text += "  \(format(metrics.seconds, 1)) s  ETA \(Self.duration(eta(clock())))"
        sink((interactive && lineOpen ? "\r\u{1B}[2K" : "") + text + "\n")
        lineOpen = false
        epochStart = clock()
        epochImages = 0
        epochLossSum = 0
        epochSteps = 0
    }

    /// Prints a line of text (ending any open progress line first).
    public func message(_ text: String) {
        sink((lineOpen ? "\n" : "") + text + "\n")
        lineOpen = false
    }

    /// Seconds left: the run's mean time per step so far × the steps still to go.
    private func eta(_ now: Double) -> Double {
        let done = stepsDone - startStepsDone
        guard done > 0 else { return .nan }
        let remaining = totalEpochs * stepsPerEpoch - stepsDone
        return (now - start) / Double(done) * Double(max(remaining, 0))
    }

    /// "1:02:03", "4:05" or "--:--" for an unknown duration.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return "--:--" }
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60)
        let mmss = (m < 10 && h > 0 ? "0" : "") + "\(m):" + (s < 10 ? "0" : "") + "\(s)"
        return h > 0 ? "\(h):\(mmss)" : mmss
    }

    private func format(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        // A diverging run's 1e27 reads better as 1.000e+27 than as 28 digits.
        return abs(value) < 1e6 ? String(format: "%.\(decimals)f", value) : String(format: "%.3e", value)
    }
}
