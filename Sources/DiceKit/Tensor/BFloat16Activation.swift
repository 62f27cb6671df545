// A Float tensor kept as its bfloat16 rounding: the form in which a bfloat16 training step keeps
// the activations that its backward pass reads only through their rounding (NN/Layers/
// KeptActivations.swift), and in which the bfloat16 convolution kernels may read them
// (LoweredPass.xRounded). Its memory: BFloat16Storage.swift.

internal import CDiceKitKernels

/// A Float tensor kept as its bfloat16 rounding (round to nearest, ties to even; `BFloat16`).
///
/// The bits live in memory of their own (`BFloat16Storage`), not in malloc's heap, where the
/// copies, made while the Float tensors they replace are still alive and freed in another order,
/// would leave holes that larger tensors later in the step cannot use.
struct BFloat16Activation: Sendable {
    /// The shape of the tensor it was made from.
    let shape: [Int]
    /// The bfloat16 bit patterns, row-major.
    let storage: BFloat16Storage

    /// The rounding of `tensor`, converted in parallel over ranges of elements.
    init(rounding tensor: Tensor<Float>) {
        shape = tensor.shape
        storage = BFloat16Storage(count: tensor.count)
        let target = storage.pointer
        tensor.withUnsafeBufferPointer { source in
            guard let s = source.baseAddress else { return }
            convertInParallel(s, target, count: source.count) { dk_f32_to_bf16($0, $1, $2) }
        }
    }

    /// A rounding of shape `shape` whose bits `write` stores (every element: a kernel that rounds
    /// as it computes, such as BatchNorm's `forwardRounded`).
    init(shape: [Int], writing write: (UnsafeMutablePointer<UInt16>) throws -> Void) rethrows {
        self.shape = shape
        storage = BFloat16Storage(count: shape.reduce(1, *))
        try write(storage.pointer)
    }

    /// The rounding of `Tensor.concatenatingChannels(parts)` (parts [N, spatial…, Cᵢ] alike but in
    /// the last axis, checked by the caller), written position by position from the parts: the
    /// Float concatenation is never written. Converted in parallel over ranges of positions.
    init(roundingConcatenation parts: [Tensor<Float>]) {
        let channels = parts.reduce(0) { $0 + $1.shape.last! }
        shape = Array(parts[0].shape.dropLast()) + [channels]
        let positions = parts[0].count / parts[0].shape.last!
        storage = BFloat16Storage(count: positions * channels)
        let target = storage.pointer
        withPointers(parts[...]) { sources in
            // Each range of positions writes its own rows of every part's channels.
            let joined = zip(sources, parts).map { ChannelPart(source: $0, channels: $1.shape.last!) }
            let shared = TaskShared((joined, target))
            WorkerPool.shared.forEachRange(positions, grain: Swift.max(1, (1 << 16) / channels)) { range in
                let (joined, target) = shared.buffers
                roundJoining(
                    joined, positions: range, channels: channels, into: target + range.lowerBound * channels)
            }
        }
    }

    /// The bit patterns as an array (tests).
    var bits: [UInt16] { Array(UnsafeBufferPointer(start: storage.pointer, count: storage.count)) }

    /// The Float values of the bit patterns (exact), as a `Scalar` tensor (Float: the only type
    /// whose activations are kept this way).
    func widened<Scalar: BLASScalar>(as _: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        precondition(Scalar.self == Float.self, "BFloat16Activation: only Float tensors are kept in bfloat16")
        let source = UnsafePointer(storage.pointer)
        let values = [Float](unsafeUninitializedCapacity: storage.count) { target, initialized in
            if let t = target.baseAddress {
                convertInParallel(source, t, count: storage.count) { dk_bf16_to_f32($0, $1, $2) }
            }
            initialized = storage.count
        }
        return Tensor<Float>(uncheckedShape: shape, storage: values).reinterpreted()
    }
}

/// One tensor of a channel concatenation, channels-last with `channels` scalars per position:
/// Float values, or the bfloat16 bits of a tensor kept rounded (a U-Net's skip handed over
/// rounded in evaluation mode, UNet+HandOver.swift), which only the bfloat16 kernels' padded
/// copies read (`roundJoining`).
struct ChannelPart {
    private let address: UnsafeRawPointer
    let channels: Int
    /// Whether the part is given as bfloat16 bits (`bits`) rather than Float values (`source`).
    let isRounded: Bool

    /// A part of Float values.
    init(source: UnsafePointer<Float>, channels: Int) {
        (address, self.channels, isRounded) = (UnsafeRawPointer(source), channels, false)
    }

    /// A part given as the bfloat16 bits of its values.
    init(bits: UnsafePointer<UInt16>, channels: Int) {
        (address, self.channels, isRounded) = (UnsafeRawPointer(bits), channels, true)
    }

    /// The part's Float values (precondition: not `isRounded`).
    var source: UnsafePointer<Float> {
        precondition(!isRounded, "ChannelPart: a part in bfloat16 read as Float")
        return address.assumingMemoryBound(to: Float.self)
    }

    /// The part's bfloat16 bits (precondition: `isRounded`).
    var bits: UnsafePointer<UInt16> {
        precondition(isRounded, "ChannelPart: a Float part read as bfloat16")
        return address.assumingMemoryBound(to: UInt16.self)
    }

    /// The parts of a Float concatenation of `tensors` (generic over the scalar type, which is
    /// Float at run time), with `sources` their scalars.
    static func parts<T: BLASScalar>(_ sources: [UnsafePointer<T>], of tensors: [Tensor<T>]) -> [ChannelPart] {
        precondition(T.precision == .single, "ChannelPart: a concatenation of Float tensors")
        return zip(sources, tensors).map { source, tensor in
            ChannelPart(
                source: UnsafeRawPointer(source).assumingMemoryBound(to: Float.self), channels: tensor.shape.last!)
        }
    }
}

/// Writes positions `positions` of the channel concatenation of `parts` (`channels` scalars per
/// position in all), rounded to bfloat16, to `target`: each part's channels rounded (or, for a
/// part given rounded, copied) into their place at every position, the concatenation itself
/// never written.
func roundJoining(
    _ parts: [ChannelPart], positions: Range<Int>, channels: Int, into target: UnsafeMutablePointer<UInt16>
) {
    var offset = 0
    for part in parts {
        let first = positions.lowerBound * part.channels
        if part.isRounded {
            dk_bf16_runs(part.bits + first, target + offset, positions.count, part.channels, channels)
        } else {
            dk_f32_to_bf16_runs(part.source + first, target + offset, positions.count, part.channels, channels)
        }
        offset += part.channels
    }
}

/// `convert(source + i, target + i, n)` over ranges [i, i + n) of `count` elements, in parallel:
/// the element-wise conversions between Float and bfloat16.
func convertInParallel<Source, Target>(
    _ source: UnsafePointer<Source>, _ target: UnsafeMutablePointer<Target>, count: Int,
    _ convert: @Sendable @escaping (UnsafePointer<Source>, UnsafeMutablePointer<Target>, Int) -> Void
) {
    // Each range converts its own elements.
    let shared = TaskShared((source, target))
    WorkerPool.shared.forEachRange(count) { range in
        let (s, t) = shared.buffers
        convert(s + range.lowerBound, t + range.lowerBound, range.count)
    }
}
