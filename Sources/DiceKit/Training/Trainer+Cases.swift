// Evaluation over whole cases of any size (`CaseSource`), each predicted through
// `InferenceSettings` (padding, a sliding window, flips): how a network trained on patches is
// scored on whole scans, as nnU-Net's and MONAI's validation do it. A case read resampled to a
// target spacing is scored on its stored grid, against its stored label map. The loss is averaged
// over cases (each case one batch of one), the Dice and IoU pooled as `evaluate(_:)` pools them.

extension Trainer {
    /// Loss and per-class Dice and IoU over whole cases, one at a time (see the file header).
    /// `postprocessing`, `ensemble` and `observe` act as in `evaluate(_:batchSize:postprocessing:ensemble:observe:)`;
    /// `observe` is called once per case, in order, with its labels [1, extents…] (on the stored
    /// grid for a case read resampled, see `CaseSource.storedGrid(ofCase:)`).
    ///
    /// - Throws: `DiceKitError.shape` / `.value` when the cases' channels, rank, classes or
    ///   ignore index do not fit the model; as `Predictor.logits(_:image:settings:)` and the
    ///   cases' reads.
    public func evaluate(
        cases: any CaseSource, settings: InferenceSettings, postprocessing: (any LabelPostprocessor)? = nil,
        ensemble: Ensemble? = nil, observe: ((_ predicted: LabelMap, _ target: LabelMap) throws -> Void)? = nil
    ) throws -> (loss: Double, dice: [Double], iou: [Double]) {
        let c = model.configuration
        if let ignore = cases.ignoreIndex, ignore != configuration.ignoreIndex {
            throw DiceKitError.value(
                "the data marks unlabelled positions with \(ignore); the training configuration's ignore index is \(configuration.ignoreIndex.map(String.init) ?? "not set"); expected the same (--ignore-index \(ignore))"
            )
        }
        guard cases.channels == c.inputChannels, cases.spatialRank == c.spatialRank else {
            throw DiceKitError.shape(
                "data of \(cases.spatialRank)-D cases with \(cases.channels) channel(s); the model expects \(c.spatialRank)-D with \(c.inputChannels)"
            )
        }
        try checkLabelCount(cases.classes)
        if let ensemble, !c.predictsLike(ensemble.configuration) {
            throw DiceKitError.value(
                "the ensemble takes \(ensemble.configuration.inputChannels) channel(s) and predicts \(ensemble.configuration.classes) classes; the trainer's model \(c.inputChannels) and \(c.classes)"
            )
        }
        var pool = overlapPool()
        var lossSum = 0.0
        for index in 0..<cases.count {
            let extents = cases.extents(ofCase: index)
            let sample = try cases.readCase(index)
            let image = Tensor(uncheckedShape: extents + [cases.channels], storage: sample.image)
            let stored = cases.storedGrid(ofCase: index)?.extents
            var (logits, predicted) = try wholeCasePrediction(
                image, settings: settings, ensemble: ensemble,
                storedGrid: stored.map { grid in
                    (grid, { try cases.scoresOnStoredGrid($0, channels: $1, ofCase: index) })
                })
            let target = try LabelMap(
                shape: [1] + (stored ?? extents),
                int32Labels: stored == nil ? sample.labels : try cases.readStoredLabels(index))
            let finite = !logits.withUnsafeBufferPointer { $0.contains { !$0.isFinite } }
            lossSum += finite ? Double(try loss.evaluate(logits, target: .labels(target), gradient: false).value) : .nan
            if let postprocessing { predicted = try postprocessing.apply(to: predicted) }
            try observe?(predicted, target)
            try pool.add(predicted: predicted, target: target)
        }
        let means = pool.means
        return (lossSum / Double(max(cases.count, 1)), means.dice, means.iou)
    }

    /// The logits [1, extents…, K] and labels [1, extents…] of one image [extents…, C]: the
    /// model's through `settings`, or the ensemble's as `predictions(_:)` combines them. With a
    /// stored grid (its extents, and how scores of K channels reach it: the case source's
    /// `scoresOnStoredGrid`), the logits (the ensemble's probabilities) are first brought to it,
    /// as `predict` maps a resized scan's or picture's scores back before the arg-max.
    private func wholeCasePrediction(
        _ image: Tensor<Float>, settings: InferenceSettings, ensemble: Ensemble?,
        storedGrid: (extents: [Int], scores: ([Float], Int) throws -> [Float])?
    ) throws -> (Tensor<Float>, LabelMap) {
        let batched = { (t: Tensor<Float>) throws in
            guard let storedGrid else { return Tensor(uncheckedShape: [1] + t.shape, storage: t.scalars) }
            let k = t.shape.last!
            return try Tensor(shape: [1] + storedGrid.extents + [k], scalars: try storedGrid.scores(t.scalars, k))
        }
        let check = { [rejectsNonFiniteOutputs] (scores: Tensor<Float>, what: String) in
            if rejectsNonFiniteOutputs { try Predictor.requireFinite(scores, of: what) }
        }
        guard let ensemble else {
            let logits = try batched(try Predictor.logits(model, image: image, settings: settings))
            try check(logits, "the model's logits")
            return (logits, try model.configuration.labels(logits: logits))
        }
        if ensemble.combination == .logits {
            let logits = try batched(try ensemble.meanLogits(image: image, settings: settings))
            try check(logits, "the ensemble's mean logits")
            return (logits, try ensemble.configuration.labels(logits: logits))
        }
        let probabilities = try batched(try ensemble.probabilities(image: image, settings: settings))
        try check(probabilities, "the ensemble's probabilities")
        return (ensemble.logits(fromProbabilities: probabilities), try ensemble.labels(probabilities: probabilities))
    }
}
