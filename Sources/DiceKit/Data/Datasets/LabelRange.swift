// The values a data set's masks may hold: class indices 0..<K and, with an ignore index, that
// value at the positions nobody labelled. The class-count inference and the label checks every
// loader shares (in memory, image folders, .npy), with their messages, live here.

/// Class indices 0..<`classes`, and the ignore index if there is one.
struct LabelRange: Sendable, Equatable {
    /// K.
    let classes: Int
    /// The value of unlabelled positions (outside 0..<K), or nil.
    let ignore: Int32?

    /// The range of a data set: the given class count, else the largest label other than the
    /// ignore index + 1 (at least 2).
    ///
    /// - Throws: `DiceKitError.value` when the ignore index does not fit 32 bits or is one of
    ///   the class indices, or the class count is below 1.
    init(classes given: Int?, ignoreIndex: Int?, largest: Int32) throws {
        let ignore = try SegmentationGeometry.ignoreLabel(ignoreIndex)
        let k = given ?? max(2, Int(largest) + 1)
        guard k >= 1 else { throw DiceKitError.invalidValue(name: "class count", value: "\(k)", expected: "≥ 1") }
        if let i = ignore, i >= 0, Int(i) < k {
            throw DiceKitError.value(
                "ignore index \(i) is one of the class indices 0..<\(k); expected a value outside them (255 is usual)")
        }
        classes = k
        self.ignore = ignore
    }

    /// Whether `label` is a class index or the ignore index.
    @inline(__always) func accepts(_ label: Int32) -> Bool {
        (label >= 0 && Int(label) < classes) || label == ignore
    }

    /// "a class index in 0..<K" (", or the ignore index I").
    var expected: String {
        "a class index in 0..<\(classes)" + (ignore.map { " or the ignore index \($0)" } ?? "")
    }

    /// Checks every label of one sample or file.
    ///
    /// - Parameter context: names the file (and sample) in the message; nil for in-memory labels,
    ///   whose message names the element instead.
    /// - Throws: `DiceKitError.value` naming the first label that is neither.
    func check(_ labels: [Int32], context: String?) throws {
        guard let bad = labels.firstIndex(where: { !accepts($0) }) else { return }
        guard let context else {
            throw DiceKitError.value("label \(labels[bad]) at element \(bad); expected \(expected)")
        }
        throw DiceKitError.value("\(context): label \(labels[bad]); expected \(expected) (\(remedy(labels[bad])))")
    }

    /// What to do about a label outside the range, for messages.
    func remedy(_ label: Int32) -> String {
        ignore == nil
            ? "raise the class count, check the masks, or give --ignore-index \(label) if it marks unlabelled pixels"
            : "raise the class count, or check the masks"
    }
}

/// What a loader's checking pass learns from the masks, one file or sample at a time.
struct LabelSurvey {
    /// The ignore index, left out of the statistics.
    let ignore: Int32?
    /// The largest label other than the ignore index.
    private(set) var largest: Int32 = 0
    /// Whether any label (other than the ignore index) is 255, and whether all are 0 or 255.
    private(set) var any255 = false
    private(set) var only0or255 = true

    init(ignore: Int32?) { self.ignore = ignore }

    /// Adds the labels of one file or sample.
    mutating func add(_ labels: [Int32]) {
        for label in labels where label != ignore {
            largest = max(largest, label)
            if label == 255 { any255 = true } else if label != 0 { only0or255 = false }
        }
    }

    /// Masks read as class indices that hold only 0 and 255 are binary masks read the wrong way:
    /// a one-line error naming `path` and both ways out.
    ///
    /// - Throws: `DiceKitError.value` for such masks.
    func refuseBinaryMasksReadAsIndices(path: String, binaryHint: String) throws {
        guard any255, only0or255 else { return }
        throw DiceKitError.value(
            "\(path): the masks hold only 0 and 255; expected class indices 0..<K (\(binaryHint))")
    }

    /// The data set's `LabelRange` (see `LabelRange.init(classes:ignoreIndex:largest:)`).
    ///
    /// - Throws: as that initialiser, the message prefixed with `path`; `DiceKitError.value` when
    ///   a label reaches the given class count.
    func range(classes: Int?, path: String) throws -> LabelRange {
        let range: LabelRange
        do {
            range = try LabelRange(classes: classes, ignoreIndex: ignore.map(Int.init), largest: largest)
        } catch DiceKitError.value(let message) {
            throw DiceKitError.value("\(path): \(message)")
        }
        if Int(largest) >= range.classes {
            throw DiceKitError.value("\(path): label \(largest); expected \(range.expected) (\(range.remedy(largest)))")
        }
        return range
    }
}

extension DatasetOptions {
    /// The ignore index as a mask value, after the checks that need no data: it must fit 32 bits,
    /// lie outside the given class count, and the masks must be able to hold it (binary masks
    /// cannot: every pixel becomes 0 or 1).
    ///
    /// - Parameter encoding: the resolved mask encoding.
    /// - Throws: `DiceKitError.option` for binary masks with an ignore index; `DiceKitError.value`
    ///   for an index beyond 32 bits or among the given classes.
    func ignoreLabel(encoding: MaskEncoding) throws -> Int32? {
        guard let ignoreIndex else { return nil }
        if case .binary = encoding {
            throw DiceKitError.option(
                "ignore index \(ignoreIndex) with binary masks (every pixel is read as 0 or 1, so none is unlabelled); expected class-index masks (--mask-encoding index or palette)"
            )
        }
        if let classes { return try LabelRange(classes: classes, ignoreIndex: ignoreIndex, largest: 0).ignore }
        return try SegmentationGeometry.ignoreLabel(ignoreIndex)
    }
}
