// col2im when the kernel windows tile the x-space tensor exactly: kernel = stride, no padding,
// no dilation, one group, and x extents = y extents × stride (a U-Net's 2×2 stride-2
// up-sampling, whose forward is the input-gradient pass). Every x pixel then receives one
// value from one lowered row, so instead of a zero (or bias) fill followed by accumulating
// adds, each lowered row's kd·kh runs of kw·C scalars are stored once, with the fill added:
//
//   x[n, od·kd + a, oh·kh + b, ow·kw + c, :] = fill + col[row (n, od, oh, ow)][(a, b, c, :)]
//
// The sum is the same single addition the fill-then-accumulate path makes (fill + value), so
// the results are the same bits.

extension ConvGeometry {
    /// Whether the kernel windows tile x space exactly (see the file comment).
    var tilesExactly: Bool {
        groups == 1 && kernel == stride && dilation == [1, 1, 1]
            && padBefore.allSatisfy({ $0 == 0 }) && padAfter.allSatisfy({ $0 == 0 })
            && (0..<3).allSatisfy({ input[$0] == output[$0] * stride[$0] })
    }

    /// The bias of a scattered-output pass (the direct kernels' up-sampling, whose columns are
    /// (a, b, c, channel)): the fill of each x channel repeated for every (a, b, c) column group.
    func scatteredFill(_ fill: UnsafePointer<Float>?) -> Tensor<Float>? {
        fill.map { fill in Tensor<Float>(uncheckedShape: [patch], storage: (0..<patch).map { fill[$0 % inChannels] }) }
    }

    /// col2im for a geometry that `tilesExactly`: the lowered rows `rows` (their tile in `col`,
    /// `patch` scalars each) stored, plus `fill` per channel (nil for none), into their own x
    /// pixels, which need no initialisation.
    func scatterTiles<T: BLASScalar>(
        _ col: UnsafePointer<T>, rows: Range<Int>, fill: UnsafePointer<T>?, into x: UnsafeMutablePointer<T>
    ) {
        let channels = inChannels
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let (inH, inW) = (input[1], input[2])
        let run = kw * channels
        var cursor = OutputCursor(row: rows.lowerBound, output: output)
        var source = col
        for _ in rows {
            let sample = x + cursor.n * inputPixels * channels
            for a in 0..<kd {
                for b in 0..<kh {
                    let line =
                        sample + (((cursor.od * kd + a) * inH + cursor.oh * kh + b) * inW + cursor.ow * kw) * channels
                    if let fill = fill {
                        for p in 0..<kw {
                            let (target, values) = (line + p * channels, source + p * channels)
                            for c in 0..<channels { (target + c).initialize(to: fill[c] + values[c]) }
                        }
                    } else {
                        // 0 + value, as the zero fill: a −0 becomes +0 there too.
                        for i in 0..<run { (line + i).initialize(to: 0 + source[i]) }
                    }
                    source += run
                }
            }
            cursor.advance()
        }
    }
}
