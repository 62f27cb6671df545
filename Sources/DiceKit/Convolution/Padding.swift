// Padding of the spatial axes of a convolution, and its resolution into explicit amounts.
//
// The output extent of a convolution along one spatial axis is
//     out = ⌊(in + before + after − dilation·(kernel − 1) − 1) / stride⌋ + 1
// `same` follows TensorFlow: out = ⌈in / stride⌉, total = max((out − 1)·stride + dilation·(kernel − 1) + 1 − in, 0),
// before = ⌊total / 2⌋, after = total − before (the extra element goes after, as in PyTorch's
// `padding="same"` for stride 1).

/// How a convolution or pooling pads the spatial axes of its input with zeros.
public enum Padding: Sendable, Equatable {
    /// No padding: only windows that fit inside the input.
    case valid
    /// TensorFlow's "SAME": the output extent is ⌈input / stride⌉; the total padding
    /// max((out − 1)·stride + dilation·(kernel − 1) + 1 − in, 0) is split with the smaller half before.
    case same
    /// Explicit amounts per spatial axis (one entry per axis, or one entry for all axes):
    /// `before[i]` zeros before and `after[i]` zeros after axis i. Padding on one side only is
    /// `explicit(before: [0, 0], after: [1, 1])`.
    case explicit(before: [Int], after: [Int])

    /// The same amount before and after each spatial axis (PyTorch's `padding=p`); one entry per
    /// axis, or one entry for all axes.
    public static func symmetric(_ amounts: [Int]) -> Padding { .explicit(before: amounts, after: amounts) }

    /// Explicit (before, after) amounts for each of `rank` axes.
    ///
    /// - Throws: `DiceKitError.option` when an explicit list has the wrong length or a negative entry.
    func resolve(input: [Int], kernel: [Int], stride: [Int], dilation: [Int]) throws -> (before: [Int], after: [Int]) {
        let rank = input.count
        switch self {
        case .valid:
            return ([Int](repeating: 0, count: rank), [Int](repeating: 0, count: rank))
        case .same:
            var before = [Int](repeating: 0, count: rank)
            var after = before
            for i in 0..<rank {
                let out = (input[i] + stride[i] - 1) / stride[i]
                let total = Swift.max((out - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 - input[i], 0)
                before[i] = total / 2
                after[i] = total - before[i]
            }
            return (before, after)
        case .explicit(let b, let a):
            let before = try broadcastSpatial(b, rank: rank, name: "padding before")
            let after = try broadcastSpatial(a, rank: rank, name: "padding after")
            guard before.allSatisfy({ $0 >= 0 }), after.allSatisfy({ $0 >= 0 }) else {
                throw DiceKitError.option("padding must be ≥ 0, got before \(b), after \(a)")
            }
            return (before, after)
        }
    }
}

/// `values` with one entry per spatial axis: a single entry is repeated `rank` times.
///
/// - Throws: `DiceKitError.option` when the count is neither 1 nor `rank`.
func broadcastSpatial(_ values: [Int], rank: Int, name: String) throws -> [Int] {
    if values.count == rank { return values }
    if values.count == 1 { return [Int](repeating: values[0], count: rank) }
    throw DiceKitError.option("\(name) \(values) needs 1 or \(rank) entries for \(rank) spatial axes")
}
