// The convolution passes on whole tensors. Public layers validate their arguments, build a
// `ConvGeometry` and call these with T = Float or T = Double; those calls sit in nested generic
// functions, which the compiler does not specialise, so the element loops live in
// `ConvGeometry.run`, which continues in concrete code, and the zeroed buffers here are written
// as bytes (`zeroedScalars`), not element by element through the scalar type's witnesses.

/// Which of a forward pass's input and output lie on the bfloat16 grid: Float values that are
/// bfloat16 values, handed between rounded-operand convolutions in evaluation mode
/// (GriddedHandOver.swift).
struct BFloat16Grid: Equatable {
    /// The input holds bfloat16 values already (`LoweredPass.inputOnBFloat16Grid`).
    var input = false
    /// The output is to hold its bfloat16 rounding (`LoweredPass.roundsOutput`).
    var output = false
}

enum ConvolutionKernels {
    /// y = conv(x, w) + b in y space, or max(0, conv(x, w) + b) with `rectified`.
    static func forward<T: BLASScalar>(
        _ g: ConvGeometry, x: Tensor<T>, weight: Tensor<T>, bias: Tensor<T>?,
        settings: ConvolutionSettings, rectified: Bool = false, bfloat16Weights: BFloat16WeightCache? = nil
    ) -> Tensor<T> {
        forward(
            g, concatenating: [x], weight: weight, bias: bias, settings: settings, rectified: rectified,
            bfloat16Weights: bfloat16Weights)
    }

    /// `forward` of the channel concatenation of `parts` (each [batch, spatial…, its channels];
    /// `g` is the joined input's geometry). With more than one part the caller has checked
    /// `joinsConcatenatedInput` (so T is Float): the direct kernels read two parts in place or join
    /// them in their padded copy, and the concatenation is never written on its own. `grid`: the
    /// input and output on the bfloat16 grid (`LoweredPass.inputOnBFloat16Grid`, `roundsOutput`).
    static func forward<T: BLASScalar>(
        _ g: ConvGeometry, concatenating parts: [Tensor<T>], weight: Tensor<T>, bias: Tensor<T>?,
        settings: ConvolutionSettings, rectified: Bool, bfloat16Weights: BFloat16WeightCache?,
        grid: BFloat16Grid = BFloat16Grid()
    ) -> Tensor<T> {
        // Every element is written by a GEMM with β = 0 or after the bias fill: no zeroing.
        let y = [T](unsafeUninitializedCapacity: g.outputRows * g.outChannels) { py, initialized in
            withPointers(parts[...]) { sources in
                weight.withUnsafeBufferPointer { pw in
                    withOptionalPointer(bias) { pb in
                        var pass = LoweredPass(
                            x: sources[0], weight: pw.baseAddress!, y: py.baseAddress!, bias: pb,
                            rectifies: rectified, bfloat16Weights: bfloat16Weights)
                        if parts.count > 1 { pass.xParts = ChannelPart.parts(sources, of: parts) }
                        (pass.inputOnBFloat16Grid, pass.roundsOutput) = (grid.input, grid.output)
                        g.run(pass, settings: settings)
                    }
                }
            }
            initialized = py.count
        }
        return Tensor(uncheckedShape: g.outputShape, storage: y)
    }

