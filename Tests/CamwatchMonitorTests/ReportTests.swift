import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchMonitor
import Foundation
import Testing

@Suite struct ReportTests {
    @Test func jsonRoundTripKeepsEverything() throws {
        let report = sampleReport(drifts: [nil, 0.3, 0.01, nil, 0.02], failedAt: [3])
        let bytes = try report.jsonBytes()
        let decoded = try Report.decode(bytes)
        #expect(decoded == report)
        // Deterministic: the same report always gives the same bytes.
        #expect(try decoded.jsonBytes() == bytes)
        #expect(bytes.last == 0x0A)
    }

    @Test func jsonHasSnakeCaseKeysInSortedOrderAndExplicitNulls() throws {
        let report = sampleReport(drifts: [nil, 0.3])
        let text = String(decoding: try report.jsonBytes(), as: UTF8.self)
        let top = ["\"checkpoints\"", "\"convergence\"", "\"model\"", "\"probes\"", "\"schema_version\""]
        let positions = try top.map { key in try #require(text.range(of: key)?.lowerBound) }
        #expect(positions == positions.sorted())

        let json = try #require(try JSONSerialization.jsonObject(with: Data(try report.jsonBytes())) as? [String: Any])
        #expect(json["schema_version"] as? Int == 3)
        let model = try #require(json["model"] as? [String: Any])
        #expect(model["input_size"] as? [Int] == [224, 224])
        let probes = try #require(json["probes"] as? [[String: Any]])
        #expect(probes[0]["class"] as? Int == 281)
        #expect(probes[0]["bbox"] as? [Double] == [10, 20, 200, 210])
        #expect(probes[1]["class"] is NSNull && probes[1]["label"] is NSNull && probes[1]["bbox"] is NSNull)

        let checkpoints = try #require(json["checkpoints"] as? [[String: Any]])
        let first = checkpoints[0]
        for key in ["drift", "weight_drift", "error"] {
            #expect(first[key] is NSNull, "\(key) should be an explicit null")
        }
        #expect(first["status"] as? String == "ok")
        #expect(first["state"] as? String == "warming-up")
        #expect(first["processed_at"] as? Double == 1_700_000_000)
        let prediction = try #require((first["predictions"] as? [String: Any])?["cat"] as? [String: Any])
        #expect(prediction["class"] as? Int == 281)
        #expect(prediction["score"] as? Double == 9.5)

        let second = checkpoints[1]
        let drift = try #require(second["drift"] as? [String: Any])
        expectClose(try #require(drift["mean"] as? Double), 0.3)
        expectClose(try #require(drift["max"] as? Double), 0.45)
        let perProbe = try #require(drift["per_probe"] as? [String: [String: Double]])
        #expect(perProbe["dog"]?["iou"] == 0.8)
        #expect(second["weight_drift"] as? Double == 0.01)
        #expect(second["state"] as? String == "changing")
        expectClose(try #require((second["attributes"] as? [String: Any])?["val_acc"] as? Double), 0.51)

        let convergence = try #require(json["convergence"] as? [String: Any])
        #expect(convergence["state"] as? String == "changing")
        #expect(convergence["converged_at"] is NSNull)
        let rule = try #require(convergence["rule"] as? [String: Any])
        #expect(rule["mode"] as? String == "absolute")
        #expect(rule["threshold"] as? Double == 0.05)
        #expect(rule["patience"] as? Int == 2)
        #expect(second["convergence"] is NSNull, "absolute-rule entries carry no reading")
    }

    @Test func nonFiniteMetricsAreWrittenAsStrings() throws {
        var report = sampleReport(drifts: [nil])
        report.checkpoints[0].attributes["val_loss"] = .number(.nan)
        report.checkpoints[0].attributes["grad_norm"] = .number(.infinity)
        let text = String(decoding: try report.jsonBytes(), as: UTF8.self)
        #expect(text.contains("\"val_loss\" : \"NaN\"") || text.contains("\"val_loss\":\"NaN\""))
        let decoded = try Report.decode(try report.jsonBytes())
        #expect(decoded.checkpoints[0].attributes["val_loss"]?.number?.isNaN == true)
        #expect(decoded.checkpoints[0].attributes["grad_norm"] == .number(.infinity))
    }

    /// Saving reuses each unchanged entry's JSON; the bytes must be exactly the whole report's encoding
    /// through every kind of change: entries added, one replaced, all re-judged, some dropped, none left.
    @Test func cachedEncodingEqualsTheWholeEncoding() throws {
        let cache = ReportEntryCache()
        var report = sampleReport(drifts: [nil], failedAt: [])
        #expect(try report.jsonBytes(reusing: cache) == report.jsonBytes())
        report = sampleReport(drifts: [nil, 0.3, 0.01, nil, 0.02], failedAt: [3])
        report.checkpoints[1].attributes["note"] = .string("line one\nline \"two\" \u{1F600} {\n}")
        report.checkpoints[2].attributes["val_loss"] = .number(.nan)
        report.checkpoints[2].predictions = [:]
        #expect(try report.jsonBytes(reusing: cache) == report.jsonBytes(), "new entries")
        #expect(try report.jsonBytes(reusing: cache) == report.jsonBytes(), "all from the cache")
        report.checkpoints[4].seconds = 9.75
        #expect(try report.jsonBytes(reusing: cache) == report.jsonBytes(), "one entry changed in place")
        report.rejudge(with: ConvergenceRule(mode: .relative))
        #expect(try report.jsonBytes(reusing: cache) == report.jsonBytes(), "every entry re-judged")
        report.checkpoints.removeFirst(2)
        #expect(try report.jsonBytes(reusing: cache) == report.jsonBytes(), "entries dropped")
        report.checkpoints = []
        #expect(try report.jsonBytes(reusing: cache) == report.jsonBytes(), "no entries")
    }

    @Test func recordReplacesByIdAndAppendsOtherwise() {
        var report = sampleReport(drifts: [nil, 0.3])
        var replacement = report.checkpoints[0]
        replacement.seconds = 99
        report.record(replacement)
        #expect(report.checkpoints.count == 2)
        #expect(report.checkpoints[0].seconds == 99)
        #expect(report.lastProcessed?.id == "id-1")
    }

    @Test func reportedAttributesKeepScalarsAndShortStrings() {
        let attributes: [String: CheckpointAttribute] = [
            "epoch": .int(3), "val_acc": .double(0.75), "arch": .string("resnet18"),
            "camwatch_model": .string("{}"), "history": .doubles([1, 2]),
            "notes": .string(String(repeating: "x", count: 500)),
        ]
        #expect(
            Report.CheckpointEntry.reportedAttributes(attributes) == [
                "epoch": .number(3), "val_acc": .number(0.75), "arch": .string("resnet18"),
            ])
    }

    @Test func decodingErrorsSayWhatAndWhere() throws {
        func reason(_ json: String) -> String? {
            do {
                _ = try Report.decode(Array(json.utf8), path: "/out/report.json")
                return nil
            } catch {
                #expect(error.kind == .corrupt)
                #expect(error.description.hasPrefix("/out/report.json: "))
                #expect(!error.description.contains("\n"))
                return error.reason
            }
        }
        #expect(reason("{\"schema_version\": 1, ")?.hasPrefix("not valid JSON") == true)
        var bad = sampleReport(drifts: [nil])
        bad.checkpoints[0].status = .ok
        var text = String(decoding: try bad.jsonBytes(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"status\" : \"ok\"", with: "\"status\" : \"exploded\"")
            .replacingOccurrences(of: "\"status\":\"ok\"", with: "\"status\":\"exploded\"")
        #expect(reason(text)?.contains("checkpoints[0].status") == true)
        #expect(reason("{\"schema_version\": 1}") == "missing key 'model' at the top level")
    }
}

@Suite struct ReportStoreTests {
    @Test func saveIsAtomicAndLeavesNoTemporaryFiles() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let report = sampleReport(drifts: [nil, 0.3])
        let store = ReportStore(directory: directory, report: report)
        try store.save()
        try store.save()  // replacing an existing file
        #expect(try listing(directory) == ["report.json"])
        #expect(try ReportStore.read(directory: directory) == report)
        let attributes = try FileManager.default.attributesOfItem(atPath: store.path)
        #expect(
            (attributes[.posixPermissions] as? Int).map { $0 & 0o044 } == 0o044, "a collector must be able to read it")
    }

    @Test func restartResumesAndExtendsWithoutTruncating() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let earlier = sampleReport(drifts: [nil, 0.3])
        try ReportStore(directory: directory, report: earlier).save()

        let fresh = Report(model: earlier.model, probes: [])
        var store = try ReportStore.open(directory: directory, fresh: fresh, now: 0)
        #expect(store.recovery == nil)
        #expect(store.report == earlier, "the existing report wins over the fresh one")
        let extended = sampleReport(drifts: [nil, 0.3, 0.01])
        store.record(extended.checkpoints[2])
        try store.save()

        let reread = try #require(try ReportStore.read(directory: directory))
        #expect(reread.checkpoints.count == 3)
        #expect(Array(reread.checkpoints.prefix(2)) == earlier.checkpoints)
        #expect(try listing(directory) == ["report.json"])
    }

    @Test func missingReportStartsFresh() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        #expect(try ReportStore.read(directory: directory) == nil)
        let fresh = sampleReport(drifts: [])
        let store = try ReportStore.open(directory: directory, fresh: fresh, now: 0)
        #expect(store.report == fresh && store.recovery == nil)
        #expect(try listing(directory).isEmpty, "opening writes nothing")
    }

