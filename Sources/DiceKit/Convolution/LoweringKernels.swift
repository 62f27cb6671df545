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

/// Copies `count` elements (non-overlapping). Runs of a few hundred bytes, the common case,
/// go as fixed-size 64-byte copies the compiler inlines, since a library call per run costs
/// more than the copy; runs shorter than one block are a plain loop, long runs call memmove.
@inline(__always)
func copyElements<T: BLASScalar>(_ source: UnsafePointer<T>, _ target: UnsafeMutablePointer<T>, _ count: Int) {
    let block = 64 / MemoryLayout<T>.stride
    if count >= 1024 {
        target.update(from: source, count: count)
        return
    }
    if count < block {
        for i in 0..<count { target[i] = source[i] }
        return
    }
    var i = 0
    while i + block <= count {
        UnsafeMutableRawPointer(target + i).copyMemory(from: source + i, byteCount: 64)
        i += block
    }
    while i < count {
        target[i] = source[i]
        i += 1
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
            ow = 0
            oh += 1
            if oh == outH {
                oh = 0
                od += 1
                if od == outD {
                    od = 0
                    n += 1
                }
            }
        }
    }
}

extension ConvGeometry {
    /// Lowers output rows `rows` of channel group `group` of x (x space, whole batch) into
    /// `col`, a [rows.count × patch] row-major matrix.
    ///
    /// The rows are walked one output line (fixed n, od, oh) at a time, so the depth and
    /// height checks of a kernel row are made once per line, and the inner loop over output
    /// columns is a strided copy of kW·C elements (or of C elements per tap near the border).
    func im2col<T: BLASScalar>(_ x: UnsafePointer<T>, rows: Range<Int>, group: Int, into col: UnsafeMutablePointer<T>) {
        forEachLine(rows) { sample, od, oh, ow0, ow1, target in
            lowerLine(
                x + sample * inputPixels * inChannels + group * inPerGroup, od: od, oh: oh,
                columns: ow0..<ow1, into: col + (target - rows.lowerBound) * patch)
        }
    }

    /// The adjoint of `im2col`: adds the [rows.count × patch] matrix `col` into channel group
    /// `group` of x (x space, whole batch), accumulating where windows overlap.
    func col2im<T: BLASScalar>(_ col: UnsafePointer<T>, rows: Range<Int>, group: Int, into x: UnsafeMutablePointer<T>) {
        forEachLine(rows) { sample, od, oh, ow0, ow1, target in
            raiseLine(
                col + (target - rows.lowerBound) * patch, od: od, oh: oh, columns: ow0..<ow1,
                into: x + sample * inputPixels * inChannels + group * inPerGroup)
        }
    }

    /// Splits lowered rows into runs along one output line: body(n, od, oh, ow₀, ow₁, first row).
    @inline(__always)
    private func forEachLine(_ rows: Range<Int>, _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        var cursor = OutputCursor(row: rows.lowerBound, output: output)
        var row = rows.lowerBound
        while row < rows.upperBound {
            let run = Swift.min(output[2] - cursor.ow, rows.upperBound - row)
            body(cursor.n, cursor.od, cursor.oh, cursor.ow, cursor.ow + run, row)
            row += run
            for _ in 0..<run { cursor.advance() }
        }
    }

    /// One output line of im2col; `sample` points at the sample's first channel of the group.
    @inline(__always)
    private func lowerLine<T: BLASScalar>(
        _ sample: UnsafePointer<T>, od: Int, oh: Int, columns: Range<Int>,
        into col: UnsafeMutablePointer<T>
    ) {
        let (inD, inH, inW, channels) = (input[0], input[1], input[2], inChannels)
        let (kH, kW) = (kernel[1], kernel[2])
        let (sW, dW, pW) = (stride[2], dilation[2], padBefore[2])
        let cg = inPerGroup
        let (width, run) = (kW * cg, patch)
        let wholeRows = dW == 1 && cg == channels
        for kd in 0..<kernel[0] {
            let id = od * stride[0] - padBefore[0] + kd * dilation[0]
            for kh in 0..<kH {
                let ih = oh * stride[1] - padBefore[1] + kh * dilation[1]
                var target = col + (kd * kH + kh) * width
                if id < 0 || id >= inD || ih < 0 || ih >= inH {
                    for _ in columns {
                        target.update(repeating: 0, count: width)
                        target += run
                    }
                    continue
                }
                let line = sample + (id * inH + ih) * inW * channels
                for ow in columns {
                    let iw0 = ow * sW - pW
                    if wholeRows && iw0 >= 0 && iw0 + kW <= inW {
                        copyElements(line + iw0 * channels, target, width)
                    } else {
                        for kw in 0..<kW {
                            let iw = iw0 + kw * dW
                            if iw >= 0 && iw < inW {
                                copyElements(line + iw * channels, target + kw * cg, cg)
                            } else {
                                (target + kw * cg).update(repeating: 0, count: cg)
                            }
                        }
                    }
                    target += run
                }
            }
        }
    }

