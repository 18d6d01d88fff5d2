import CamwatchHDF5
import CamwatchTestSupport
import Foundation
import Testing

/// Bad input never crashes: every failure is an `HDF5Error` with a one-line reason.
@Suite struct HDF5CorruptFileTests {
    static let good = Fixtures.path("checkpoints/tiny_flat.h5")

    /// Opens `path` and reads every dataset and root attribute, as the checkpoint loader does.
    static func readEverything(_ path: String) throws(HDF5Error) -> Int {
        let file = try HDF5File.open(path)
        var count = 0
        for dataset in try file.datasetPaths() {
            let info = try file.datasetInfo(at: dataset)
            if info.elementType.isNumeric { count += try file.readFloats(at: dataset).values.count }
        }
        count += try file.attributes().count
        return count
    }

    static func expectOneLine(_ error: HDF5Error, path: String) {
        #expect(error.description.hasPrefix("\(path): "))
        #expect(!error.description.contains("\n"))
        #expect(error.reason.count > 5)
    }

    @Test func missingEmptyAndForeignFiles() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.h5").path
        let noFile = try #require(throws: HDF5Error.self) { try HDF5File.open(missing) }
        #expect(noFile.description == "\(missing): no such file")

        let empty = directory.appendingPathComponent("empty.h5").path
        try Data().write(to: URL(fileURLWithPath: empty))
        let emptyError = try #require(throws: HDF5Error.self) { try HDF5File.open(empty) }
        #expect(emptyError.description == "\(empty): empty file (0 bytes), not an HDF5 file")

        let random = directory.appendingPathComponent("random.h5").path
        var state: UInt32 = 99
        let noise = (0..<4096).map { i -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return i == 0 ? 0x01 : UInt8(truncatingIfNeeded: state >> 24)  // first byte: no known file format
        }
        try Data(noise).write(to: URL(fileURLWithPath: random))
        let randomError = try #require(throws: HDF5Error.self) { try HDF5File.open(random) }
        #expect(randomError.description == "\(random): not an HDF5 file (no HDF5 signature)")
    }

    @Test func truncatedFilesSayHowShort() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.good))
        for length in [100, 2048, 6000, bytes.count - 1] {
            let path = directory.appendingPathComponent("cut.h5").path
            try bytes.prefix(length).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: HDF5Error.self) { try HDF5File.open(path) }
            #expect(error.description == "\(path): truncated HDF5 file (\(length) bytes, header says \(bytes.count))")
        }
    }

    @Test func headerDamageIsReportedByLibhdf5() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.good)))
        // Byte 96 on is the root group's symbol-table entry; break its object header address.
        bytes[96 + 8] ^= 0x40
        let path = directory.appendingPathComponent("root.h5").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: HDF5Error.self) { try Self.readEverything(path) }
        Self.expectOneLine(error, path: path)
        #expect(error.reason.hasPrefix("cannot open HDF5 file: "))
    }

    /// Flips one bit at every 9th byte of a real checkpoint: whatever libhdf5 makes of it, the result is values
    /// or an `HDF5Error`. (h5py's files carry no checksums, so a flip inside raw weight data is invisible and
    /// simply reads as a different number.) The file has no attributes: libhdf5 1.10.8 itself segfaults or
    /// loops on some damaged attribute and global-heap metadata, which no in-process check can prevent
    /// (see `CheckpointSubprocess`).
    @Test func bitFlipsNeverCrash() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bare = Fixtures.path("checkpoints/tiny_bare.h5")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bare)))
        let total = try Self.readEverything(bare)
        var failures = 0
        var successes = 0
        for position in stride(from: 0, to: bytes.count, by: 9) {
            var damaged = bytes
            damaged[position] ^= UInt8(1) << UInt8(position % 8)
            let path = directory.appendingPathComponent("flip-\(position).h5").path
            try Data(damaged).write(to: URL(fileURLWithPath: path))
            do {
                _ = try Self.readEverything(path)
                successes += 1
            } catch {
                Self.expectOneLine(error, path: path)
                failures += 1
            }
            try FileManager.default.removeItem(atPath: path)
        }
        #expect(total > 100)
        #expect(failures > 50)
        #expect(successes > 500)
    }

    /// A flip in conv1.weight's layout message (version 3 → 2) that libhdf5 then reads as a compact layout of
    /// size 0: libhdf5 would copy out of bounds (it segfaults), camwatch refuses first because the sizes disagree.
    @Test func impossibleCompactLayoutIsRefused() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/tiny_bare.h5"))))
        #expect(bytes[952] == 3)  // the layout message version of conv1.weight
        bytes[952] = 2
        let path = directory.appendingPathComponent("compact.h5").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let file = try HDF5File.open(path)
        let error = try #require(throws: HDF5Error.self) { try file.readFloats(at: "conv1.weight") }
        let reason = "shape [4, 3, 3, 3] of 4-byte elements needs 432 bytes but the file stores 0 (damaged file?)"
        #expect(error.description == "\(path): 'conv1.weight': \(reason)")
    }
}