    @Test func corruptReportIsSetAsideNotDropped() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let garbage = Array("{\"schema_version\": 1, \"checkpoints\": [".utf8)
        let path = ReportStore.path(in: directory)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(garbage)))

        // Reading never moves anything and says what is wrong.
        #expect {
            try ReportStore.read(directory: directory)
        } throws: { error in
            guard let error = error as? MonitorError else { return false }
            return error.kind == .corrupt && error.path == path
                && error.description.hasPrefix(path + ": not valid JSON")
        }
        #expect(try listing(directory) == ["report.json"])

        // Opening for a watcher keeps the bytes aside and starts fresh.
        let fresh = sampleReport(drifts: [])
        // 1_735_787_045 is 2025-01-02 03:04:05 UTC.
        var store = try ReportStore.open(directory: directory, fresh: fresh, now: 1_735_787_045)
        let recovery = try #require(store.recovery)
        #expect(recovery.setAsidePath == path + ".corrupt-20250102T030405Z")
        #expect(recovery.error.kind == .corrupt)
        #expect(FileManager.default.contents(atPath: recovery.setAsidePath) == Data(garbage))
        #expect(store.report == fresh)
        store.record(sampleReport(drifts: [nil]).checkpoints[0])
        try store.save()
        #expect(try listing(directory) == ["report.json", "report.json.corrupt-20250102T030405Z"])

        // A second corrupt file at the same second gets its own name.
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let again = try ReportStore.open(directory: directory, fresh: fresh, now: 1_735_787_045)
        #expect(again.recovery?.setAsidePath == path + ".corrupt-20250102T030405Z-2")
        #expect(again.recovery?.error.reason == "empty file (0 bytes)")
    }

    @Test func newerSchemaIsRefusedAndLeftAlone() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let path = ReportStore.path(in: directory)
        let future = Data("{\"schema_version\": 99, \"something\": \"new\"}".utf8)
        #expect(FileManager.default.createFile(atPath: path, contents: future))
        #expect {
            try ReportStore.open(directory: directory, fresh: sampleReport(drifts: []), now: 0)
        } throws: { error in
            (error as? MonitorError)?.kind == .unsupportedVersion
        }
        #expect(FileManager.default.contents(atPath: path) == future)
        #expect(try listing(directory) == ["report.json"])
    }

    @Test func failedSaveKeepsThePreviousFile() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let missing = directory + "/does-not-exist"
        #expect {
            try ReportStore(directory: missing, report: sampleReport(drifts: [])).save()
        } throws: { error in
            guard let error = error as? MonitorError else { return false }
            return error.kind == .io && error.reason.hasPrefix("open failed: ")
        }
        #expect(try listing(directory).isEmpty)
    }
}
