// The axes of a prediction and the shape checks of its target, shared by every loss and by the
// overlap metrics: one place for the rank, layout and label-shape rules and their messages.

/// A prediction's axes: batch N, channels C and spatial positions S per sample, with the strides
/// of the layout, checked against a target.
struct SegmentationGeometry {
    /// The prediction's shape.
    let shape: [Int]
    /// Batch size, channels, spatial positions per sample.
    let n: Int, c: Int, s: Int
    /// The spatial extents (the shape without the batch and channel axes).
    let spatial: [Int]
    let channelsLast: Bool
    /// Prefixes every message (e.g. "focal loss: "); empty for the Dice family and the metrics.
    let prefix: String

    /// Checks that `shape` has rank ≥ 3 and no empty axis.
    ///
    /// - Parameter context: names the caller in messages (default none).
    /// - Throws: `DiceKitError.shape` naming the shape and what was expected.
    init(prediction shape: [Int], layout: Layout, context: String? = nil) throws {
        prefix = context.map { $0 + ": " } ?? ""
        guard shape.count >= 3 else {
            throw DiceKitError.shape(
                "\(prefix)prediction shape \(shape) has rank \(shape.count); expected [N, spatial…, C] or [N, C, spatial…] (rank ≥ 3)"
            )
        }
        let channelAxis = layout.channelAxis(rank: shape.count)
        var spatial = shape
        spatial.remove(at: channelAxis)
        spatial.removeFirst()
        self.shape = shape
        self.spatial = spatial
        n = shape[0]
        c = shape[channelAxis]
        s = spatial.reduce(1, *)
        channelsLast = layout == .channelsLast
        guard n >= 1, c >= 1, s >= 1 else {
            throw DiceKitError.shape("\(prefix)prediction shape \(shape) has an empty axis; expected every extent ≥ 1")
        }
    }

    /// Elements between consecutive positions / channels of one sample.
    var positionStride: Int { channelsLast ? c : 1 }
    var channelStride: Int { channelsLast ? 1 : s }
    /// Labels must lie in 0..<labelClasses (2 for a single channel: a binary mask).
    var labelClasses: Int { c == 1 ? 2 : c }
    /// g_c = (label == c + labelOffset): 1 for a single channel (label 1 is the foreground).
    var labelOffset: Int32 { c == 1 ? 1 : 0 }

    /// Checks that `labels` has the spatial shape (optionally with a size-1 channel axis).
    func check(labels: LabelMap) throws {
        let withChannel = channelsLast ? [n] + spatial + [1] : [n, 1] + spatial
        guard labels.shape == [n] + spatial || labels.shape == withChannel else {
            throw DiceKitError.shape(
                "\(prefix)label shape \(labels.shape) does not match prediction shape \(shape); expected \([n] + spatial)"
            )
        }
    }

    /// Checks that a dense target has the prediction's shape.
    func check(denseShape targetShape: [Int]) throws {
        guard targetShape == shape else {
            throw DiceKitError.shape(
                "\(prefix)target shape \(targetShape) does not match prediction shape \(shape); expected the same shape (or integer labels \([n] + spatial))"
            )
        }
    }

    /// The ignore index as a label value.
    ///
    /// - Throws: `DiceKitError.value` when it does not fit in 32 bits.
    static func ignoreLabel(_ index: Int?) throws -> Int32? {
        guard let k = index else { return nil }
        guard let label = Int32(exactly: k) else {
            throw DiceKitError.value("ignore index \(k) does not fit in 32 bits")
        }
        return label
    }
}
