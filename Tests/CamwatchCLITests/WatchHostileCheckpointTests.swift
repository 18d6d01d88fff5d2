import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch watch --once` over a directory of hostile checkpoints (docs/reliability.md) beside a good one: the good one
/// is analysed, every hostile one is one `failed` entry with its reason, a NaN metric attribute reaches
/// report.json, and the secret the files point at appears in no output.
@Suite(.serialized)
struct WatchHostileCheckpointTests {
    static let cases: [(file: String, reason: String)] = [
        ("external_storage.h5", "'fc.bias': raw data stored in 1 external file(s) refused"),
        ("external_link.h5", "'fc.bias': external link (an object in another file) refused"),
        ("virtual.h5", "'fc.bias': virtual dataset (data mapped from other files) refused"),
        ("plugin_filter.h5", "'fc.bias': compressed with filter 32000 (LZF), not a filter built into libhdf5"),
        ("bomb.h5", "dataset 'fc.weight' declares 800000000 elements"),
        ("bomb_total.h5", "datasets declare 400000054 numbers"),
        ("huge_chunk.h5", "'fc.bias': chunks of 16777216 elements for a dataset of 10"),
        ("deep.h5", "groups nested deeper than 32 levels"),
        ("many_attributes.h5", "'/': 2000 attributes, more than camwatch reads on one object (1024)"),
    ]

    @Test func hostileCheckpointsAreFailedEntriesAndLeakNothing() throws {
        let hostile = try HostileCheckpoints()
        let scratch = try WatchStartupTests.Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        for name in Self.cases.map(\.file) + ["nan_attributes.h5"] {
            try FileManager.default.copyItem(
                atPath: hostile.path(name), toPath: scratch.checkpoints + "/" + name)
        }
        let result = try scratch.watch()
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: scratch.out + "/report.json"))) as? [String: Any]
        let entries = (report?["checkpoints"] as? [[String: Any]]) ?? []
        func entry(_ name: String) -> [String: Any]? { entries.first { $0["name"] as? String == name } }
        #expect(entry("epoch-001.h5")?["status"] as? String == "ok")
        for (file, reason) in Self.cases {
            let error = entry(file)?["error"] as? String ?? "no entry"
            #expect(entry(file)?["status"] as? String == "failed", "\(file)")
            #expect(error.hasPrefix(scratch.checkpoints + "/" + file + ": "), "\(error)")
            #expect(error.contains(reason), "\(file): \(error)")
        }
        // Loaded, then failed for want of an architecture: its attributes are in the entry, NaN included.
        let attributes = entry("nan_attributes.h5")?["attributes"] as? [String: Any]
        #expect(attributes?["val_loss"] as? String == "NaN")
        #expect(attributes?["best"] as? String == "Infinity")
        #expect(attributes?["epoch"] as? Double == 3)
        // Nothing the hostile files point at reaches the outputs or the log.
        #expect(!result.stderr.contains("SECRETTOKEN"))
        let outputs = FileManager.default.enumerator(atPath: scratch.out)?.compactMap { $0 as? String } ?? []
        #expect(!outputs.isEmpty)
        for output in outputs {
            let data = (try? Data(contentsOf: URL(fileURLWithPath: scratch.out + "/" + output))) ?? Data()
            #expect(data.range(of: Data("SECRETTOKEN".utf8)) == nil, "\(output)")
        }
    }
}
