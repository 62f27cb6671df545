// The `loss` kind of fuzz case: `dicekit loss` on small prediction and target arrays written by
// the harness itself, with the newer variants (focal, dice-focal, generalized-dice-focal,
// lovasz-softmax/hinge, wasserstein with its distance matrix, cldice, dice-cldice, mcc) and the
// older ones, their options drawn from good and hostile values (NaN, ∞, negative, huge, not a
// number, wrong list lengths), arrays that are sometimes hostile (NaN and ∞ entries, labels out
// of range, wrong ranks and shapes, empty axes), and sometimes a file mutated as the `npy` kind
// does; now and then `dicekit train` with one of those losses and deep supervision instead.

import Foundation

/// The `dicekit loss` variants, the options each takes (beyond the common ones), the activations
/// it accepts and whether it takes `--reduction`.
let lossVariants: [(name: String, options: [String], activations: [String], reduces: Bool)] = [
    (
        "dice", ["squared", "batch", "exclude-background", "smooth-nr", "smooth-dr", "class-weights", "ignore-index"],
        ["softmax", "sigmoid", "none"], true
    ),
    ("generalized", ["generalized-weight", "batch", "exclude-background"], ["softmax", "sigmoid"], true),
    ("tversky", ["alpha", "beta"], ["softmax", "sigmoid"], true),
    (
        "focal",
        ["focal-gamma", "focal-alpha", "class-weights", "exclude-background", "normalized", "reduced-threshold"],
        ["sigmoid", "softmax"], true
    ),
    (
        "dice-focal", ["focal-gamma", "focal-alpha", "dice-weight", "focal-weight", "batch", "squared", "smooth-nr"],
        ["sigmoid", "softmax"], true
    ),
    (
        "generalized-dice-focal",
        ["generalized-weight", "focal-gamma", "class-weights", "batch", "dice-weight", "focal-weight", "smooth-dr"],
        ["sigmoid", "softmax"], true
    ),
    ("lovasz-softmax", ["per-image", "ignore-index"], ["softmax"], false),
    ("lovasz-hinge", ["per-image", "ignore-index"], ["none"], false),
    ("wasserstein", ["distance-matrix", "wasserstein-weighting", "smooth-nr", "smooth-dr"], ["softmax"], true),
    (
        "cldice", ["cldice-iterations", "cldice-smooth", "smooth-nr", "smooth-dr", "exclude-background"],
        ["softmax", "sigmoid", "none"], true
    ),
    (
        "dice-cldice", ["cldice-iterations", "cldice-alpha", "cldice-smooth", "smooth-nr", "exclude-background"],
        ["softmax", "sigmoid", "none"], true
    ),
    ("mcc", [], ["none", "sigmoid", "softmax"], false),
]

/// Option values that are fine for most options.
private let goodValues = ["0", "0.5", "1", "2", "3", "1e-5", "0.25"]
/// Option values that no option takes, or only some do.
private let hostileValues = [
    "nan", "NaN", "inf", "-inf", "-1", "-0.5", "", "abc", "1e308", "-1e308", "0,1", "1,,2", "1,2,3,4,5", " 1",
    "0x10", "1_000",
]

/// Writes a little-endian, C-order `.npy` of `values` with `shape` and `dtype` (<f4, <f8, <i8, <i4, |u1).
func npyBytes(shape: [Int], dtype: String, values: [Double]) -> [UInt8] {
    let tuple = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(dtype)', 'fortran_order': False, 'shape': \(tuple), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
    out += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
    out += Array(header.utf8)
    func append<T>(_ value: T) { withUnsafeBytes(of: value) { out += $0 } }
    for v in values {
        switch dtype {
        case "<f4": append(Float(v).bitPattern.littleEndian)
        case "<f8": append(v.bitPattern.littleEndian)
        case "<i8": append(Int64(exactly: v.rounded(.towardZero)) ?? (v.isNaN ? 0 : v < 0 ? .min : .max))
        case "<i4": append(Int32(clamping: Int64(exactly: v.rounded(.towardZero)) ?? 0))
        default: out.append(UInt8(clamping: Int64(exactly: v.rounded(.towardZero)) ?? 0))
        }
    }
    return out
}

