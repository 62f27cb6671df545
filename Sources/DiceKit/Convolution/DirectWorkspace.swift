// What a direct pass holds besides its inputs and outputs, counted against
// `ConvolutionSettings.workspaceLimit` (`ConvGeometry.runsDirect`): whole padded samples, a border
// strip per worker for a pass that reads its input in place (InPlaceForward.swift), or, with
// fewer than two samples per worker or samples whose whole copies would not fit, a window of
// padded rows per worker (`PaddedSource.forEachChunk`'s `firstRow`; Docs/Convolution.md,
// "Windows of rows for the weight gradient"); on the bfloat16 dot-product and tile kernels, what
// those hold (`bfloat16Workspace`; Docs/MixedPrecision.md, "What the bfloat16 kernels hold").

internal import CDiceKitKernels

extension ConvGeometry {
    /// Scalars of the border strips that `workers` workers hold for a stride-1 Float pass reading
    /// a sample of `inner` extents, padded by `before`/`after`, in place (InPlaceForward.swift):
    /// Float operands (the bfloat16 kernels and rounded operands copy) and
    /// `InPlaceForward.qualifies`; nil where the pass makes a copy. A 3-D sample at 128³ with 16
    /// channels pads to a 140 MB copy; in place, each worker holds one border strip of a few MB.
    private func inPlaceStrips(
        inner: [Int], before: [Int], after: [Int], channels: Int, workers: Int, settings: ConvolutionSettings?
    ) -> Int? {
        guard settings?.readsInPlace == true, settings?.precision == .float, stride == [1, 1, 1],
            InPlaceForward.qualifies(kernel: kernel, inner: inner, before: before, after: after)
        else { return nil }
        return workers
            * InPlaceForward.stripCapacity(
                kernel: kernel, inner: inner, before: before, after: after, channels: channels)
    }

