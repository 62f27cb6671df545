// A .npy data set read one sample at a time: the headers give each file's data offset, and
// sample i's bytes are read with pread at offset + i × (bytes per sample), so neither file is
// ever held in memory. Conventions and layouts: SegmentationDataset+NPY.swift.
//
// Opening checks every sample once (read and dropped, one at a time): float images finite and
// in [0, 1], labels whole, ≥ 0 and below the class count, 0/255 masks read as class indices.

import Foundation

/// An open .npy file: its parsed header and a descriptor for positioned reads. `Sendable`: the
/// fields are immutable, and `pread` does not move a shared offset, so reads from several
/// threads do not interfere.
final class NPYFileReader: Sendable {
    let path: String
    let header: NPY.Header
    private let descriptor: Int32

    /// Opens `path` and parses its header; the file's size must match the header.
    ///
    /// - Throws: `NPYError` naming what is wrong (io errors name the file).
    init(path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw NPYError.io(path: path, reason: "cannot be read, or is not a regular file; expected a .npy file")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw NPYError.io(path: path, reason: "cannot be opened (\(String(cString: strerror(errno))))")
        }
        self.path = path
        self.descriptor = fd
        let size = Int(info.st_size)
        do {
            // The header is at most 12 + 2^32 bytes by the format; real ones are a few hundred.
            var prefix = try Self.read(fd, path: path, offset: 0, count: min(size, 12))
            if prefix.count >= 10, prefix.starts(with: NPY.magic) {
                let length =
                    prefix[6] == 1
                    ? Int(prefix[8]) | Int(prefix[9]) << 8
                    : prefix.count >= 12 ? (0..<4).reduce(0) { $0 | Int(prefix[8 + $1]) << (8 * $1) } : 0
                prefix = try Self.read(fd, path: path, offset: 0, count: min(size, 12 + min(length, 1 << 24)))
            }
            header = try NPY.parseHeader(prefix)
            let available = size - header.dataOffset
            if available < header.byteCount {
                throw NPYError.truncated(expectedBytes: header.byteCount, actualBytes: available)
            }
            if available > header.byteCount {
                throw NPYError.trailingData(expectedBytes: header.byteCount, actualBytes: available)
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// `count` elements starting at element `first`, as an array of the file's dtype.
    ///
    /// - Throws: `NPYError.io` naming the file when the read fails or comes up short.
    func elements(from first: Int, count: Int) throws -> NPYArray {
        let size = header.dtype.size
        let bytes = try Self.read(descriptor, path: path, offset: header.dataOffset + first * size, count: count * size)
        guard bytes.count == count * size else {
            throw NPYError.io(
                path: path,
                reason:
                    "ended after \(bytes.count) of \(count * size) bytes at element \(first) (it changed after the data set was opened)"
            )
        }
        return try NPYArray(dtype: header.dtype, shape: [count], data: bytes)
    }

    private static func read(_ fd: Int32, path: String, offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw NPYError.io(path: path, reason: "read failed (\(String(cString: strerror(errno))))")
            }
            if got == 0 { break }
            done += got
        }
        return Array(bytes[0..<done])
    }
}

/// Images and masks in two .npy files, each sample read from disk when asked for.
public struct NPYSource: SegmentationSource {
    /// The images file.
    public let imagesPath: String
    /// The masks file.
    public let masksPath: String
    /// [H, W] or [D, H, W].
    public let spatialShape: [Int]
    /// The channel count C (1 for images without a channel axis).
    public let channels: Int
    /// The given class count, else the largest label other than the ignore index, + 1 (at least 2).
    public var classes: Int { range.classes }
    /// The label of unlabelled positions (`DatasetOptions.ignoreIndex`), or nil.
    public let ignoreIndex: Int?
    /// The number of samples N.
    public let count: Int
    private let images: NPYFileReader
    private let masks: NPYFileReader
    private let scale: Float
    private let binary: Bool
    /// The labels the masks may hold (`.binary`'s 0 and 1 during the checking pass).
    private var range: LabelRange
    private let ignore: Int32?

