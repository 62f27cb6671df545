// An 8-bit image as PNG stores it: rows of interleaved channels.

/// An 8-bit-per-channel image: `height` rows of `width` pixels of `channels` interleaved bytes.
///
/// Channels: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (the order PNG uses).
public struct PNGImage: Sendable, Equatable {
    /// Pixels per row.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Bytes per pixel: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// Row-major, interleaved samples: `height × width × channels` bytes.
    public let pixels: [UInt8]

    /// Wraps 8-bit samples.
    ///
    /// - Throws: `PNGError.invalidImage` for non-positive sizes, channels outside 1…4 or a
    ///   pixel count that does not match.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, width <= 1 << 24, height <= 1 << 24 else {
            throw PNGError.invalidImage("size \(width) × \(height); expected 1…16777216 on each side")
        }
        guard (1...4).contains(channels) else {
            throw PNGError.invalidImage("\(channels) channels; expected 1, 2, 3 or 4")
        }
        guard pixels.count == width * height * channels else {
            throw PNGError.invalidImage(
                "\(pixels.count) samples for \(width) × \(height) × \(channels); expected \(width * height * channels)")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// An 8-bit image from a [H, W, C] tensor (C = 1…4) with values in [0, 1]: each sample
    /// becomes round(255·x), clamped to 0…255 (NaN becomes 0).
    ///
    /// - Throws: `PNGError.invalidImage` when the tensor is not [H, W, 1…4].
    public init<T: BLASScalar>(_ tensor: Tensor<T>) throws {
        guard tensor.rank == 3 else { throw PNGError.invalidImage("tensor shape \(tensor.shape); expected [H, W, C]") }
        let bytes = tensor.scalars.map { x -> UInt8 in
            let scaled = (Double(x) * 255).rounded()
            return scaled.isNaN ? 0 : UInt8(min(max(scaled, 0), 255))
        }
        try self.init(width: tensor.shape[1], height: tensor.shape[0], channels: tensor.shape[2], pixels: bytes)
    }

    /// The samples as a [H, W, C] tensor, each divided by 255.
    public func tensor<T: BLASScalar>(of type: T.Type = T.self) -> Tensor<T> {
        // Concrete Float or Double code, as `NPYArray.tensor(of:)`.
        specialised(
            T.self, float: { concreteTensor(of: Float.self).reinterpreted() },
            double: { concreteTensor(of: Double.self).reinterpreted() })
    }

    /// `tensor(of:)` for a concrete scalar type.
    private func concreteTensor<T: BLASScalar>(of type: T.Type) -> Tensor<T> {
        Tensor(uncheckedShape: [height, width, channels], storage: pixels.map { T($0) / 255 })
    }
}