    /// The most scalars of padded copies a direct pass holds at once: one sample per worker
    /// when there are two samples per worker, otherwise the whole batch (and the whole batch for
    /// the weight gradient of small images); see `PaddedSource.forEachChunk`. With `settings`,
    /// what the Float kernels' passes actually hold (Float operands, or rounded ones, whose
    /// copies the same code makes): with Float operands, a border strip per worker for a forward
    /// pass alone (`forwardOnly`) or an input gradient that reads its input in place
    /// (`inPlaceStrips`); with fewer than two samples per worker, or samples whose copies, one
    /// per worker, would not fit the bound (`PaddedSource.holdsWholeSamples`), a window of padded
    /// rows per worker (`forwardWindow`, `weightGradientWindow`). `backwardOnly`: no forward
    /// pass, so the copies of x are the weight gradient's. With `kernels` `.bfloat16`, what the
    /// bfloat16 dot-product or tile kernels hold instead (`bfloat16Workspace`), counted in Floats.
    func directWorkspace(
        inputGradient: Bool, workers: Int, settings: ConvolutionSettings? = nil, forwardOnly: Bool = false,
        backwardOnly: Bool = false, kernels: DirectKernels = .float
    ) -> Int {
        if case .bfloat16(let tiles) = kernels {
            let elements = bfloat16Workspace(
                inputGradient: inputGradient, workers: workers, backwardOnly: backwardOnly, tiles: tiles,
                settings: settings ?? ConvolutionSettings())
            return (elements + 1) / 2
        }
        if forwardOnly,
            let strips = inPlaceStrips(
                inner: input, before: padBefore, after: padAfter, channels: inChannels, workers: workers,
                settings: settings)
        {
            return strips
        }
        var xSample = inChannels
        var dySample = outChannels
        let dyBefore = (0..<3).map { kernel[$0] - 1 - padBefore[$0] }
        let dyAfter = (0..<3).map { kernel[$0] - 1 - padAfter[$0] }
        for axis in 0..<3 {
            xSample *= input[axis] + padBefore[axis] + padAfter[axis]
            dySample *= output[axis] + dyBefore[axis] + dyAfter[axis]
        }
        let copies = batch >= 2 * workers ? workers : batch
        // Windows of rows with fewer than two samples per worker, or for samples whose whole
        // copies, one per worker, would not fit the bound (`PaddedSource.holdsWholeSamples`).
        let windowed = { (inner: [Int], before: [Int], after: [Int], channels: Int) in
            guard let settings else { return false }
            var source = self.extentsOnly(inner: inner, before: before, after: after, channels: channels)
            source.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<Float>.size)
            return batch < 2 * workers || !source.holdsWholeSamples
        }
        let splitsKernel = weightGradientSplitsKernel(workers: workers)
        let xWindowed = windowed(input, padBefore, padAfter, inChannels)
        // x: the forward pass's copies, or (a backward pass alone) the weight gradient's.
        var largest = copies * xSample
        if xWindowed && backwardOnly && !splitsKernel {
            largest = workers * weightGradientWindow(workers: workers)
        } else if xWindowed && !backwardOnly {
            largest =
                workers
                * forwardWindow(
                    inner: input, before: padBefore, after: padAfter, output: output, cin: inChannels,
                    cout: outChannels, workers: workers)
        }
        if splitsKernel {
            // The whole batch, its positions spread (PaddedSource.withSpreadBatch).
            let spread = Int(dk_conv_spread_position_floats(Int32(inChannels)))
            largest = Swift.max(largest, batch * xSample / inChannels * spread)
        }
        if inputGradient {
            // dy, padded for a stride-1 forward pass (strided passes scatter dy instead).
            var dy = copies * dySample
            if let strips = inPlaceStrips(
                inner: output, before: dyBefore, after: dyAfter, channels: outChannels, workers: workers,
                settings: settings)
            {
                dy = strips
            } else if stride == [1, 1, 1] && windowed(output, dyBefore, dyAfter, outChannels) {
                dy =
                    workers
                    * forwardWindow(
                        inner: output, before: dyBefore, after: dyAfter, output: input, cin: outChannels,
                        cout: inChannels, workers: workers)
            }
            largest = Swift.max(largest, dy)
        }
        return largest
    }

    /// Scalars of one worker's window of padded rows for a forward pass over a sample of `inner`
    /// extents padded by `before`/`after` into `output`, `cin` → `cout` channels, with fewer than
    /// two samples per worker (its chunks as `forwardTasks` cuts them, or with `kernels`
    /// `.bfloat16` as the bfloat16 kernels' tasks do; `PaddedSource.windowRows`), its slack
    /// included: Floats, or bfloat16 elements. The input gradient is such a pass over dy.
    func forwardWindow(
        inner: [Int], before: [Int], after: [Int], output: [Int], cin: Int, cout: Int, workers: Int,
        kernels: DirectKernels = .float
    ) -> Int {
        let source = extentsOnly(inner: inner, before: before, after: after, channels: cin)
        let g = directGeometry(padded: source, output: output, kernel: kernel, cin: cin, cout: cout, stride: stride)
        let positions = output.reduce(1, *)
        let chunk =
            switch kernels {
            case .float:
                ConvBlocking.current.forwardTaskChunk(
                    inChannels: cin, outChannels: cout, positions: positions, batch: batch, workers: workers)
            case .bfloat16(let tiles):
                ConvBlocking.bfloat16TaskChunk(
                    outChannels: cout, positions: positions, tiles: tiles, batch: batch, workers: workers)
            }
        let (rowsRead, firstRow) = Self.forwardRows(g, positions: positions, chunk: chunk)
        let rows = source.windowRows(chunks: (positions + chunk - 1) / chunk, rowsRead: rowsRead, firstRow: firstRow)
        return rows * source.extents[2] * cin + source.slack
    }

    /// A padded source of this batch with the given extents, for its sizes alone: its address is
    /// never read.
    private func extentsOnly(inner: [Int], before: [Int], after: [Int], channels: Int) -> PaddedSource {
        PaddedSource(
            source: UnsafePointer(bitPattern: MemoryLayout<Float>.alignment)!, batch: batch, inner: inner,
            channels: channels, before: before, after: after, kernelWidth: kernel[2])
    }

    /// Whether the weight gradient splits the kernel between the workers, over the whole batch
    /// padded at once (small images: fewer output positions per sample than kernel rows).
    func weightGradientSplitsKernel(workers: Int) -> Bool {
        let block = Int(DK_CONV_CHANNEL_BLOCK)
        let channelBlocks = (outChannels + block - 1) / block
        return outputPixels < patch && kernel[0] * kernel[1] * channelBlocks >= 2 * workers
    }

    /// Scalars of one worker's window of padded rows for the weight gradient with fewer than two
    /// samples per worker (`PaddedSource.windowRows`), its slack included.
    func weightGradientWindow(workers: Int) -> Int {
        let source = extentsOnly(inner: input, before: padBefore, after: padAfter, channels: inChannels)
        let g = directGeometry(
            padded: source, output: output, kernel: kernel, cin: inChannels, cout: outChannels, stride: stride)
        let lines = output[0] * output[1]
        let perChunk = ConvBlocking.current.weightGradientLines(
            inChannels: inChannels, outChannels: outChannels, width: output[2])
        let (rowsRead, firstRow) = Self.weightGradientRows(g, lines: lines, perChunk: perChunk)
        let rows = source.windowRows(
            chunks: (lines + perChunk - 1) / perChunk, rowsRead: rowsRead, firstRow: firstRow)
        return rows * source.extents[2] * inChannels + source.slack
    }

    /// bfloat16 elements a pass on the bfloat16 dot-product or tile kernels (`tiles`) holds at
    /// once (BFloat16Convolution.swift): for the forward pass and the input gradient, a rounded
    /// padded sample per worker with two samples per worker whose copies fit `settings`'
    /// workspace bound, else a window of rows per worker (`forwardWindow`); for the weight
    /// gradient (`backwardOnly`), a worker's band buffers (`bandWorkspace`) where it runs in
    /// bands, else the whole batch rounded and padded with its pair-packed copy (twice its size)
    /// and the packed output gradient; on tiles, a group of samples' channel-major transposes
    /// and gradients (`tileWeightGradientGroup`).
    private func bfloat16Workspace(
        inputGradient: Bool, workers: Int, backwardOnly: Bool, tiles: Bool, settings: ConvolutionSettings
    ) -> Int {
        let kernels = DirectKernels.bfloat16(tiles: tiles)
        var x = extentsOnly(inner: input, before: padBefore, after: padAfter, channels: inChannels)
        x.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<UInt16>.size)
        var largest: Int
        if !backwardOnly {
            largest =
                batch >= 2 * workers && x.holdsWholeSamples
                ? workers * (x.sampleCount + x.slack)
                : workers
                    * forwardWindow(
                        inner: input, before: padBefore, after: padAfter, output: output, cin: inChannels,
                        cout: outChannels, workers: workers, kernels: kernels)
        } else if tiles {
            let g = dk_conv_geometry(
                hp: x.extents[1], wp: x.extents[2], output: output, kernel: kernel, cin: inChannels, cout: outChannels)
            largest =
                tileWeightGradientGroup(g, padded: x, workers: workers, limit: settings.workspaceLimit).elements
        } else if runsBandedWeightGradient {
            largest = Swift.min(workers, batch * output[0], 8) * bandWorkspace(x)
        } else {
            let gradient = 2 * x.sampleCount + output[0] * output[1] * (output[2] + 1) / 2 * outChannels * 2
            largest = batch * (x.sampleCount + gradient) + x.slack
        }
        if inputGradient {
            let dyBefore = (0..<3).map { kernel[$0] - 1 - padBefore[$0] }
            let dyAfter = (0..<3).map { kernel[$0] - 1 - padAfter[$0] }
            var dy = extentsOnly(inner: output, before: dyBefore, after: dyAfter, channels: outChannels)
            dy.limitWholeSamples(settings, workers: workers, elementSize: MemoryLayout<UInt16>.size)
            largest = Swift.max(
                largest,
                batch >= 2 * workers && dy.holdsWholeSamples
                    ? workers * (dy.sampleCount + dy.slack)
                    : workers
                        * forwardWindow(
                            inner: output, before: dyBefore, after: dyAfter, output: input, cin: outChannels,
                            cout: inChannels, workers: workers, kernels: kernels))
        }
        return largest
    }

    /// bfloat16 elements of one worker's band buffers in the banded weight gradient
    /// (`bfloat16WeightGradientInBands`): the band's padded input `x` rows and their pair-packed
    /// copy, and its packed output gradient.
    private func bandWorkspace(_ x: PaddedSource) -> Int {
        let lines = Self.bandLines(
            paddedWidth: x.extents[2], channels: inChannels, planes: kernel[0], kernelRows: kernel[1],
            lines: output[1])
        return 3 * kernel[0] * (lines + kernel[1] - 1) * x.extents[2] * inChannels
            + lines * (output[2] + 1) / 2 * outChannels * 2
    }
}

/// The kernels a direct pass runs on, for what it holds (`ConvGeometry.directWorkspace`): the
/// Float kernels (Float or rounded operands), or the bfloat16 dot-product or tile kernels.
enum DirectKernels {
    case float
    case bfloat16(tiles: Bool)
}
