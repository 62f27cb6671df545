// `dicekit synth`: writes the synthetic polyp data set as .npy files (and optionally PNGs), so it
// can be inspected, or used by other frameworks for side-by-side comparisons.

import DiceKit
import Foundation

enum SynthCommand: Command {
    static let spec = CommandSpec(
        name: "synth",
        summary: "write the synthetic polyp data set as images.npy + masks.npy (and PNGs)",
        help: """
        usage: dicekit synth --out DIR [--count N (100)] [--size S (128)] [--classes K (2)] [--seed S (0)] [--png]

        Writes DIR/images.npy (float32 [N, S, S, 3] in [0, 1]) and DIR/masks.npy (uint8 [N, S, S]),
        the layout `dicekit train --data DIR` reads; with --png also DIR/images/NNNN.png and
        DIR/masks/NNNN.png (mask values 0, 255 for two classes, the class index otherwise).
        """,
        valueOptions: ["out", "count", "size", "classes", "seed"],
        flags: ["png"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        let out = try arguments.required("out")
        try checkOutputs(directories: [out] + (arguments.flag("png") ? ["\(out)/images", "\(out)/masks"] : []))
        let count = try arguments.int("count", default: 100, in: 1...100_000)!
        let size = try arguments.int("size", default: 128, in: 16...2048)!
        let classes = try arguments.int("classes", default: 2, in: 2...3)!
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max)!)
        let data = try SegmentationDataset.syntheticPolyps(count: count, seed: seed,
                                                           configuration: SyntheticPolypConfiguration(size: size, classes: classes))
        try NPY.write(data.images, to: "\(out)/images.npy")
        try NPY.write(try NPYArray(integers: data.labels.map(Int.init), shape: data.labelShape, dtype: .uint8), to: "\(out)/masks.npy")
        if arguments.flag("png") {
            let pixels = size * size
            for i in 0..<count {
                let name = String(format: "%04d.png", i)
                let image = try Tensor(shape: [size, size, 3], scalars: Array(data.images.scalars[(i * pixels * 3)..<((i + 1) * pixels * 3)]))
                try PNG.write(try PNGImage(image), to: "\(out)/images/\(name)")
                let mask = data.labels[(i * pixels)..<((i + 1) * pixels)].map { UInt8(classes == 2 ? Int($0) * 255 : Int($0)) }
                try PNG.write(try PNGImage(width: size, height: size, channels: 1, pixels: mask), to: "\(out)/masks/\(name)")
            }
        }
        printError("wrote \(count) synthetic images of \(size)×\(size) to \(out)")
    }
}
