// The geometry of one convolution: extents, kernel, stride, padding, dilation and groups,
// validated once and normalised to three spatial axes (a 2-D convolution is a 3-D one with
// depth 1, kernel depth 1, stride 1 and no depth padding), so one set of kernels serves both.
//
// Output extent per axis: out = ⌊(in + before + after − dilation·(kernel − 1) − 1) / stride⌋ + 1.

/// A validated convolution geometry on channels-last tensors, normalised to (D, H, W).
///
/// "x space" is the convolution's input [N, D, H, W, inChannels]; "y space" is its output
/// [N, OD, OH, OW, outChannels]. A transposed convolution uses the same geometry with the roles
/// swapped (its input lives in y space, its output in x space).
struct ConvGeometry: Equatable, Sendable {
    /// 2 or 3: how many spatial axes the user's tensors have.
    var spatialRank: Int
    var batch: Int
    /// Input extents (D, H, W).
    var input: [Int]
    /// Output extents (OD, OH, OW).
    var output: [Int]
    var kernel: [Int]
    var stride: [Int]
    var dilation: [Int]
    var padBefore: [Int]
    var padAfter: [Int]
    var inChannels: Int
    var outChannels: Int
    var groups: Int

    var inPerGroup: Int { inChannels / groups }
    var outPerGroup: Int { outChannels / groups }
    var kernelVolume: Int { kernel[0] * kernel[1] * kernel[2] }
    /// Columns of one group's lowered matrix: kernel volume × input channels per group.
    var patch: Int { kernelVolume * inPerGroup }
    var inputPixels: Int { input[0] * input[1] * input[2] }
    var outputPixels: Int { output[0] * output[1] * output[2] }
    /// Rows of the lowered matrix over the whole batch: N · OD · OH · OW.
    var outputRows: Int { batch * outputPixels }

    /// A 1×1(×1), stride-1, unpadded convolution: the input already is the lowered matrix.
    var isPointwise: Bool {
        kernel == [1, 1, 1] && stride == [1, 1, 1] && padBefore == [0, 0, 0] && padAfter == [0, 0, 0]
    }

    /// The user-facing shape [N, spatial…, C] of x space.
    var inputShape: [Int] { [batch] + Array(input.suffix(spatialRank)) + [inChannels] }
    /// The user-facing shape [N, spatial…, C] of y space.
    var outputShape: [Int] { [batch] + Array(output.suffix(spatialRank)) + [outChannels] }
    /// The user-facing kernel shape [k…, inChannels / groups, outChannels].
    var weightShape: [Int] { Array(kernel.suffix(spatialRank)) + [inPerGroup, outChannels] }

    /// Validates a convolution of an x-space tensor of shape `inputShape` by a kernel of
    /// spatial extent `kernel` with `inPerGroup` input and `outChannels` output channels.
    ///
    /// - Throws: `DiceKitError.shape` for a wrong rank, mismatched channels, channels not
    ///   divisible by `groups`, or a dilated kernel larger than the padded input;
    ///   `DiceKitError.option` for non-positive stride, dilation or groups, or bad padding.
    init(
        operation: String, inputShape: [Int], kernel: [Int], inPerGroup: Int, outChannels: Int,
        stride: [Int], padding: Padding, dilation: [Int], groups: Int
    ) throws {
        let rank = kernel.count
        guard rank == 2 || rank == 3 else {
            throw DiceKitError.shape("\(operation): kernel has \(rank) spatial axes; expected 2 or 3")
        }
        guard inputShape.count == rank + 2 else {
            let expected = rank == 2 ? "[batch, height, width, channels]" : "[batch, depth, height, width, channels]"
            throw DiceKitError.shape(
                "\(operation): input shape \(inputShape) has rank \(inputShape.count); expected rank \(rank + 2) \(expected)"
            )
        }
        guard inputShape.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape("\(operation): input shape \(inputShape) has an empty axis")
        }
        guard kernel.allSatisfy({ $0 >= 1 }), inPerGroup >= 1, outChannels >= 1 else {
            throw DiceKitError.shape(
                "\(operation): kernel \(kernel) with \(inPerGroup) input and \(outChannels) output channels has an empty axis"
            )
        }
        guard groups >= 1 else { throw DiceKitError.option("\(operation): groups must be ≥ 1, got \(groups)") }
        let stride = try broadcastSpatial(stride, rank: rank, name: "\(operation): stride")
        let dilation = try broadcastSpatial(dilation, rank: rank, name: "\(operation): dilation")
        guard stride.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.option("\(operation): stride must be ≥ 1, got \(stride)")
        }
        guard dilation.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.option("\(operation): dilation must be ≥ 1, got \(dilation)")
        }
        let channels = inputShape[rank + 1]
        guard outChannels % groups == 0 else {
            throw DiceKitError.shape(
                "\(operation): \(outChannels) output channels are not divisible by groups = \(groups)")
        }
        guard channels % groups == 0 else {
            throw DiceKitError.shape(
                "\(operation): input shape \(inputShape) has \(channels) channels, not divisible by groups = \(groups)")
        }
        guard channels == inPerGroup * groups else {
            throw DiceKitError.shape(
                "\(operation): input shape \(inputShape) has \(channels) channels; the kernel expects \(inPerGroup) × \(groups) groups = \(inPerGroup * groups)"
            )
        }
        let spatial = Array(inputShape[1...rank])
        let (before, after) = try padding.resolve(input: spatial, kernel: kernel, stride: stride, dilation: dilation)
        var out = [Int](repeating: 0, count: rank)
        for i in 0..<rank {
            let padded = spatial[i] + before[i] + after[i]
            let span = dilation[i] * (kernel[i] - 1) + 1
            guard span <= padded else {
                throw DiceKitError.shape(
                    "\(operation): kernel \(kernel) (dilation \(dilation), extent \(span) on spatial axis \(i)) is larger than the padded input \(padded) of input shape \(inputShape) with padding \(before)/\(after)"
                )
            }
            out[i] = (padded - span) / stride[i] + 1
        }
        let lift = { (values: [Int], fill: Int) in rank == 3 ? values : [fill] + values }
        self.spatialRank = rank
        self.batch = inputShape[0]
        self.input = lift(spatial, 1)
        self.output = lift(out, 1)
        self.kernel = lift(kernel, 1)
        self.stride = lift(stride, 1)
        self.dilation = lift(dilation, 1)
        self.padBefore = lift(before, 0)
        self.padAfter = lift(after, 0)
        self.inChannels = channels
        self.outChannels = outChannels
        self.groups = groups
    }
}
