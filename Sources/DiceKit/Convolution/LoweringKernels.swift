// im2col / col2im (and their 3-D forms vol2col / col2vol) on channels-last tensors, one tile
// of output rows and one channel group at a time. See Docs/Convolution.md for the drawing.
//
// Index mapping (normalised to three spatial axes; 2-D has D = KD = 1):
//   row    r = ((n·OD + od)·OH + oh)·OW + ow                       one output pixel
//   column j = ((kd·KH + kh)·KW + kw)·Cg + c                        one kernel tap and channel
//   col[r, j] = x[n, id, ih, iw, g·Cg + c]   with  id = od·sd − pd + kd·dd (likewise ih, iw),
//               or 0 when (id, ih, iw) falls in the padding.
// col2im is the adjoint: x[n, id, ih, iw, g·Cg + c] += col[r, j] over every (r, j) mapping there.
//
// Goals: (1) exact adjoints of each other; (2) no division in the inner loops (the output
// coordinates advance like an odometer); (3) contiguous copies of whole kernel rows (KW·C
// elements) when the window lies inside the input, which matters for few channels (3 → 32).

/// Copies `count` elements; a plain loop for the short runs of few channels.
@inline(__always)
func copyElements<T: BLASScalar>(_ source: UnsafePointer<T>, _ target: UnsafeMutablePointer<T>, _ count: Int) {
    if count >= 32 {
        target.update(from: source, count: count)
    } else {
        for i in 0..<count { target[i] = source[i] }
    }
}

/// target[i] += source[i] for `count` elements.
@inline(__always)
func addElements<T: BLASScalar>(_ source: UnsafePointer<T>, _ target: UnsafeMutablePointer<T>, _ count: Int) {
    for i in 0..<count { target[i] += source[i] }
}

/// The output coordinates of one lowered row, advanced without division.
struct OutputCursor {
    var n: Int, od: Int, oh: Int, ow: Int
    let outD: Int, outH: Int, outW: Int

    init(row: Int, output: [Int]) {
        (outD, outH, outW) = (output[0], output[1], output[2])
        let pixels = outD * outH * outW
        n = row / pixels
        var rest = row % pixels
        od = rest / (outH * outW)
        rest %= outH * outW
        oh = rest / outW
        ow = rest % outW
    }

    @inline(__always) mutating func advance() {
        ow += 1
        if ow == outW {
            ow = 0; oh += 1
            if oh == outH {
                oh = 0; od += 1
                if od == outD { od = 0; n += 1 }
            }
        }
    }
}

extension ConvGeometry {
    /// Lowers output rows `rows` of channel group `group` of x (x space, whole batch) into
    /// `col`, a [rows.count × patch] row-major matrix.
    func im2col<T: BLASScalar>(_ x: UnsafePointer<T>, rows: Range<Int>, group: Int, into col: UnsafeMutablePointer<T>) {
        let (inD, inH, inW, channels) = (input[0], input[1], input[2], inChannels)
        let (kD, kH, kW) = (kernel[0], kernel[1], kernel[2])
        let (sD, sH, sW) = (stride[0], stride[1], stride[2])
        let (dD, dH, dW) = (dilation[0], dilation[1], dilation[2])
        let (pD, pH, pW) = (padBefore[0], padBefore[1], padBefore[2])
        let cg = inPerGroup
        let channelOffset = group * cg
        let wholeRows = dW == 1 && cg == channels
        let sampleSize = inputPixels * channels
        var cursor = OutputCursor(row: rows.lowerBound, output: output)
        var target = col
        for _ in rows {
            let sample = x + cursor.n * sampleSize + channelOffset
            let iw0 = cursor.ow * sW - pW
            let rowInside = wholeRows && iw0 >= 0 && iw0 + kW <= inW
            for kd in 0..<kD {
                let id = cursor.od * sD - pD + kd * dD
                if id < 0 || id >= inD {
                    target.update(repeating: 0, count: kH * kW * cg)
                    target += kH * kW * cg
                    continue
                }
                for kh in 0..<kH {
                    let ih = cursor.oh * sH - pH + kh * dH
                    if ih < 0 || ih >= inH {
                        target.update(repeating: 0, count: kW * cg)
                        target += kW * cg
                        continue
                    }
                    let line = sample + (id * inH + ih) * inW * channels
                    if rowInside {
                        copyElements(line + iw0 * channels, target, kW * channels)
                        target += kW * channels
                    } else {
                        for kw in 0..<kW {
                            let iw = iw0 + kw * dW
                            if iw >= 0 && iw < inW {
                                copyElements(line + iw * channels, target, cg)
                            } else {
                                target.update(repeating: 0, count: cg)
                            }
                            target += cg
                        }
                    }
                }
            }
            cursor.advance()
        }
    }

    /// The adjoint of `im2col`: adds the [rows.count × patch] matrix `col` into channel group
    /// `group` of x (x space, whole batch), accumulating where windows overlap.
    func col2im<T: BLASScalar>(_ col: UnsafePointer<T>, rows: Range<Int>, group: Int, into x: UnsafeMutablePointer<T>) {
        let (inD, inH, inW, channels) = (input[0], input[1], input[2], inChannels)
        let (kD, kH, kW) = (kernel[0], kernel[1], kernel[2])
        let (sD, sH, sW) = (stride[0], stride[1], stride[2])
        let (dD, dH, dW) = (dilation[0], dilation[1], dilation[2])
        let (pD, pH, pW) = (padBefore[0], padBefore[1], padBefore[2])
        let cg = inPerGroup
        let channelOffset = group * cg
        let wholeRows = dW == 1 && cg == channels
        let sampleSize = inputPixels * channels
        var cursor = OutputCursor(row: rows.lowerBound, output: output)
        var source = col
        for _ in rows {
            let sample = x + cursor.n * sampleSize + channelOffset
            let iw0 = cursor.ow * sW - pW
            let rowInside = wholeRows && iw0 >= 0 && iw0 + kW <= inW
            for kd in 0..<kD {
                let id = cursor.od * sD - pD + kd * dD
                if id < 0 || id >= inD {
                    source += kH * kW * cg
                    continue
                }
                for kh in 0..<kH {
                    let ih = cursor.oh * sH - pH + kh * dH
                    if ih < 0 || ih >= inH {
                        source += kW * cg
                        continue
                    }
                    let line = sample + (id * inH + ih) * inW * channels
                    if rowInside {
                        addElements(source, line + iw0 * channels, kW * channels)
                        source += kW * channels
                    } else {
                        for kw in 0..<kW {
                            let iw = iw0 + kw * dW
                            if iw >= 0 && iw < inW { addElements(source, line + iw * channels, cg) }
                            source += cg
                        }
                    }
                }
            }
            cursor.advance()
        }
    }
}
