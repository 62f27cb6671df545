// The lowered path's stride-1 input gradient as the forward pass of the adjoint convolution.
//
// dx = col2im(dy · Wᵀ) (ConvEngine.swift) writes a [P × K·Cin] matrix per tile, which OpenBLAS
// first zeroes (β = 0) and col2im then reads back and adds, one value at a time, into x space:
// two passes over nine times the input for a 3×3 kernel. At stride 1 the same dx is the forward
// pass of the adjoint convolution: dy padded by kernel − 1 − pad on each side, convolved with the
// kernel flipped in space and transposed in channels (Docs/Convolution.md, "The input gradient
// as a forward pass"; the direct kernels compute it so). Its lowered form lowers dy (im2col,
// K·Cout values per row) and writes each dx row once, from a GEMM whose long side is K·Cout:
// no zeroing, no scatter, and no worker's private dx to sum. `DICEKIT_ISA=portable` training
// of a base-16 U-Net (every convolution lowered, OpenBLAS's Zen kernels): Docs/Convolution.md.
//
// The sums are the same terms in another order (each dx value is one dot product of length
// K·Cout, where col2im added K partial sums of Cout terms), so the lowered path's dx bits differ
// from before. They no longer depend on which worker runs a tile; the automatic tile follows the
// requested thread count (ConvEngine.swift), and OpenBLAS's SkylakeX and Cooper Lake kernels round
// small products in another order than large ones, so there another thread count may give
// other bits (the same thread count, the same bits).

extension ConvGeometry {
    /// The adjoint convolution whose forward pass over dy is this convolution's input gradient,
    /// or nil when the lowered input gradient keeps col2im: a pointwise pass (no col2im), a
    /// stride, dilation or channel groups, or a padding beyond kernel − 1 (so that the adjoint's
    /// would be negative).
    func loweredAdjoint() -> ConvGeometry? {
        guard !isPointwise, groups == 1, stride == [1, 1, 1], dilation == [1, 1, 1],
            (0..<3).allSatisfy({ padBefore[$0] <= kernel[$0] - 1 && padAfter[$0] <= kernel[$0] - 1 })
        else { return nil }
        var adjoint = self
        adjoint.input = output
        adjoint.output = input
        adjoint.inChannels = outChannels
        adjoint.outChannels = inChannels
        adjoint.padBefore = (0..<3).map { kernel[$0] - 1 - padBefore[$0] }
        adjoint.padAfter = (0..<3).map { kernel[$0] - 1 - padAfter[$0] }
        return adjoint
    }

    /// The kernel of `loweredAdjoint`: `weight` ([taps, Cin, Cout]) flipped in space and
    /// transposed in channels, [taps, Cout, Cin], tap t to taps − 1 − t.
    func adjointKernel<T: BLASScalar>(_ weight: UnsafePointer<T>) -> UnsafeMutablePointer<T> {
        let (taps, cin, cout) = (kernelVolume, inChannels, outChannels)
        let flipped = UnsafeMutablePointer<T>.allocate(capacity: taps * cin * cout)
        for t in 0..<taps {
            let source = weight + t * cin * cout
            let target = flipped + (taps - 1 - t) * cout * cin
            for ci in 0..<cin {
                for co in 0..<cout { (target + co * cin + ci).initialize(to: source[ci * cout + co]) }
            }
        }
        return flipped
    }

    /// Runs `pass` with its input gradient as the forward pass of `adjoint` (`loweredAdjoint`)
    /// over dy, its fill (a transposed convolution's bias) as that pass's bias; the rest of the
    /// pass (the forward product, the weight and bias gradients) first, by `run`. Lowered in
    /// `T` alone: the adjoint pass neither takes the direct nor the bfloat16 kernels, which the
    /// pass itself did not.
    func runInputGradientAsAdjoint<T: BLASScalar>(
        _ pass: LoweredPass<T>, adjoint: ConvGeometry, settings: ConvolutionSettings
    ) {
        guard let dx = pass.dx, let dy = pass.dy else { preconditionFailure("lowered adjoint: needs dx and dy") }
        var rest = pass
        rest.dx = nil
        rest.dxFill = nil
        if rest.y != nil || rest.weightGradient != nil || rest.biasGradient != nil { run(rest, settings: settings) }
        let flipped = adjointKernel(pass.weight)
        defer { flipped.deallocate() }
        var lowered = settings
        lowered.allowsDirect = false
        lowered.precision = .float
        adjoint.run(
            LoweredPass(
                x: dy, weight: UnsafePointer(flipped), y: dx, bias: pass.dxFill, dy: nil, weightGradient: nil, dx: nil,
                dxFill: nil),
            settings: lowered)
    }
}
