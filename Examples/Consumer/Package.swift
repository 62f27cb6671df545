// swift-tools-version:6.0
// A separate package that uses DiceKit the way another project would: as a dependency by path.
// `make test` builds and runs it, which proves the library links with no unsafe flags.
import Foundation
import PackageDescription

// A path dependency's package identity is its folder's name, which differs between checkouts
// (a CI clone lands in a temporary folder), so it is computed from this manifest's location.
let diceKitRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "Consumer",
    dependencies: [
        .package(path: "../..")
    ],
    targets: [
        .executableTarget(
            name: "Consumer",
            dependencies: [.product(name: "DiceKit", package: diceKitRoot.lastPathComponent)]
        )
    ]
)
