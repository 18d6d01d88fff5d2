// swift-tools-version: 6.2
// camwatch: Score-CAM drift monitoring for training checkpoints.
// Targets follow the data flow of docs/architecture.md §1; a target imports only targets above it here.
import PackageDescription

// The C wrappers mark every unsafe call (SE-0458). The kernels in CamwatchTensor are pointer loops from
// end to end, where a marker on every subscript would hide more than it shows; they are reviewed as a unit.
let strictC: [SwiftSetting] = [.strictMemorySafety()]

let package = Package(
    name: "camwatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "camwatch", targets: ["camwatch"]),
        // For the fuzz targets in Fuzz/, a package of its own that depends on this one by path.
        .library(name: "CamwatchFuzzable", targets: ["CamwatchNN", "CamwatchImage", "CamwatchMonitor", "CamwatchDaemon"]),
    ],
    // Exact versions, so every build (a release build on a fresh clone included) resolves the same code:
    // Package.resolved stays out of git, because CI resolves from a local mirror on fresh clones. The last
    // two are swift-service-lifecycle's own dependencies, pinned here for the same reason (no target names them).
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", exact: "1.1.4"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
    ],
    targets: [
        // MARK: - C libraries (headers and link flags only; each owned by exactly one Swift module)
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        // Per-thread CPU and I/O priority system calls (no library to link).
        .systemLibrary(name: "CScheduling"),
        // `stat`, the monotonic clock and UTC time stamps as plain values, for the system-call files of
        // CamwatchMonitor and CamwatchDaemon (no library to link).
        .systemLibrary(name: "CSystemCalls"),

        // MARK: - Leaves: tensors and kernels, HDF5 files, PNG images
        // Hot loops compiled for SSE, AVX2 and AVX-512 in one binary; CamwatchTensor picks the level at run time.
        .target(name: "CVectorKernels"),
        .target(name: "CamwatchTensor", dependencies: ["CBLAS", "CScheduling", "CVectorKernels"]),
        // CamwatchTensor for what every error type shares: the one-line fold (`String.oneLine`) and `ErrorCause`.
        .target(name: "CamwatchHDF5", dependencies: ["CHDF5", "CamwatchTensor"], swiftSettings: strictC),
        .target(name: "CamwatchImage", dependencies: ["CPNG", "CamwatchTensor"], swiftSettings: strictC),

        // MARK: - Model: network graph and zoo; checkpoint file → named tensors → bound network
        .target(name: "CamwatchNN", dependencies: ["CamwatchTensor", "Yams"]),
        .target(
            name: "CamwatchCheckpoint",
            dependencies: ["CSystemCalls", "CamwatchHDF5", "CamwatchImage", "CamwatchNN", "CamwatchTensor",
                           .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),

        // MARK: - Analysis: saliency
        .target(name: "CamwatchSaliency", dependencies: ["CamwatchNN", "CamwatchTensor"]),

        // MARK: - Monitoring: drift between checkpoints, convergence, report and outputs
        .target(
            name: "CamwatchMonitor",
            dependencies: ["CSystemCalls", "CamwatchSaliency", "CamwatchCheckpoint", "CamwatchImage", "CamwatchHDF5",
                           "CamwatchNN", "CamwatchTensor", "Yams"]
        ),

        // MARK: - Pictures: timeline.png and drift.png drawn with cairo from the report and the heatmap archive
        .target(
            name: "CamwatchCharts", dependencies: ["CCairo", "CamwatchMonitor", "CamwatchImage", "CamwatchTensor"],
            swiftSettings: strictC),

        // MARK: - Publishing: TensorBoard event files and the self-contained HTML page, from the report and the archive
        .target(
            name: "CamwatchPublish",
            dependencies: ["CamwatchCharts", "CamwatchMonitor", "CamwatchImage", "CamwatchNN", "CamwatchTensor",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),

        // MARK: - Runtime: checkpoint watcher, the watch service, systemd notify, alerts
        .target(
            name: "CamwatchDaemon",
            dependencies: [
                "CSystemCalls", "CamwatchCharts", "CamwatchMonitor", "CamwatchCheckpoint", "CamwatchHDF5", "CamwatchImage",
                "CamwatchNN", "CamwatchSaliency", "CamwatchTensor", "CamwatchPublish", "Yams",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                // The command-line options that also set config keys are declared once, beside the file's model.
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Entry point
        .executableTarget(
            name: "camwatch",
            dependencies: [
                "CamwatchCheckpoint", "CamwatchImage", "CamwatchNN", "CamwatchSaliency", "CamwatchTensor",
                "CamwatchMonitor", "CamwatchCharts", "CamwatchDaemon", "CamwatchPublish",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Tests
        .target(
            name: "CamwatchTestSupport",
            dependencies: ["CamwatchTensor", "CamwatchHDF5"],
            path: "Tests/CamwatchTestSupport"
        ),
        .testTarget(name: "CamwatchTensorTests", dependencies: ["CamwatchTensor", "CamwatchTestSupport"]),
        .testTarget(name: "CamwatchHDF5Tests", dependencies: ["CamwatchHDF5", "CamwatchTestSupport"]),
        .testTarget(name: "CamwatchImageTests", dependencies: ["CamwatchImage", "CamwatchTestSupport"]),
        .testTarget(name: "CamwatchNNTests", dependencies: ["CamwatchNN", "CamwatchCheckpoint", "CamwatchTestSupport"]),
        .testTarget(name: "CamwatchCheckpointTests", dependencies: ["CamwatchCheckpoint", "CamwatchTestSupport"]),
        .testTarget(
            name: "CamwatchSaliencyTests",
            dependencies: ["CamwatchSaliency", "CamwatchCheckpoint", "CamwatchImage", "CamwatchTestSupport"]
        ),
        .testTarget(
            name: "CamwatchMonitorTests",
            dependencies: ["CamwatchMonitor", "CamwatchCheckpoint", "CamwatchHDF5", "CamwatchNN", "CamwatchSaliency",
                           "CamwatchTensor", "CamwatchTestSupport"]
        ),
        .testTarget(
            name: "CamwatchChartsTests",
            dependencies: ["CamwatchCharts", "CamwatchMonitor", "CamwatchImage", "CamwatchTestSupport"]
        ),
        .testTarget(
            name: "CamwatchPublishTests",
            dependencies: ["CamwatchPublish", "CamwatchMonitor", "CamwatchImage", "CamwatchTestSupport"]
        ),
        .testTarget(
            name: "CamwatchDaemonTests",
            dependencies: ["CamwatchDaemon", "CamwatchMonitor", "CamwatchCheckpoint", "CamwatchHDF5", "CamwatchSaliency",
                           "CamwatchTensor", "CamwatchPublish", "CamwatchTestSupport",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "CamwatchCLITests", dependencies: ["CamwatchTestSupport", "CamwatchHDF5", "CamwatchTensor"]),
    ],
    swiftLanguageModes: [.v6]
)

// The upcoming-feature set swift-log applies to every Swift target.
for target in package.targets where target.type != .system {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("ExistentialAny"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("InternalImportsByDefault"),
        ]
}
