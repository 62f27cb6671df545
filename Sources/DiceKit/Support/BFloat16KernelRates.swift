// The bfloat16 forward kernel in use (the AVX512-BF16 dot products, or the AMX tiles where they
// are in use) on one padded sample in cache, on the calling thread: what the kernel itself
// reaches, against the instruction's rate (BFloat16MultiplyAddRates). A convolution's benchmark
// figure (`conv3x3_*_bf16`) also holds the rounding of a Float input into the padded copies, the
// Float output and the work split over the cores; this one holds the tiles' arithmetic only, so
// that the two read together say where a layer's time goes.

internal import CDiceKitKernels
import Dispatch

/// Multiply–adds per nanosecond of the bfloat16 forward kernel on one 3 × 3 'same' convolution
/// of a size × size sample, measured (`measure`).
public enum BFloat16KernelRates {
    /// The forward kernel in use on one padded sample of `size` × `size` positions with
    /// `channels` input and output channels (multiples of 16), its bfloat16 output stored as
    /// bits (as between a U-Net's layers), on the calling thread: the fastest of `repetitions`
    /// passes after one warm-up, in multiply–adds per nanosecond. Nil on a CPU whose bfloat16
    /// level is neither AVX512-BF16 nor AMX, or for channels not a multiple of 16 or a size
    /// below 1.
    public static func measure(channels: Int, size: Int, repetitions: Int = 5) -> Double? {
        precondition(repetitions > 0, "BFloat16KernelRates.measure: repetitions must be positive")
        guard ComputePrecision.bfloat16Available, channels > 0, channels % 16 == 0, size > 0 else { return nil }
        let tiles = BFloat16Arithmetic.current == .tiles
        guard tiles || BFloat16Arithmetic.current == .dotProducts else { return nil }
        var g = dk_conv_geometry(
            hp: size + 2, wp: size + 2, output: [1, size, size], kernel: [1, 3, 3], cin: channels, cout: channels)
        g.weight_block = ConvBlocking.current.weightBlock
        g.round_output = 1
        let positions = size * size
        let weights = 9 * channels * channels
        // A padded sample of values in [0.5, 1) (bits 0x3F00 …), zeros around it, and the slack
        // the tile kernels read past it.
        let padded = (size + 2) * (size + 2)
        var x = [UInt16](repeating: 0, count: (padded + Int(DK_CONV_SLACK_POSITIONS) + 3) * channels)
        for y in 1...size {
            for c in (y * (size + 2) + 1) * channels..<((y * (size + 2) + size + 1) * channels) {
                x[c] = 0x3F00 | UInt16(truncatingIfNeeded: c &* 37 & 0x7F)
            }
        }
        let w = (0..<weights).map { Float(($0 * 13) % 17 - 8) / 64 }
        var packed = [UInt16](repeating: 0, count: weights)
        if tiles {
            dk_bf16_pack_weight_tiles(&g, w, &packed, 0)
        } else {
            dk_bf16_pack_weight(&g, w, &packed)
        }
        var y = [UInt16](repeating: 0, count: positions * channels)
        var fastest = Double.infinity
        for repetition in 0...repetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            withUnsafePointer(to: g) { gp in
                y.withUnsafeMutableBytes { py in
                    runBFloat16ForwardKernel(tiles, gp, x, packed, nil, py.baseAddress!, 0, positions)
                }
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
            if repetition > 0 { fastest = Swift.min(fastest, elapsed) }
        }
        return Double(positions * weights) / fastest
    }
}
