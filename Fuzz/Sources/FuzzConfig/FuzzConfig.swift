import CamwatchDaemon
import CamwatchImage
import CamwatchMonitor
import Foundation
import FuzzDriver

@_cdecl("FuzzConfig_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, testOneInput)
}

/// A scratch directory with one small probe image, `a.png`, for manifests to name.
let scratch: String = {
    let directory = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        + "/camwatch-fuzz-config-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try? PNGEncoder.writeRGB8(path: directory + "/a.png", width: 3, height: 2, pixels: (0..<18).map { UInt8($0 * 14) })
    return directory
}()

/// The directories `watch` requires, given as flags. Parsed, not built with `Overrides()`: ArgumentParser's
/// options have no values until parsed, and reading one exits the process.
let requiredDirectories = try? WatchConfiguration.Overrides.parse(["/c", "--probes", "/p", "--out", "/o"])

/// The first byte chooses the parser, the rest is the file: even, a `camwatch.yaml` resolved with the
/// required directories given as flags, whose values must then convert to the `Duration`s the daemon uses;
/// odd, a probe manifest (`probes.json`, read by the YAML parser like `probes.yaml`). Each must load or
/// throw, never trap.
func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let contents = Data(bytes: data + 1, count: size - 1)
    if data[0] % 2 == 0 {
        let path = scratch + "/camwatch.yaml"
        guard FileManager.default.createFile(atPath: path, contents: contents) else { return 0 }
        guard let overrides = requiredDirectories,
            let c = try? WatchConfiguration.resolve(file: path, overrides: overrides)
        else { return 0 }
        let waits: [Duration] = [.seconds(c.interval), .seconds(c.settle), .seconds(c.settle * 2 + 2),
                                 .seconds(c.incompleteAfter), .seconds(c.execTimeout), .seconds(c.webhookTimeout)]
        precondition(waits.allSatisfy { $0 >= .zero }, "negative wait")
        _ = c.execHook
        _ = c.scoreCAMOptions
        _ = c.tracker
    } else {
        let path = scratch + "/probes.json"
        guard FileManager.default.createFile(atPath: path, contents: contents) else { return 0 }
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard let set = try? ProbeSet.load(directory: scratch) else { return 0 }
        precondition(set.probes.count <= ProbeSet.maximumCount, "\(set.probes.count) probes")
        // The descriptions go into report.json: they must encode (no NaN or infinite bbox).
        precondition((try? JSONEncoder().encode(set.descriptions)) != nil, "the manifest's probes cannot be encoded")
    }
    return 0
}