/// A `loss` case in `directory`: the files it writes and the command to run on them.
func makeLossCase(in directory: String, seeds: Seeds, random: inout FuzzRandom) throws -> FuzzCase {
    let variant = random.pick(lossVariants)
    if random.chance(0.15) { return makeDeepSupervisionCase(in: directory, seeds: seeds, random: &random) }
    // Shapes: mostly 2-D images, some volumes, a few ranks no loss takes; tiny extents, some 0.
    let spatialRank = random.pick([2, 2, 2, 3, 3, 1, 4])
    let n = random.chance(0.05) ? 0 : 1 + random.below(3)
    let c = random.chance(0.05) ? 0 : 1 + random.below(4)
    let spatial = (0..<spatialRank).map { _ in random.chance(0.03) ? 0 : 1 + random.below(spatialRank >= 3 ? 5 : 9) }
    let positions = n * spatial.reduce(1, *)
    let channelsFirst = random.chance(0.2)
    let predShape = channelsFirst ? [n, c] + spatial : [n] + spatial + [c]
    let hostile = random.chance(0.3)
    var pred = (0..<(positions * c)).map { _ in Double(random.below(8001)) / 1000 - 4 }
    let probabilities = random.chance(0.3)
    if probabilities { pred = pred.map { ($0 + 4) / 8 } }
    if hostile && !pred.isEmpty {
        for _ in 0..<(1 + random.below(3)) {
            pred[random.below(pred.count)] = random.pick([.nan, .infinity, -.infinity, 1e38, -1e38, 1e-45, 3e38, -2])
        }
    }
    let predPath = directory + "/pred.npy"
    try Data(npyBytes(shape: predShape, dtype: random.pick(["<f4", "<f4", "<f8"]), values: pred))
        .write(to: URL(fileURLWithPath: predPath))
    // The target: a label map (any integer or float dtype) or a dense tensor of PRED's shape.
    let labels = random.chance(["lovasz-softmax", "wasserstein"].contains(variant.name) ? 0.95 : 0.75)
    let targetPath = directory + "/target.npy"
    var targetShape = labels ? [n] + spatial : predShape
    if hostile && random.chance(0.3) {
        targetShape = random.chance(0.5) ? Array(targetShape.dropLast()) : targetShape + [2]
    }
    let targetCount = targetShape.reduce(1, *)
    var target = (0..<targetCount).map { _ in Double(labels ? random.below(max(c, 1)) : random.below(2)) }
    if !labels && random.chance(0.3) { target = target.map { _ in Double(random.below(1001)) / 1000 } }
    if hostile && !target.isEmpty {
        target[random.below(target.count)] = random.pick([-1, Double(c), 255, 1e10, .nan, .infinity, 0.5, 2])
    }
    try Data(
        npyBytes(
            shape: targetShape,
            dtype: labels ? random.pick(["<i8", "<i4", "|u1", "<f4", "<f8"]) : random.pick(["<f4", "<f8"]),
            values: target)
    ).write(to: URL(fileURLWithPath: targetPath))
    var arguments = ["loss", predPath, targetPath, "--variant", variant.name]
    if labels { arguments.append("--labels") }
    if channelsFirst || random.chance(0.05) {
        arguments += ["--layout", channelsFirst ? "channels-first" : random.pick(["channels-last", "rows-first"])]
    }
    if random.chance(0.9) { // mostly an activation the variant takes
        let all = ["softmax", "sigmoid", "none"]
        arguments += [
            "--activation", random.chance(0.85) ? random.pick(variant.activations) : random.pick(all + ["relu"]),
        ]
    }
    if random.chance(variant.reduces ? 0.4 : 0.03) {
        arguments += ["--reduction", random.chance(0.95) ? random.pick(["mean", "sum", "none"]) : "max"]
    }
    for option in variant.options where random.chance(0.35) {
        arguments += try lossOption(option, channels: c, in: directory, random: &random)
    }
    if variant.name == "wasserstein" && !arguments.contains("--distance-matrix") && random.chance(0.8) {
        arguments += try lossOption("distance-matrix", channels: c, in: directory, random: &random)
    }
    if random.chance(0.05) { // an option of some variant, often not this one's
        arguments += ["--" + random.pick(lossVariants.flatMap(\.options)), "1"]
    }
    if random.chance(0.4) { arguments += ["--grad", directory + "/grad.npy"] }
    var mutated = predPath
    if random.chance(0.2) {
        mutated = random.pick([predPath, targetPath])
        try mutateFile(mutated, &random)
    }
    return FuzzCase(kind: .loss, mutated: mutated, arguments: arguments)
}

