// The Lovász losses over a batch split across processes (DistributedLoss.swift). Per image, a
// Lovász loss is a mean over samples: each rank's mean is weighted by its samples. Over the whole
// batch, the Lovász extension sorts the errors of every sample together, so the ranks gather
// them: every rank sends its errors and foreground flags per class (softmax) or for all channels
// (hinge), in sample order with each sample's count, and every rank sorts the global batch's
// errors (the same work as one process on it) and keeps the slopes of its own elements.
//
// Order: the gathered samples are interleaved as the trainer's global batch holds them (sample i
// of rank r at position i·p + r: DistributedShards deals every p-th sample to each rank). Ties
// between equal errors are broken by position (LovaszSort.swift), so the slopes are one
// process's bits on that batch. Cost: two Doubles per element and class sent by every rank.

extension LovaszLoss: DistributedSegmentationLoss {
    /// The Lovász loss of the global batch (`DistributedSegmentationLoss`): per image, the ranks'
    /// means weighted by their samples; over the whole batch, the errors of every rank sorted
    /// together (one gather of two Doubles per element and class), so the value and this rank's
    /// slopes are one process's on the trainer's global batch (sample i of rank r at position
    /// i·p + r, which orders the ties).
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool = true, gradient: Bool = false, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        if perImage {
            let local = try evaluate(prediction, target: target, gradient: gradient)
            let exchange = SampleMeanExchange(communicator: communicator, contributes: contributes, mean: true)
            return try exchange.combine(local, samples: prediction.shape.first ?? 0)
        }
        let exchange = LovaszErrorExchange(communicator: communicator, contributes: contributes)
        return try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient, exchange: exchange) },
            double: { try compute($0, $1, gradient, exchange: exchange) })
    }

    /// The whole batch's loss across the ranks: this rank's elements per task (class, or all
    /// channels for the hinge), gathered, sorted together, and this rank's slopes kept.
    func compute<T: BLASScalar>(
        _ x: Tensor<T>, _ target: SegmentationTarget<T>, _ wantGradient: Bool, exchange: LovaszErrorExchange
    ) throws -> DiceLossResult<T> {
        let softmax = variant == .softmax
        let input = try checkedInput(x, target)
        let p = softmax ? input.probabilities(x, .softmax) : x.scalars
        let tasks = softmax ? input.c : 1
        // This rank's elements per task, in sample order: flat index, error, foreground flag.
        var local: [LovaszErrorExchange.Elements<T>] = []
        for task in 0..<tasks {
            var elements = LovaszErrorExchange.Elements<T>()
            for i in 0..<(exchange.contributes ? input.n : 0) {
                let before = elements.keys.count
                for q in 0..<input.s where !input.ignored(i, q) {
                    for k in (softmax ? task..<(task + 1) : 0..<input.c) {
                        let j = input.index(i, k, q)
                        let g = input.target(i, k, q)
                        elements.indices.append(j)
                        elements.fg.append(g == 1 ? 1 : 0)
                        elements.keys.append(softmax ? Swift.abs(g - p[j]) : 1 - p[j] * (2 * g - 1))
                    }
                }
                elements.perSample.append(elements.keys.count - before)
            }
            local.append(elements)
        }
        let global = try exchange.gather(local)
        var gradient = wantGradient ? [T](repeating: 0, count: x.count) : []
        var sum = 0.0
        var present = 0.0
        for task in 0..<tasks {
            var (keys, fg) = (global[task].keys, global[task].fg)
            guard !softmax || fg.contains(1) else { continue }
            var slope = [T](repeating: 0, count: wantGradient ? keys.count : 0)
            let value = keys.withUnsafeMutableBufferPointer { k in
                fg.withUnsafeBufferPointer { f in
                    slope.withUnsafeMutableBufferPointer { s in
                        signedLovaszExtension(keys: k, fg: f, slope: wantGradient ? s : nil, kernel: kernelEnabled)
                    }
                }
            }
            sum += value
            present += 1
            guard wantGradient else { continue }
            // This rank's samples' slopes, from where the interleaving put them.
            var r = 0
            for (i, start) in global[task].ownStarts.enumerated() {
                for e in 0..<local[task].perSample[i] { gradient[local[task].indices[r + e]] = slope[start + e] }
                r += local[task].perSample[i]
            }
        }
        // Softmax: the mean over the classes present in the global batch; hinge: the one value
        // (rounded as `compute(_:_:_:)` rounds them).
        let factor = present > 0 ? 1 / present : 0
        var grad: Tensor<T>? = nil
        if wantGradient {
            if factor != 1 { for j in gradient.indices { gradient[j] *= T(factor) } }
            if softmax { input.backpropagate(&gradient, probabilities: p, .softmax) }
            grad = Tensor(uncheckedShape: x.shape, storage: gradient)
        }
        return DiceLossResult(
            loss: Tensor(uncheckedShape: [], storage: [T(present > 0 ? sum / present : 0)]), gradient: grad)
    }
}

