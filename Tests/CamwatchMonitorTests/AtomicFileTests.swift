@testable import CamwatchMonitor
import CamwatchTestSupport
import Foundation
import Testing

/// `AtomicFile` over `MonitorSystemCalls`: replacement, reading, stale temporaries, the set-aside stamp.
@Suite struct AtomicFileTests {
    @Test func replaceThenReadAndCopy() throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-atomic")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("report.json").path
        #expect(try AtomicFile.readIfPresent(path) == nil)
        try AtomicFile.replace(path, with: Array("first".utf8))
        try AtomicFile.replace(path, with: Array("second".utf8))
        #expect(try AtomicFile.readIfPresent(path) == Array("second".utf8))
        let copy = directory.appendingPathComponent("copy").path
        try AtomicFile.copy(path, to: copy)
        #expect(FileManager.default.contents(atPath: copy) == Data("second".utf8))
        // The copy's target must be new: a second copy names the call and the path.
        let error = try #require(throws: MonitorError.self) { try AtomicFile.copy(path, to: copy) }
        #expect(error.description.contains(copy) && error.description.contains("open failed: File exists"), "\(error)")
        // Nothing but the two files is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["copy", "report.json"])
    }

    @Test("a missing directory: one error naming the call and the path")
    func failedReplaceNamesTheCall() throws {
        let missing = "/nonexistent-camwatch-dir/report.json"
        let error = try #require(throws: MonitorError.self) { try AtomicFile.replace(missing, with: [1]) }
        #expect(error.description.contains("open failed: No such file or directory"), "\(error)")
    }

    @Test("stale temporaries: only regular files with a temporary name go; links and directories stay")
    func staleTemporaries() throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-atomic")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fm = FileManager.default
        let stale = ".report.json.tmp-12-34"
        fm.createFile(atPath: directory.appendingPathComponent(stale).path, contents: Data([1]))
        fm.createFile(atPath: directory.appendingPathComponent("report.json").path, contents: Data([2]))
        try fm.createDirectory(at: directory.appendingPathComponent(".dir.tmp-1-2"), withIntermediateDirectories: false)
        try fm.createSymbolicLink(
            atPath: directory.appendingPathComponent(".link.tmp-3-4").path, withDestinationPath: "/etc/hostname")
        #expect(AtomicFile.removeStaleTemporaries(in: directory.path) == [stale])
        #expect(try fm.contentsOfDirectory(atPath: directory.path).sorted() == [".dir.tmp-1-2", ".link.tmp-3-4", "report.json"])
        #expect(AtomicFile.removeStaleTemporaries(in: directory.appendingPathComponent("missing").path).isEmpty)
    }

    /// The set-aside name's time stamp; a time that is not a number or out of range is the epoch, not a trap
    /// (converting it to `time_t` trapped before).
    @Test(arguments: [
        (1_735_787_045.0, "20250102T030405Z"), (0, "19700101T000000Z"), (-1, "19691231T235959Z"),
        (.nan, "19700101T000000Z"), (.infinity, "19700101T000000Z"), (1e300, "19700101T000000Z"),
    ])
    func utcStamp(seconds: Double, stamp: String) {
        #expect(AtomicFile.utcStamp(seconds) == stamp)
    }
}
