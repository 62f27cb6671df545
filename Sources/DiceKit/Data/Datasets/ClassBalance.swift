// Class weights from a data set's labels, for losses on imbalanced data: median frequency
// balancing (Eigen & Fergus 2015, as SegNet trains). The frequency of class c is its pixels over
// the pixels of the images in which it occurs; its weight is the median of the frequencies over
// its own, so rare classes weigh more and the median class weighs 1.

extension SegmentationSource {
    /// Median-frequency-balanced class weights, one per class (background included): with
    /// f_c = (positions labelled c) / (labelled positions of the samples that contain c),
    /// w_c = median(f) / f_c; positions whose label is the ignore index count nowhere. Reads every
    /// sample once, in order.
    ///
    /// - Throws: what `sample(at:)` throws; `DiceKitError.value` naming a class that no sample
    ///   contains (its frequency is undefined: give the weights explicitly, or check the class count).
    public func medianFrequencyWeights() throws -> [Double] {
        var labelled = [Int](repeating: 0, count: classes)
        var containing = [Int](repeating: 0, count: classes)
        var counts = [Int](repeating: 0, count: classes)
        let ignore = ignoreLabel
        for index in 0..<count {
            let labels = try sample(at: index).labels
            for k in counts.indices { counts[k] = 0 }
            for label in labels where label != ignore { counts[Int(label)] += 1 }
            let known = counts.reduce(0, +)
            for k in counts.indices where counts[k] > 0 {
                labelled[k] += counts[k]
                containing[k] += known
            }
        }
        if let absent = containing.firstIndex(of: 0) {
            throw DiceKitError.value(
                "class \(absent) occurs in none of the \(count) training samples; expected every one of the "
                    + "\(classes) classes somewhere to balance their weights (give the weights explicitly)")
        }
        let frequencies = labelled.indices.map { Double(labelled[$0]) / Double(containing[$0]) }
        let sorted = frequencies.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        return frequencies.map { median / $0 }
    }
}
