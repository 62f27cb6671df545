// `dicekit synth`: writes the synthetic polyp data set as .npy files, or as a folder of PNG or
// JPEG images and masks (optionally of mixed sizes, like Kvasir-SEG), or the synthetic 3-D blobs
// as NIfTI volumes in nnU-Net's layout, so it can be inspected, used by other frameworks, or used
// to try the folder paths of `dicekit train`.

import DiceKit
import Foundation

enum SynthCommand: Command {
    static let spec = CommandSpec(
        name: "synth",
        summary: "write the synthetic polyp data set (images.npy + masks.npy, PNG/JPEG folders) or 3-D NIfTI blobs",
        help: """
            usage: dicekit synth --out DIR [--count N (100)] [--size S (128)] [--classes K (2)] [--seed S (0)]
                                 [--format npy|png|jpeg|nifti] [--mixed-sizes] [--mixed-spacings] [--quality Q (90)] [--void-border W]

            --format npy (default) writes DIR/images.npy (float32 [N, S, S, 3] in [0, 1]) and
                         DIR/masks.npy (uint8 [N, S, S]), the layout `dicekit train --data DIR` reads
            --format png also writes DIR/images/NNNN.png and DIR/masks/NNNN.png (mask values 0, 255
                         for two classes, the class index otherwise: train those with --mask-encoding index)
            --format jpeg writes DIR/images/NNNN.jpg and DIR/masks/NNNN.jpg only, like Kvasir-SEG
                         (binary masks with JPEG noise; two classes only), at --quality Q (1…100)
            --format nifti writes the synthetic 3-D blobs (S³ voxels, default S 32) as an nnU-Net raw
                         data set: DIR/imagesTr/blob_NNN_0000.nii.gz (values like an MR scan's, spacing
                         2 × 0.8 × 0.8 mm), DIR/labelsTr/blob_NNN.nii.gz and DIR/dataset.json
            --png        the same as --format png
            --mixed-sizes  every image gets its own size, each side drawn in [3S/4, 5S/4] (PNG, JPEG
                         and NIfTI; train on it with --image-size, or on patches with --patch-size)
            --mixed-spacings  NIfTI: every volume gets its own spacing (slices of 1, 1.5, 2, 3 or 4 mm,
                         pixels of 0.5…1 mm) over the same field of view, so its extents differ (train on
                         it with --patch-size and --target-spacing)
            --void-border W  mark a band 2W pixels wide along every class boundary as unlabelled (255,
                         PASCAL VOC's void; W in 1…16); masks then hold class indices and 255 in every
                         format but JPEG: train with --mask-encoding index --ignore-index 255
            Every format but nifti also writes DIR/classes.json (["background", "polyp"(, "instrument")]).
            """,
        valueOptions: ["out", "count", "size", "classes", "seed", "format", "quality", "void-border"],
        flags: ["png", "mixed-sizes", "mixed-spacings"]
    )

    /// The output formats.
    enum Format: String, CaseIterable { case npy, png, jpeg, nifti }

