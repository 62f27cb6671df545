// The gradient all-reduce of data-parallel training, overlapped with the backward pass: the
// U-Net's parameters are grouped by the stage that owns them (head, dec.j, up.j, mid, down.i);
// when backward finishes a stage its group's gradients are final, and a non-blocking all-reduce
// of them starts (MPI_Iallreduce) while backward goes on with the earlier stages. Each finished
// stage also lets the transfers in flight advance (MPI_Test), since MPI moves non-blocking
// collectives only inside MPI calls. After backward, `finish` waits for all of them and writes
// the sums back.
//
// Ordering: collectives must start in the same order on every rank. Groups start strictly in
// the order backward finishes them (a fixed order per architecture), and a rank whose backward
// did not run (no samples in a short last step) starts them all, in that order, in `finish`.

/// One step's bucketed, overlapped all-reduce of a U-Net's gradients.
final class GradientBuckets {
    private let communicator: any Communicator
    /// Stage names in the order backward finishes them, and each stage's trainable parameters.
    private let order: [String]
    private let groups: [String: [Parameter<Float>]]
    private var finished: Set<String> = []
    private var next = 0
    private var pending: [(parameters: [Parameter<Float>], transfer: any PendingAllReduce)] = []
    private var failure: Error?

    /// Buckets for `model`'s trainable parameters over `communicator`'s ranks.
    init(model: UNet<Float>, communicator: any Communicator) {
        self.communicator = communicator
        let depth = model.configuration.depth
        var order = ["head"]
        for j in (0..<depth).reversed() { order += ["dec.\(j)", "concat.\(j)", "up.\(j)"] }
        order.append("mid")
        for i in (0..<depth).reversed() { order += ["pool.\(i)", "down.\(i)"] }
        // Parameters whose stage backward does not report go last, in one group.
        order.append("")
        var groups: [String: [Parameter<Float>]] = [:]
        for parameter in model.parameters.trainable {
            let parts = parameter.name.split(separator: ".")
            let stage =
                parts.count > 1 && (parts[0] == "head" || parts[0] == "mid")
                ? String(parts[0])
                : parts.count > 2 ? "\(parts[0]).\(parts[1])" : ""
            groups[order.contains(stage) ? stage : "", default: []].append(parameter)
        }
        self.order = order
        self.groups = groups
    }

    /// Backward finished `stage`: start the groups that are now due and let transfers advance.
    func stageFinished(_ stage: String) {
        guard failure == nil else { return }
        finished.insert(stage)
        do {
            try startDue()
            for item in pending { _ = try item.transfer.test() }
        } catch {
            failure = error
        }
    }

    /// Starts whatever has not started (all of it on a rank whose backward did not run), waits
    /// for every transfer and replaces each gradient by its sum over the ranks.
    ///
    /// - Throws: the first communication error of the step.
    func finish() throws {
        if let failure { throw failure }
        finished.formUnion(order)
        try startDue()
        for (parameters, transfer) in pending {
            let sums = try transfer.wait()
            var start = 0
            for parameter in parameters {
                let count = parameter.gradient.count
                parameter.gradient = Tensor(
                    uncheckedShape: parameter.gradient.shape, storage: Array(sums[start..<(start + count)]))
                start += count
            }
        }
        pending = []
    }

    private func startDue() throws {
        while next < order.count, finished.contains(order[next]) {
            if let parameters = groups[order[next]], !parameters.isEmpty {
                var flat = [Float]()
                flat.reserveCapacity(parameters.reduce(0) { $0 + $1.gradient.count })
                for parameter in parameters { flat += parameter.gradient.scalars }
                pending.append((parameters, try communicator.startAllReduceSum(flat)))
            }
            next += 1
        }
    }
}