    /// col2im of one kernel row (fixed kd, kh) of one output line for stride 1, dilation 1 and
    /// a single group, gathered per input pixel: line[iw, c] += Σ_kw col[ow = iw + pW − kw][kw, c]
    /// over the kw whose ow lies in `columns`. `source` points at the kernel row in the line's
    /// first lowered row.
    @inline(__always)
    private func raiseKernelRow<T: BLASScalar>(
        _ source: UnsafePointer<T>, columns: Range<Int>,
        into line: UnsafeMutablePointer<T>
    ) {
        let (inW, channels, kW, pW, run) = (input[2], inChannels, kernel[2], padBefore[2], patch)
        let (ow0, ow1) = (columns.lowerBound, columns.upperBound)
        let first = Swift.max(0, ow0 - pW)
        let last = Swift.min(inW, ow1 - 1 - pW + kW)
        guard first < last else { return }
        for iw in first..<last {
            let kwLow = Swift.max(0, iw + pW - (ow1 - 1))
            let kwHigh = Swift.min(kW - 1, iw + pW - ow0)
            guard kwLow <= kwHigh else { continue }
            let target = line + iw * channels
            for c in 0..<channels {
                var total: T = 0
                for kw in kwLow...kwHigh { total += source[(iw + pW - kw - ow0) * run + kw * channels + c] }
                target[c] += total
            }
        }
    }

    /// One output line of col2im (the adjoint of `lowerLine`).
    @inline(__always)
    private func raiseLine<T: BLASScalar>(
        _ col: UnsafePointer<T>, od: Int, oh: Int, columns: Range<Int>,
        into sample: UnsafeMutablePointer<T>
    ) {
        let (inD, inH, inW, channels) = (input[0], input[1], input[2], inChannels)
        let (kH, kW) = (kernel[1], kernel[2])
        let (sW, dW, pW) = (stride[2], dilation[2], padBefore[2])
        let cg = inPerGroup
        let (width, run) = (kW * cg, patch)
        let wholeRows = dW == 1 && cg == channels
        // With stride 1 and few channels, neighbouring windows overlap in most of their
        // elements; adding window after window would re-read what the previous add just
        // stored. Gathering per input pixel writes each element once per kernel row instead.
        let gatherColumns = wholeRows && sW == 1 && channels < 16
        for kd in 0..<kernel[0] {
            let id = od * stride[0] - padBefore[0] + kd * dilation[0]
            if id < 0 || id >= inD { continue }
            for kh in 0..<kH {
                let ih = oh * stride[1] - padBefore[1] + kh * dilation[1]
                if ih < 0 || ih >= inH { continue }
                var source = col + (kd * kH + kh) * width
                let line = sample + (id * inH + ih) * inW * channels
                if gatherColumns {
                    raiseKernelRow(source, columns: columns, into: line)
                    continue
                }
                for ow in columns {
                    let iw0 = ow * sW - pW
                    if wholeRows && iw0 >= 0 && iw0 + kW <= inW {
                        addElements(source, line + iw0 * channels, width)
                    } else {
                        for kw in 0..<kW {
                            let iw = iw0 + kw * dW
                            if iw >= 0 && iw < inW { addElements(source + kw * cg, line + iw * channels, cg) }
                        }
                    }
                    source += run
                }
            }
        }
    }
}