/// `--option value` (or `--flag`) for one loss option, with a good value most of the time.
private func lossOption(_ option: String, channels c: Int, in directory: String, random: inout FuzzRandom) throws
    -> [String]
{
    let hostile = random.chance(0.35)
    switch option {
    case "squared", "batch", "exclude-background", "normalized", "per-image":
        return ["--" + option]
    case "distance-matrix":
        let path = directory + "/distances.npy"
        var size = max(c, 1)
        if hostile && random.chance(0.3) { size += random.pick([-1, 1]) }
        var m = (0..<(size * size)).map { k in k / size == k % size ? 0.0 : Double(1 + random.below(9)) / 10 }
        if hostile && !m.isEmpty { m[random.below(m.count)] = random.pick([.nan, .infinity, -1, 5, 1e300]) }
        let shape = hostile && random.chance(0.2) ? [size * size] : [size, size]
        try Data(npyBytes(shape: shape, dtype: random.pick(["<f8", "<f4", "<i8"]), values: m))
            .write(to: URL(fileURLWithPath: path))
        if random.chance(0.1) { try mutateFile(path, &random) }
        return ["--distance-matrix", random.chance(0.03) ? directory + "/missing.npy" : path]
    case "class-weights", "focal-alpha":
        let count = hostile ? random.pick([0, 1, c + 1, max(c - 1, 0)]) : random.pick([1, c])
        let values = (0..<count).map { _ in hostile ? random.pick(hostileValues + goodValues) : random.pick(goodValues)
        }
        return ["--" + option, values.joined(separator: ",")]
    case "generalized-weight":
        return ["--" + option, hostile ? random.pick(hostileValues) : random.pick(["square", "simple", "uniform"])]
    case "wasserstein-weighting":
        return ["--" + option, hostile ? random.pick(hostileValues) : random.pick(["default", "gdl"])]
    case "cldice-iterations", "ignore-index":
        return ["--" + option, hostile ? random.pick(interestingIntegers + hostileValues) : String(random.below(6))]
    default:
        return ["--" + option, hostile ? random.pick(hostileValues + interestingIntegers) : random.pick(goodValues)]
    }
}

/// `dicekit train` on the seed data with one of the losses and deep supervision, its weights and
/// levels sometimes hostile.
private func makeDeepSupervisionCase(in directory: String, seeds: Seeds, random: inout FuzzRandom) -> FuzzCase {
    let losses = [
        "dice", "dice-ce", "focal", "dice-focal", "lovasz-softmax", "lovasz-hinge", "wasserstein", "mcc", "cldice",
        "dice-cldice", "generalized-dice-focal",
    ]
    var options = Seeds.tinyTraining
    options[3] = "2" // depth 2: one lower decoder level to supervise
    var arguments = ["train", "--data", seeds.npyData, "--out", directory + "/run", "--loss", random.pick(losses)]
    let hostile = random.chance(0.4)
    arguments += [
        "--deep-supervision",
        hostile
            ? random.pick(hostileValues + ["1", "1,0.5,0.25,0.125", "0,0", "-1,1"])
            : random.pick(["same", "exp", "two", "1,0.5"]),
    ]
    if random.chance(0.4) {
        arguments += ["--deep-supervision-levels", hostile ? random.pick(interestingIntegers) : "2"]
    }
    return FuzzCase(kind: .loss, mutated: seeds.npyData, arguments: arguments + options)
}
