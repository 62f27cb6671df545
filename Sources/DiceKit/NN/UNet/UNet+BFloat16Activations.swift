// The activations a `.bfloat16` training step keeps in bfloat16 (KeptActivations.swift). The
// U-Net's forward pass hands each stage's kept tensors over as it finishes the stage, so the
// Float tensors are freed while the pass goes on, and the end of the forward pass (the step's
// peak) holds the roundings:
//
//   in a block       each bfloat16 convolution's input, one copy with the ReLU that produced it
//   dec.j's input    the concatenation of the up-sampled tensor and the skip, rounded from the
//                    two before the block runs (`roundedConcatenationParts`): never Float
//   down.i           its last ReLU's output (the skip and the pooling's input: neither keeps it)
//   mid, dec.j       their last ReLU's output, one copy with the up-sampling that keeps it as its
//                    input (not the last decoder level's, which the Float 1×1 head keeps, nor
//                    one a deep-supervision head keeps)
//
// What stays Float: the first convolution's input (the image), normalisations' x̂, the heads'
// inputs, and every tensor of a network whose convolutions do not run bfloat16.

extension SequentialLayer {
    /// Keeps in bfloat16 each tensor of the last training forward pass that every layer of the
    /// block keeping it reads only through its rounding: each bfloat16 convolution's input (with
    /// the activation before it, when that kept it as its output) and, with `output`, the last
    /// activation's output.
    func keepActivationsInBFloat16(output: Bool) {
        guard Scalar.self == Float.self else { return }
        for (i, layer) in layers.enumerated() {
            guard let convolution = layer as? ConvolutionLayer<Scalar>, convolution.backwardRoundsKeptInput,
                let input = convolution.keptInput.tensor
            else { continue }
            convolution.keep(roundedInput: rounding(input, sharedWithActivationBefore: i))
        }
        if output, let activation = layers.last as? ActivationLayer<Scalar>, let kept = activation.keptOutput {
            activation.keep(rounded: BFloat16Activation(rounding: kept.reinterpreted(as: Float.self)))
        }
    }

    /// The bfloat16 rounding of `input`, the input of layer `i`, which the activation before
    /// layer i also keeps instead of its output when that output is `input` (one copy for both).
    func rounding(_ input: Tensor<Scalar>, sharedWithActivationBefore i: Int) -> BFloat16Activation {
        let rounded = BFloat16Activation(rounding: input.reinterpreted(as: Float.self))
        if i > 0, let activation = layers[i - 1] as? ActivationLayer<Scalar>,
            activation.keptOutput?.sharesStorage(with: input) == true
        {
            activation.keep(rounded: rounded)
        }
        return rounded
    }
}

extension UNet {
    /// The bytes of the convolutions' inputs and the activations' outputs that the last
    /// training forward pass kept for `backward`, each tensor (or bfloat16 copy) counted once
    /// however many layers keep it: what `storesActivationsInBFloat16` roughly halves.
    /// Normalisations' x̂ and the poolings' records are not counted.
    var keptActivationBytes: (float: Int, bfloat16: Int) {
        var float: [UnsafeRawPointer?: Int] = [:]
        var bfloat16: [UnsafeRawPointer?: Int] = [:]
        func count(_ tensor: Tensor<Scalar>?) {
            guard let tensor = tensor else { return }
            tensor.withUnsafeBufferPointer {
                float[UnsafeRawPointer($0.baseAddress)] = $0.count * MemoryLayout<Scalar>.stride
            }
        }
        func count(_ rounded: BFloat16Activation?) {
            guard let storage = rounded?.storage else { return }
            bfloat16[UnsafeRawPointer(storage.pointer)] = storage.count * MemoryLayout<UInt16>.stride
        }
        for block in down + [mid] + dec {
            for layer in block.layers {
                if let convolution = layer as? ConvolutionLayer<Scalar> {
                    count(convolution.keptInput.tensor)
                    for part in convolution.keptInput.parts ?? [] { count(part) }
                    count(convolution.keptInput.rounded)
                } else if let activation = layer as? ActivationLayer<Scalar> {
                    count(activation.keptOutput)
                    count(activation.keptRounded)
                }
            }
        }
        for layer in up {
            count(layer.keptInput.tensor)
            count(layer.keptInput.rounded)
        }
        for layer in [head] + supervisionHeads { count(layer.keptInput.tensor) }
        return (float.values.reduce(0, +), bfloat16.values.reduce(0, +))
    }

    /// Whether a forward pass in `mode` keeps activations in bfloat16 (`storesActivationsInBFloat16`).
    func keepsActivationsInBFloat16(_ mode: LayerMode) -> Bool {
        mode == .training && storesActivationsInBFloat16 && precision == .bfloat16 && Scalar.self == Float.self
            && ComputePrecision.bfloat16Available
    }

    /// The parts of a decoder block's input as Float tensors, when the block's first convolution
    /// reads the concatenation only through its bfloat16 rounding in both passes
    /// (`ConvolutionLayer.readsRoundedInput(ofShape:)`), so that the rounding may be made from
    /// the parts; nil otherwise (the block takes the Float concatenation).
    ///
    /// - Throws: `DiceKitError.shape` when the two do not concatenate.
    func roundedConcatenationParts(
        _ upsampled: Tensor<Scalar>, _ skip: Tensor<Scalar>, block: SequentialLayer<Scalar>
    ) throws -> [Tensor<Float>]? {
        let shape = try Tensor<Scalar>.concatenatedChannelShape([upsampled.shape, skip.shape])
        guard let convolution = block.layers.first as? ConvolutionLayer<Scalar>,
            convolution.readsRoundedInput(ofShape: shape)
        else { return nil }
        return [upsampled.reinterpreted(as: Float.self), skip.reinterpreted(as: Float.self)]
    }

    /// Keeps the output of `block`'s last activation and the input `upsampling` kept, when they
    /// are one tensor and the up-sampling's backward pass rounds it, as one bfloat16 copy.
    func keepInBFloat16(outputOf block: SequentialLayer<Scalar>, inputOf upsampling: TransposedConvolutionLayer<Scalar>)
    {
        guard let activation = block.layers.last as? ActivationLayer<Scalar>, let output = activation.keptOutput,
            upsampling.backwardRoundsKeptInput, let input = upsampling.keptInput.tensor,
            output.sharesStorage(with: input)
        else { return }
        let rounded = BFloat16Activation(rounding: output.reinterpreted(as: Float.self))
        activation.keep(rounded: rounded)
        upsampling.keep(roundedInput: rounded)
    }
}