    /// Opens a .npy data set: a FILE.npy (with FILE_masks.npy) or a directory with images.npy
    /// (and masks.npy or labels.npy), and checks every sample once.
    ///
    /// - Parameter options: the mask encoding (nil or `.classIndices`: values are classes;
    ///   `.binary`: nonzero is class 1; `.palette` is refused) and the class count. An image
    ///   size is refused (.npy data sets are used at their stored size).
    /// - Throws: as `SegmentationDataset.loadNPY(images:masks:classes:encoding:)`.
    public init(path: String, options: DatasetOptions) throws {
        if options.imageSize != nil {
            throw DiceKitError.option(
                "\(path): .npy data sets are used at their stored size; resize them beforehand or leave out the image size"
            )
        }
        let (imagesPath, masksPath) = try SegmentationDataset.npyPaths(path)
        let encoding = options.masks ?? .classIndices
        if encoding == .palette {
            throw DiceKitError.option(
                "\(masksPath): palette encoding applies to PNG masks; expected binary or index for .npy masks")
        }
        ignore = try options.ignoreLabel(encoding: encoding)
        ignoreIndex = options.ignoreIndex
        images = try NPYFileReader(path: imagesPath)
        masks = try NPYFileReader(path: masksPath)
        let maskShape = masks.header.shape
        guard maskShape.count == 3 || maskShape.count == 4 else {
            throw DiceKitError.shape("\(masksPath): mask shape \(maskShape); expected [N, H, W] or [N, D, H, W]")
        }
        var imageShape = images.header.shape
        if imageShape == maskShape { imageShape.append(1) }
        guard Array(imageShape.dropLast()) == maskShape else {
            throw DiceKitError.shape(
                "\(imagesPath): image shape \(images.header.shape) does not fit mask shape \(maskShape) of \(masksPath); expected the mask shape plus a channel axis, [\(maskShape.map(String.init).joined(separator: ", ")), C]"
            )
        }
        switch images.header.dtype {
        case .float32, .float64: scale = 1
        case .uint8: scale = 1 / 255
        case .uint16: scale = 1 / 65535
        default:
            throw DiceKitError.value(
                "\(imagesPath): image dtype \(images.header.dtype); expected float32, float64, uint8 or uint16")
        }
        self.imagesPath = imagesPath
        self.masksPath = masksPath
        self.binary = encoding != .classIndices
        count = maskShape[0]
        spatialShape = Array(maskShape.dropFirst())
        channels = imageShape.last!
        range = try LabelRange(classes: 2, ignoreIndex: nil, largest: 0)

        // The checking pass, one sample at a time.
        var survey = LabelSurvey(ignore: ignore)
        for i in 0..<count {
            survey.add(try read(i, checkingClasses: false).labels)
        }
        if !binary {
            try survey.refuseBinaryMasksReadAsIndices(path: masksPath, binaryHint: SegmentationDataset.binaryNPYHint)
        }
        range = try survey.range(classes: options.classes, path: masksPath)
    }

    /// Sample `index`, read from both files now.
    ///
    /// - Throws: `NPYError.io` naming the file for a failed read; `DiceKitError.value` naming the
    ///   file for an out-of-range image value or label.
    public func sample(at index: Int) throws -> SegmentationSample {
        precondition(index >= 0 && index < count, "NPYSource: sample \(index) out of 0..<\(count)")
        return try read(index, checkingClasses: true)
    }

    private func read(_ index: Int, checkingClasses: Bool) throws -> SegmentationSample {
        let positions = positionsPerSample
        let imageArray = try images.elements(from: index * positions * channels, count: positions * channels)
        var image = imageArray.tensor(of: Float.self)
        if scale != 1 {
            image = image.map { $0 * scale }
        } else {
            try SegmentationDataset.checkUnitRange(image, path: "\(imagesPath) (sample \(index))")
        }
        let maskArray = try masks.elements(from: index * positions, count: positions)
        var labels = try SegmentationDataset.int32Labels(
            maskArray.integers(), source: "\(masksPath) (sample \(index))", ignore: ignore)
        if binary { labels = labels.map { $0 != 0 ? 1 : 0 } }
        if checkingClasses { try range.check(labels, context: "\(masksPath) (sample \(index))") }
        return SegmentationSample(image: image.scalars, labels: labels)
    }
}

extension SegmentationDataset {
    /// The images and masks files of a .npy data set: FILE.npy with FILE_masks.npy, or DIR with
    /// DIR/images.npy and DIR/masks.npy (or DIR/labels.npy).
    ///
    /// - Throws: `DiceKitError.file` when the mask file is missing.
    static func npyPaths(_ path: String) throws -> (images: String, masks: String) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let base = URL(fileURLWithPath: path)
            let candidates = ["masks.npy", "labels.npy"].map { base.appendingPathComponent($0).path }
            guard let masks = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                throw DiceKitError.file(path: path, reason: "no masks.npy or labels.npy beside images.npy")
            }
            return (base.appendingPathComponent("images.npy").path, masks)
        }
        guard path.hasSuffix(".npy") else {
            throw DiceKitError.file(path: path, reason: "expected a .npy file (with FILE_masks.npy) or a directory")
        }
        let masks = String(path.dropLast(4)) + "_masks.npy"
        guard FileManager.default.fileExists(atPath: masks) else {
            throw DiceKitError.file(
                path: path, reason: "no mask file \(masks) beside it (convention: FILE.npy + FILE_masks.npy)")
        }
        return (path, masks)
    }
}
