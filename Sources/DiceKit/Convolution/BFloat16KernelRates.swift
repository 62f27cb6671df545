// The bfloat16 forward kernel in use (the AVX512-BF16 dot products, or the AMX tiles where they
// are in use), and the dot products' weight-gradient kernel, on one padded sample in cache, on the
// calling thread: what the kernels themselves reach, against the instruction's rate
// (BFloat16MultiplyAddRates). A convolution's benchmark figure (`conv3x3_*_bf16`) also holds the
// rounding of its Float operands into the packed copies, the Float output and the work split over
// the cores; these hold the kernels' arithmetic only, so that the two read together say where a
// layer's time goes.

internal import CDiceKitKernels
import Dispatch

/// Multiply–adds per nanosecond of the bfloat16 forward kernel (`measure`) and of the dot
/// products' weight-gradient kernel (`measureWeightGradient`) on one 3 × 3 'same' convolution of a
/// size × size sample, measured.
public enum BFloat16KernelRates {
    /// The forward kernel in use on one padded sample of `size` × `size` positions with
    /// `channels` input and output channels (multiples of 16), its bfloat16 output stored as
    /// bits (as between a U-Net's layers), on the calling thread: the fastest of `repetitions`
    /// passes after one warm-up, in multiply–adds per nanosecond. Nil where no bfloat16 kernel
    /// is in use (a CPU without AVX512-BF16 or AMX, or the rounded-operand arithmetic, which runs
    /// the Float kernels), or for channels not a multiple of 16 or a size below 1.
    public static func measure(channels: Int, size: Int, repetitions: Int = 5) -> Double? {
        precondition(repetitions > 0, "BFloat16KernelRates.measure: repetitions must be positive")
        guard takes(channels: channels, size: size) else { return nil }
        let tiles = BFloat16Arithmetic.current == .tiles
        guard tiles || BFloat16Arithmetic.current == .dotProducts else { return nil }
        var g = geometry(channels: channels, size: size)
        g.round_output = 1
        let x = paddedSample(channels: channels, size: size)
        let w = weight(channels: channels)
        var packed = [UInt16](repeating: 0, count: w.count)
        if tiles {
            dk_bf16_pack_weight_tiles(&g, w, &packed, 0)
        } else {
            dk_bf16_pack_weight(&g, w, &packed)
        }
        let positions = size * size
        var y = [UInt16](repeating: 0, count: positions * channels)
        let seconds = fastest(of: repetitions) {
            withUnsafePointer(to: g) { gp in
                y.withUnsafeMutableBytes { py in
                    runBFloat16ForwardKernel(tiles, gp, x, packed, nil, py.baseAddress!, 0, positions)
                }
            }
        }
        return Double(positions * w.count) / seconds
    }

    /// The weight-gradient kernel of the dot products (dk_conv_weight_grad_bf16) on the same
    /// sample, its output gradient and input already packed in pairs as the kernel reads them
    /// (the banded weight gradient's operands), on the calling thread: the fastest of
    /// `repetitions` passes after one warm-up, in multiply–adds per nanosecond. Nil where the
    /// dot products are not the arithmetic in use (the tiles' weight gradient is another
    /// kernel), or for the shapes `measure` refuses.
    public static func measureWeightGradient(channels: Int, size: Int, repetitions: Int = 5) -> Double? {
        precondition(repetitions > 0, "BFloat16KernelRates.measureWeightGradient: repetitions must be positive")
        guard takes(channels: channels, size: size), BFloat16Arithmetic.current == .dotProducts else { return nil }
        var g = geometry(channels: channels, size: size)
        let x = paddedSample(channels: channels, size: size)
        let padded = (size + 2) * (size + 2)
        var pairs = [UInt16](repeating: 0, count: 2 * padded * channels)
        dk_bf16_pack_pairs(&g, x, &pairs, padded)
        let dy = (0..<(size * size * channels)).map { Float(($0 * 7) % 11 - 5) / 16 }
        var packedDY = [UInt16](repeating: 0, count: size * ((size + 1) / 2) * 2 * channels)
        dk_bf16_pack_gradient(&g, dy, &packedDY)
        let rows = 9 * channels
        var dW = [Float](repeating: 0, count: rows * channels)
        let seconds = fastest(of: repetitions) {
            dk_conv_weight_grad_bf16(&g, pairs, 0, packedDY, 0, 1, &dW, 0, rows, 0, Int32(channels), 0)
        }
        return Double(size * size * rows * channels) / seconds
    }

    /// Whether a bfloat16 kernel may run here and takes the shape: channels a positive multiple
    /// of 16, a size of at least 1.
    private static func takes(channels: Int, size: Int) -> Bool {
        ComputePrecision.bfloat16Available && channels > 0 && channels % 16 == 0 && size > 0
    }

    /// A 3 × 3 'same' pass over one padded size × size sample, channels → channels.
    private static func geometry(channels: Int, size: Int) -> dk_conv_geometry {
        var g = dk_conv_geometry(
            hp: size + 2, wp: size + 2, output: [1, size, size], kernel: [1, 3, 3], cin: channels, cout: channels)
        g.weight_block = ConvBlocking.current.weightBlock
        return g
    }

    /// A padded sample of values in [0.5, 1) (bits 0x3F00 …), zeros around it, and the slack the
    /// tile kernels read past it.
    private static func paddedSample(channels: Int, size: Int) -> [UInt16] {
        let padded = (size + 2) * (size + 2)
        var x = [UInt16](repeating: 0, count: (padded + Int(DK_CONV_SLACK_POSITIONS) + 3) * channels)
        for y in 1...size {
            for c in (y * (size + 2) + 1) * channels..<((y * (size + 2) + size + 1) * channels) {
                x[c] = 0x3F00 | UInt16(truncatingIfNeeded: c &* 37 & 0x7F)
            }
        }
        return x
    }

    /// A [9 · channels, channels] kernel of small multiples of 1/64.
    private static func weight(channels: Int) -> [Float] {
        (0..<(9 * channels * channels)).map { Float(($0 * 13) % 17 - 8) / 64 }
    }

    /// The fastest of `repetitions` runs of `body` after one warm-up, in nanoseconds.
    private static func fastest(of repetitions: Int, _ body: () -> Void) -> Double {
        var fastest = Double.infinity
        for repetition in 0...repetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
            if repetition > 0 { fastest = Swift.min(fastest, elapsed) }
        }
        return fastest
    }
}
