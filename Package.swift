// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "DiceKit",
    products: [
        // MARK: - Public API
        .library(name: "DiceKit", targets: ["DiceKit"]),
        // Data-parallel training over Open MPI; only this product needs libopenmpi-dev.
        .library(name: "DiceKitDistributed", targets: ["DiceKitDistributed"]),
        .executable(name: "dicekit", targets: ["dicekit"]),
        .executable(name: "dicekit-bench", targets: ["DiceKitBenchmarks"]),
        .executable(name: "dicekit-fuzz", targets: ["DiceKitFuzz"]),
    ],
    targets: [
        // MARK: - System libraries (Debian: libopenblas-dev, liblapacke-dev, libpng-dev, libjpeg62-turbo-dev, libopenmpi-dev; libnifti2-dev below)
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CLAPACKE",
            pkgConfig: "lapacke",
            providers: [.apt(["liblapacke-dev"])]
        ),
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        .systemLibrary(
            name: "CJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]
        ),
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),

        // MARK: - Implementation details
        // The C kernels (Dice and focal losses, convolutions, pooling, bfloat16, CPU dispatch, platform
        // queries), with AVX-512/AVX2 variants chosen at run time (no build flags).
        .target(name: "CDiceKitKernels"),
        // libjpeg-turbo behind a C shim that keeps its setjmp/longjmp error handling inside C.
        .target(name: "CImageCodecs", dependencies: ["CJPEG"]),
        // Debian's NIfTI library (libnifti2-dev, libniftiio-dev; no pkg-config file) behind a C shim that
        // keeps its structures and messages in C.
        .target(
            name: "CNIfTICodec",
            cSettings: [.headerSearchPath("compat")],
            linkerSettings: [.linkedLibrary("nifti2"), .linkedLibrary("znz")]
        ),
        // Open MPI's predefined handles (macros over globals) as functions.
        .target(name: "CMPIShim", dependencies: ["CMPI"]),

        // MARK: - The library
        .target(
            name: "DiceKit",
            dependencies: ["COpenBLAS", "CLAPACKE", "CPNG", "CDiceKitKernels", "CImageCodecs", "CNIfTICodec"]
        ),

        // Data-parallel training: DiceKit's Communicator over Open MPI (Docs/Distributed.md).
        .target(
            name: "DiceKitDistributed",
            dependencies: ["DiceKit", "CMPI", "CMPIShim"]
        ),

        // MARK: - Tools on top
        .executableTarget(
            name: "dicekit",
            dependencies: ["DiceKit", "DiceKitDistributed"]
        ),
        .executableTarget(
            name: "DiceKitBenchmarks",
            dependencies: ["DiceKit", "DiceKitDistributed"],
            path: "Benchmarks/DiceKitBenchmarks"
        ),
        // A mutation fuzzer that runs the built `dicekit` binary on broken inputs (`make fuzz`).
        .executableTarget(
            name: "DiceKitFuzz",
            path: "Tools/DiceKitFuzz"
        ),

        // MARK: - Unit test bundles
        // Runs the tile unit's compilation of the AMX kernels on a CPU without AMX by trapping and
        // emulating each tile instruction (tests only).
        .target(
            name: "AMXTrapEmulator",
            dependencies: ["CDiceKitKernels"],
            path: "Tests/AMXTrapEmulator"
        ),
        .testTarget(
            name: "DiceKitTests",
            dependencies: ["DiceKit", "DiceKitDistributed", "dicekit", "AMXTrapEmulator"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