    /// Input, weight and bias gradients of y = conv(x, w) + b, given dy in y space; with
    /// `splitsInput` (precondition: `g.splitsInputGradient`), the input gradient as its two
    /// halves of the channels, written there by the kernels (`input`, then `inputSecond`).
    static func backward<T: BLASScalar>(
        _ g: ConvGeometry, x: BackwardInput<T>, weight: Tensor<T>, outputGradient dy: Tensor<T>,
        inputGradient: Bool, bias: Bool,
        settings: ConvolutionSettings, bfloat16Weights: BFloat16WeightCache? = nil, splitsInput: Bool = false
    ) -> (input: Tensor<T>?, inputSecond: Tensor<T>?, weight: Tensor<T>, bias: Tensor<T>?) {
        let inputCount = g.batch * g.inputPixels * g.inChannels
        let split = inputGradient && splitsInput
        // Every path of `run` overwrites the weight gradient (LoweredPass.weightGradient): no zeroing.
        var dW = uninitialisedScalars(g.patch * g.outChannels) as [T]
        // The lowered pass sums dy into the bias gradient while its tiles are in cache.
        var db = zeroedScalars(bias ? g.outChannels : 0) as [T]
        // The second half of a split input gradient, written by the kernels' stores.
        var dxSecond = uninitialisedScalars(split ? inputCount / 2 : 0) as [T]
        // dx is initialised by the workers (each zeroes its own samples).
        let dx = [T](unsafeUninitializedCapacity: inputGradient ? (split ? inputCount / 2 : inputCount) : 0) {
            pdx, initialized in
            x.withPointers { px, pxRounded, xParts in
                weight.withUnsafeBufferPointer { pw in
                    dy.withUnsafeBufferPointer { pdy in
                        dW.withUnsafeMutableBufferPointer { pdW in
                            db.withUnsafeMutableBufferPointer { pdb in
                                dxSecond.withUnsafeMutableBufferPointer { pdx2 in
                                    var pass = LoweredPass(
                                        x: px, weight: pw.baseAddress!, dy: pdy.baseAddress!,
                                        weightGradient: pdW.baseAddress!, dx: inputGradient ? pdx.baseAddress! : nil,
                                        biasGradient: bias ? pdb.baseAddress! : nil, bfloat16Weights: bfloat16Weights,
                                        xRounded: pxRounded)
                                    pass.xParts = xParts
                                    pass.dxSecond = split ? pdx2.baseAddress! : nil
                                    g.run(pass, settings: settings)
                                }
                            }
                        }
                    }
                }
            }
            initialized = pdx.count
        }
        let partShape = Array(g.inputShape.dropLast()) + [g.inChannels / 2]
        return (
            inputGradient ? Tensor(uncheckedShape: split ? partShape : g.inputShape, storage: dx) : nil,
            split ? Tensor(uncheckedShape: partShape, storage: dxSecond) : nil,
            Tensor(uncheckedShape: weight.shape, storage: dW),
            bias ? Tensor(uncheckedShape: [g.outChannels], storage: db) : nil
        )
    }

    /// The transposed convolution of `input` (y space) by w, plus b, in x space.
    static func transposedForward<T: BLASScalar>(
        _ g: ConvGeometry, input: Tensor<T>, weight: Tensor<T>, bias: Tensor<T>?,
        settings: ConvolutionSettings, bfloat16Weights: BFloat16WeightCache? = nil, grid: BFloat16Grid = BFloat16Grid()
    ) -> Tensor<T> {
        // The workers write every element: the bias (or zeros) then col2im, or one store each (ExactTiling.swift).
        let output = [T](unsafeUninitializedCapacity: g.batch * g.inputPixels * g.inChannels) { pout, initialized in
            input.withUnsafeBufferPointer { pin in
                weight.withUnsafeBufferPointer { pw in
                    withOptionalPointer(bias) { pb in
                        var pass = LoweredPass(
                            weight: pw.baseAddress!, dy: pin.baseAddress!, dx: pout.baseAddress!, dxFill: pb,
                            bfloat16Weights: bfloat16Weights)
                        (pass.inputOnBFloat16Grid, pass.roundsOutput) = (grid.input, grid.output)
                        g.run(pass, settings: settings)
                    }
                }
            }
            initialized = pout.count
        }
        return Tensor(uncheckedShape: g.inputShape, storage: output)
    }

    /// Input, weight and bias gradients of a transposed convolution, given the gradient of its
    /// output (x space). The input gradient is the ordinary convolution of that gradient.
    static func transposedBackward<T: BLASScalar>(
        _ g: ConvGeometry, input: Tensor<T>, weight: Tensor<T>,
        outputGradient: Tensor<T>, inputGradient: Bool, bias: Bool,
        settings: ConvolutionSettings, bfloat16Weights: BFloat16WeightCache? = nil
    ) -> (input: Tensor<T>?, weight: Tensor<T>, bias: Tensor<T>?) {
        let (dInput, dW) = input.withUnsafeBufferPointer { pin in
            transposedBackward(
                g, inputShape: input.shape, weight: weight, outputGradient: outputGradient,
                inputGradient: inputGradient, settings: settings, bfloat16Weights: bfloat16Weights
            ) { $0.dy = pin.baseAddress! }
        }
        return (dInput, dW, bias ? outputGradient.channelSums() : nil)
    }

