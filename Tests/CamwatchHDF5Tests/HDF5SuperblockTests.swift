import CamwatchHDF5
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct HDF5SuperblockTests {
    @Test func completeFilesFromH5py() throws {
        let flat = try HDF5Superblock.inspect(Fixtures.path("checkpoints/tiny_flat.h5"))
        #expect(flat.status == .complete)
        #expect(flat.version == 0)
        #expect(flat.offset == 0)
        #expect(flat.statusFlags == 0)
        #expect(flat.storedSize == flat.fileSize)
        #expect(flat.fileSize == 11736)

        let latest = try HDF5Superblock.inspect(Fixtures.path("checkpoints/latest.h5"))
        #expect(latest.status == .complete)  // also proves the lookup3 checksum matches libhdf5's
        #expect(latest.version == 3)
        #expect(latest.storedSize == 2072)

        let userBlock = try HDF5Superblock.inspect(Fixtures.path("checkpoints/userblock.h5"))
        #expect(userBlock.status == .complete)
        #expect(userBlock.offset == 512)
        #expect(userBlock.storedSize == userBlock.fileSize)
    }

    @Test(arguments: ["tiny_flat.h5", "latest.h5", "userblock.h5"])
    func truncatedCopiesAreTruncated(name: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/\(name)")))
        let header = name == "userblock.h5" ? 512 + 96 : 96
        for length in [header, bytes.count / 2, bytes.count - 1] {
            let path = directory.appendingPathComponent("cut-\(length).h5").path
            try bytes.prefix(length).write(to: URL(fileURLWithPath: path))
            let superblock = try HDF5Superblock.inspect(path)
            #expect(superblock.status == .truncated(actualSize: Int64(length), storedSize: Int64(bytes.count)))
        }
        // Cut inside the superblock itself: the header cannot even say how long the file should be.
        let path = directory.appendingPathComponent("cut-header.h5").path
        try bytes.prefix(header - 70).write(to: URL(fileURLWithPath: path))
        guard case .truncated(let actual, _) = try HDF5Superblock.inspect(path).status else {
            Issue.record("a superblock cut short is not reported as truncated")
            return
        }
        #expect(actual == Int64(header - 70))
    }

    @Test func fileOpenForWritingIsFlagged() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("writing.h5").path
        let file = try HDF5File.create(path)
        try file.write([Float]([1, 2, 3]), shape: [3], to: "x")
        try file.flush()
        let during = try HDF5Superblock.inspect(path)
        #expect(during.status == .openForWriting)
        #expect(during.statusFlags == 1)
        try file.close()
        let after = try HDF5Superblock.inspect(path)
        #expect(after.status == .complete)
        #expect(after.statusFlags == 0)
    }

    @Test func foreignAndDamagedHeaders() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func inspect(_ bytes: [UInt8], _ name: String) throws -> HDF5Superblock.Status {
            let path = directory.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return try HDF5Superblock.inspect(path).status
        }
        #expect(try inspect([], "empty.h5") == .notHDF5)
        #expect(try inspect(Array("not hdf5 at all".utf8), "text.h5") == .notHDF5)
        var state: UInt32 = 7
        let noise = (0..<5000).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        #expect(try inspect(noise, "random.h5") == .notHDF5)

        let v0 = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/tiny_flat.h5"))))
        var version = v0
        version[8] = 7
        #expect(try inspect(version, "version.h5") == .damaged("unknown HDF5 superblock version 7"))
        var flags = v0
        flags[20] = 0x01
        #expect(try inspect(flags, "flags.h5") == .openForWriting)
        var offsets = v0
        offsets[13] = 3
        #expect(try inspect(offsets, "offsets.h5") == .damaged("superblock says addresses are 3 bytes long"))

        let v3 = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/latest.h5"))))
        var flipped = v3
        flipped[30] ^= 0x10  // inside the end-of-file address
        #expect(try inspect(flipped, "flipped.h5") == .damaged("superblock checksum mismatch (damaged header)"))
        var writing = v3
        writing[11] = 0x01  // a v3 writer still has it open (and rewrote the checksum)
        #expect(try inspect(writing, "writing.h5") == .damaged("superblock checksum mismatch (damaged header)"))
    }

    @Test func unreadablePathsThrow() throws {
        let missing = try #require(throws: HDF5Error.self) { try HDF5Superblock.inspect("/nonexistent/x.h5") }
        #expect(missing.description == "/nonexistent/x.h5: no such file")
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = try #require(throws: HDF5Error.self) { try HDF5Superblock.inspect(directory.path) }
        #expect(folder.reason == "is a directory, not a file")
    }
}
