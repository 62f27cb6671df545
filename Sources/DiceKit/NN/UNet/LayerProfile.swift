// Optional per-stage timing of a network's forward and backward passes, for the benchmark's
// "where the time goes" breakdown. Off by default; when on, it adds two clock reads per stage.

import Dispatch

/// Wall-clock seconds spent in each named stage of a network, accumulated over calls.
public final class LayerProfile {
    /// Seconds per stage name, forward and backward separately, in first-seen order.
    public private(set) var stages: [(name: String, forward: Double, backward: Double)] = []
    private var index: [String: Int] = [:]

    /// An empty profile.
    public init() {}

    /// Runs `body`, adding its duration to the stage `name` (forward or backward).
    func measure<R>(_ name: String, backward: Bool, _ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let i: Int
        if let known = index[name] {
            i = known
        } else {
            i = stages.count
            index[name] = i
            stages.append((name, 0, 0))
        }
        if backward { stages[i].backward += seconds } else { stages[i].forward += seconds }
        return result
    }

    /// Clears every figure.
    public func reset() {
        stages = []
        index = [:]
    }
}