    /// The input and weight gradients of a transposed convolution whose input is given as its
    /// bfloat16 rounding `rounded` (Float; a pass that `transposedBackwardReadsRoundedInput`
    /// packs its bits as they are, the others widen them): the same bits as from the Float input.
    static func transposedBackward(
        _ g: ConvGeometry, rounded: BFloat16Activation, weight: Tensor<Float>, outputGradient: Tensor<Float>,
        inputGradient: Bool, settings: ConvolutionSettings, bfloat16Weights: BFloat16WeightCache? = nil
    ) -> (input: Tensor<Float>?, weight: Tensor<Float>) {
        transposedBackward(
            g, inputShape: rounded.shape, weight: weight, outputGradient: outputGradient, inputGradient: inputGradient,
            settings: settings, bfloat16Weights: bfloat16Weights
        ) { $0.dyRounded = UnsafePointer(rounded.storage.pointer) }
    }

    /// The input gradient (when asked) and the weight gradient of a transposed convolution with
    /// an input of `inputShape`, which `setInput` gives the pass (as `dy` or `dyRounded`).
    private static func transposedBackward<T: BLASScalar>(
        _ g: ConvGeometry, inputShape: [Int], weight: Tensor<T>, outputGradient: Tensor<T>, inputGradient: Bool,
        settings: ConvolutionSettings, bfloat16Weights: BFloat16WeightCache?, setInput: (inout LoweredPass<T>) -> Void
    ) -> (input: Tensor<T>?, weight: Tensor<T>) {
        // `run` overwrites the weight gradient, and dInput is written by GEMMs with β = 0: no zeroing.
        var dW = uninitialisedScalars(g.patch * g.outChannels) as [T]
        let count = inputShape.reduce(1, *)
        let dInput = [T](unsafeUninitializedCapacity: inputGradient ? count : 0) { pdi, initialized in
            weight.withUnsafeBufferPointer { pw in
                outputGradient.withUnsafeBufferPointer { pg in
                    dW.withUnsafeMutableBufferPointer { pdW in
                        var pass = LoweredPass(
                            x: pg.baseAddress!, weight: pw.baseAddress!, y: inputGradient ? pdi.baseAddress! : nil,
                            weightGradient: pdW.baseAddress!, bfloat16Weights: bfloat16Weights)
                        setInput(&pass)
                        g.run(pass, settings: settings)
                    }
                }
            }
            initialized = pdi.count
        }
        return (
            inputGradient ? Tensor(uncheckedShape: inputShape, storage: dInput) : nil,
            Tensor(uncheckedShape: weight.shape, storage: dW)
        )
    }

    /// The whole lowered matrix [N·OD·OH·OW × K·C] of x (groups = 1).
    static func lower<T: BLASScalar>(_ g: ConvGeometry, x: Tensor<T>) -> Tensor<T> {
        var col = zeroedScalars(g.outputRows * g.patch) as [T]
        x.withUnsafeBufferPointer { px in
            col.withUnsafeMutableBufferPointer { pc in
                g.im2col(px.baseAddress!, rows: 0..<g.outputRows, group: 0, into: pc.baseAddress!)
            }
        }
        return Tensor(uncheckedShape: [g.outputRows, g.patch], storage: col)
    }

    /// The adjoint of `lower`: the lowered matrix summed back into x space.
    static func unlower<T: BLASScalar>(_ g: ConvGeometry, columns: Tensor<T>) -> Tensor<T> {
        var x = zeroedScalars(g.batch * g.inputPixels * g.inChannels) as [T]
        columns.withUnsafeBufferPointer { pc in
            x.withUnsafeMutableBufferPointer { px in
                g.col2im(pc.baseAddress!, rows: 0..<g.outputRows, group: 0, into: px.baseAddress!)
            }
        }
        return Tensor(uncheckedShape: g.inputShape, storage: x)
    }
}