    static func run(_ arguments: ParsedArguments) throws {
        let out = try arguments.required("out")
        let count = try arguments.int("count", default: 100, in: 1...100_000)!
        var format = try arguments.choice("format", as: Format.self, default: .npy)!
        let size =
            format == .nifti
            ? try arguments.int("size", default: 32, in: 8...256)!
            : try arguments.int("size", default: 128, in: 16...2048)!
        let classes = try arguments.int("classes", default: 2, in: 2...3)!
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max)!)
        let quality = try arguments.int("quality", default: 90, in: 1...100)!
        if arguments.flag("png") {
            guard arguments.string("format") == nil || format == .png else {
                throw UsageError(message: "--png and --format \(format.rawValue) contradict each other")
            }
            format = .png
        }
        let mixed = arguments.flag("mixed-sizes")
        if mixed && format == .npy {
            throw UsageError(message: "--mixed-sizes needs --format png or jpeg (a .npy array has one size)")
        }
        if format == .jpeg && classes != 2 {
            throw UsageError(
                message: "--format jpeg writes binary masks (JPEG is lossy); --classes \(classes) needs --format png")
        }
        if arguments.string("quality") != nil && format != .jpeg {
            throw UsageError(message: "--quality applies to --format jpeg")
        }
        let voidBorder = try arguments.int("void-border", in: 1...16)
        if voidBorder != nil && format == .jpeg {
            throw UsageError(message: "--void-border needs lossless masks; expected --format npy or png")
        }
        if format == .nifti {
            if voidBorder != nil || arguments.string("classes") != nil {
                throw UsageError(
                    message: "--format nifti writes the two-class 3-D blobs; drop --void-border and --classes")
            }
            try writeNIfTI(
                to: out, count: count, size: size, seed: seed, mixed: mixed,
                mixedSpacings: arguments.flag("mixed-spacings"))
            return
        }
        if arguments.flag("mixed-spacings") {
            throw UsageError(message: "--mixed-spacings applies to --format nifti (pictures have no voxel spacing)")
        }
        /// The synthetic set with the void borders drawn in, if asked for.
        func generated(_ count: Int, seed: UInt64, _ configuration: SyntheticPolypConfiguration) throws
            -> SegmentationDataset
        {
            let data = try SegmentationDataset.syntheticPolyps(count: count, seed: seed, configuration: configuration)
            return try voidBorder.map { try data.withUnlabelledBorders(width: $0, ignoreIndex: 255) } ?? data
        }
        try checkOutputs(directories: [out] + (format == .npy ? [] : ["\(out)/images", "\(out)/masks"]))
        try FileSystem.createDirectory(out)
        let names = ["background", "polyp", "instrument"].prefix(classes).map(JSONValue.string)
        try AtomicFile.write(Array(JSONValue.array(names).encoded.utf8), to: "\(out)/classes.json")

        if !mixed {
            let data = try generated(count, seed: seed, SyntheticPolypConfiguration(size: size, classes: classes))
            if format != .jpeg {
                try NPY.write(data.images, to: "\(out)/images.npy")
                try NPY.write(
                    try NPYArray(integers: data.labels.map(Int.init), shape: data.labelShape, dtype: .uint8),
                    to: "\(out)/masks.npy")
            }
            if format != .npy {
                for i in 0..<count {
                    try writeSample(data, i, name: String(format: "%04d", i), to: out, format: format, quality: quality)
                }
            }
            printError("wrote \(count) synthetic images of \(size)×\(size) to \(out)\(voidNote(voidBorder))")
            return
        }
        var sizes = SeededGenerator(seed: seed ^ 0x5EED_5123)
        let (low, high) = (size * 3 / 4, size * 5 / 4)
        for i in 0..<count {
            let h = low + Int(sizes.next() % UInt64(high - low + 1))
            let w = low + Int(sizes.next() % UInt64(high - low + 1))
            // Images are painted from their own seeds; count 1 with a per-image seed keeps them distinct.
            let data = try generated(
                1, seed: seed &+ UInt64(i) &* 0x9E37_79B9,
                SyntheticPolypConfiguration(height: h, width: w, classes: classes))
            try writeSample(data, 0, name: String(format: "%04d", i), to: out, format: format, quality: quality)
        }
        printError(
            "wrote \(count) synthetic images of sizes \(low)…\(high) × \(low)…\(high) to \(out)\(voidNote(voidBorder))")
    }

    /// Writes the 3-D blobs as an nnU-Net raw data set (see the help). Values are scaled like an
    /// MR scan's (200 + 800 x, whole numbers in float32), so the default z-score normalisation matters.
    /// With `mixedSpacings`, each volume covers the same field of view (S × 2 mm, S × 0.8 mm, S × 0.8 mm,
    /// scaled like its size with `mixed`) at its own spacing: slices of 1, 1.5, 2, 3 or 4 mm and pixels
    /// of 0.5…1 mm, so a blob has one physical size and different extents in voxels, as in scans from
    /// different scanners.
    private static func writeNIfTI(
        to out: String, count: Int, size: Int, seed: UInt64, mixed: Bool, mixedSpacings: Bool
    ) throws {
        let (images, labels) = ("\(out)/imagesTr", "\(out)/labelsTr")
        try checkOutputs(directories: [out, images, labels])
        for folder in [out, images, labels] { try FileSystem.createDirectory(folder) }
        let dataset: JSONValue = [
            "channel_names": ["0": "MRI"],
            "labels": ["background": 0, "blob": 1],
            "numTraining": .integer(count),
            "file_ending": ".nii.gz",
            "name": "DiceKit synthetic blobs",
        ]
        try AtomicFile.write(Array(dataset.encoded.utf8), to: "\(out)/dataset.json")
        var sizes = SeededGenerator(seed: seed ^ 0x5EED_3D3D)
        let (low, high) = (size * 3 / 4, size * 5 / 4)
        var spacings = SeededGenerator(seed: seed ^ 0x5BAC_1465)
        let stored = [2.0, 0.8, 0.8]
        for i in 0..<count {
            var extents = (0..<3).map { _ in mixed ? low + Int(sizes.next() % UInt64(high - low + 1)) : size }
            var spacing = stored
            if mixedSpacings {
                let pixel = 0.5 + 0.05 * Double(spacings.next() % 11)
                spacing = [[1, 1.5, 2, 3, 4][Int(spacings.next() % 5)], pixel, pixel]
                extents = (0..<3).map { max(8, Int((Double(extents[$0]) * stored[$0] / spacing[$0]).rounded())) }
            }
            let data = try SegmentationDataset.syntheticBlobs3D(
                count: 1, seed: seed &+ UInt64(i) &* 0x9E37_79B9, depth: extents[0], height: extents[1],
                width: extents[2])
            let name = "blob_" + String(format: "%03d", i)
            let values = data.images.scalars.map { (200 + 800 * $0).rounded() }
            let image = "\(images)/\(name)_0000.nii.gz"
            try NIfTI.write(values, extents: extents, channels: 1, to: image, geometryOf: nil, spacing: spacing)
            try NIfTI.writeLabels(data.labels, extents: extents, to: "\(labels)/\(name).nii.gz", geometryOf: image)
        }
        let sides =
            mixedSpacings
            ? "one field of view each at slices of 1…4 mm and pixels of 0.5…1 mm"
            : mixed ? "\(low)…\(high) per side" : "\(size)³"
        printError(
            "wrote \(count) synthetic NIfTI volumes of \(sides) to \(out) (nnU-Net layout: imagesTr/, labelsTr/, dataset.json)"
        )
    }

    /// How to train on masks with void borders, for the closing message.
    private static func voidNote(_ width: Int?) -> String {
        guard let width else { return "" }
        return "; \(2 * width)-pixel void borders (255): train with --mask-encoding index --ignore-index 255"
    }

    /// Writes sample `i` of a 2-D data set as DIR/images/NAME.ext and DIR/masks/NAME.ext.
    private static func writeSample(
        _ data: SegmentationDataset, _ i: Int, name: String, to out: String,
        format: Format, quality: Int
    ) throws {
        for sub in ["images", "masks"] { try FileSystem.createDirectory("\(out)/\(sub)") }
        let (h, w) = (data.spatialShape[0], data.spatialShape[1])
        let pixels = h * w
        let image = try PNGImage(
            try Tensor(
                shape: [h, w, 3], scalars: Array(data.images.scalars[(i * pixels * 3)..<((i + 1) * pixels * 3)])))
        // Two-class masks are written 0/255 (binary) unless they hold unlabelled pixels.
        let binary = data.classes == 2 && data.ignoreIndex == nil
        let mask = try PNGImage(
            width: w, height: h, channels: 1,
            pixels: data.labels[(i * pixels)..<((i + 1) * pixels)].map { UInt8(binary ? Int($0) * 255 : Int($0)) })
        if format == .jpeg {
            try JPEG.write(image, to: "\(out)/images/\(name).jpg", quality: quality)
            try JPEG.write(mask, to: "\(out)/masks/\(name).jpg", quality: quality)
        } else {
            try PNG.write(image, to: "\(out)/images/\(name).png")
            try PNG.write(mask, to: "\(out)/masks/\(name).png")
        }
    }
}
