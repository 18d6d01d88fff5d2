// swift-tools-version: 6.2
// Coverage-guided fuzz targets for camwatch's parsers of untrusted input (libFuzzer). Kept out of the main
// package: they link libFuzzer's driver and build only with `-sanitize=fuzzer`. Build and run them with
// Scripts/faults/fuzz.sh; the seed corpora are in Corpus/<target>/.
import Foundation
import PackageDescription

// A path dependency is known by its directory's name, which differs between checkouts.
let camwatch = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "camwatch-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        // libFuzzer's entry point, shared by the targets.
        .target(name: "FuzzDriver"),
        // JSON/YAML text → ModelSpec → bound network → shapes (and a forward pass when small).
        .executableTarget(
            name: "FuzzModelSpec",
            dependencies: ["FuzzDriver", .product(name: "CamwatchFuzzable", package: camwatch)]),
        // Bytes → PNG decoder.
        .executableTarget(
            name: "FuzzPNG",
            dependencies: ["FuzzDriver", .product(name: "CamwatchFuzzable", package: camwatch)]),
        // YAML text → watch configuration; JSON/YAML text → probe manifest.
        .executableTarget(
            name: "FuzzConfig",
            dependencies: ["FuzzDriver", .product(name: "CamwatchFuzzable", package: camwatch)]),
    ],
    swiftLanguageModes: [.v6]
)