/// Gathers the Lovász errors of a batch split across ranks (LovaszLoss+Exchange.swift).
struct LovaszErrorExchange {
    let communicator: any Communicator
    /// False on a rank without samples in this step: it sends none.
    let contributes: Bool

    /// One rank's elements of one task, in sample order.
    struct Elements<T: BLASScalar> {
        var indices: [Int] = []
        var keys: [T] = []
        var fg: [UInt8] = []
        /// Elements of each sample (positions not ignored × channels of the task).
        var perSample: [Int] = []
    }

    /// Per task, the global batch's errors and foreground flags (sample i of rank r at position
    /// i·p + r), and where each of this rank's samples starts in them.
    func gather<T: BLASScalar>(_ local: [Elements<T>]) throws -> [(keys: [T], fg: [UInt8], ownStarts: [Int])] {
        // [samples, then per task: the samples' counts, the errors, the flags].
        let samples = local.first?.perSample.count ?? 0
        var message = [Double(samples)]
        for elements in local {
            message += elements.perSample.map(Double.init)
            message += elements.keys.map { Double($0) }
            message += elements.fg.map(Double.init)
        }
        let parts = try communicator.allGather(message)
        // Each rank's samples and, per task, where its counts, errors and flags start.
        var counts: [[[Int]]] = [] // [rank][task][sample]
        var offsets: [[Int]] = [] // [rank][task]: index of the task's first error in the rank's part
        for (rank, part) in parts.enumerated() {
            let malformed = DiceKitError.value(
                "rank \(rank) sent a malformed list of \(part.count) Lovász values; expected \(local.count) tasks' "
                    + "counts, errors and flags: the ranks' models or losses differ")
            // A count is a whole number that fits in the part.
            let count = { (v: Double) -> Int? in v >= 0 && v <= Double(part.count) && v == v.rounded() ? Int(v) : nil }
            guard let first = part.first, let n = count(first) else { throw malformed }
            var at = 1
            var rankCounts: [[Int]] = []
            var rankOffsets: [Int] = []
            for _ in local.indices {
                guard at + n <= part.count else { throw malformed }
                let c = part[at..<(at + n)].compactMap(count)
                let m = c.reduce(0, +)
                guard c.count == n, at + n + 2 * m <= part.count else { throw malformed }
                rankCounts.append(c)
                rankOffsets.append(at + n)
                at += n + 2 * m
            }
            guard at == part.count else { throw malformed }
            counts.append(rankCounts)
            offsets.append(rankOffsets)
        }
        let ranks = parts.count
        let rounds = counts.map { $0.first?.count ?? 0 }.max() ?? 0
        return local.indices.map { task in
            let totals = (0..<ranks).map { counts[$0][task].reduce(0, +) } // each rank's errors, then its flags
            var keys = [T]()
            var fg = [UInt8]()
            keys.reserveCapacity(totals.reduce(0, +))
            fg.reserveCapacity(totals.reduce(0, +))
            var ownStarts: [Int] = []
            var next = [Int](repeating: 0, count: ranks) // next error of each rank's task
            for i in 0..<rounds {
                for rank in 0..<ranks where i < counts[rank][task].count {
                    let m = counts[rank][task][i]
                    let part = parts[rank]
                    let base = offsets[rank][task] + next[rank]
                    let flags = base + totals[rank]
                    if rank == communicator.rank { ownStarts.append(keys.count) }
                    keys += part[base..<(base + m)].map { T($0) }
                    fg += part[flags..<(flags + m)].map { $0 == 1 ? 1 : 0 }
                    next[rank] += m
                }
            }
            return (keys, fg, ownStarts)
        }
    }
}
