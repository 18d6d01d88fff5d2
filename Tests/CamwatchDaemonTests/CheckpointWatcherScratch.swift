import CamwatchTestSupport
import Foundation

/// A temporary checkpoint directory for watcher tests, with the file operations trainers perform.
struct CheckpointWatcherScratch {
    /// The temporary root (removed by `remove()`).
    let root: URL
    /// The watched directory, `<root>/checkpoints`.
    let directory: String

    init() throws {
        root = try Fixtures.temporaryDirectory("camwatch-watcher")
        directory = root.appendingPathComponent("checkpoints").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    func path(_ name: String) -> String { directory + "/" + name }

    /// Writes `bytes` to `name` in place (creating or truncating it), as Keras does.
    @discardableResult
    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Appends `bytes` to `name` (same inode), as a writer that is still busy does.
    func append(_ bytes: [UInt8], to name: String) throws {
        try Self.append(bytes, toPath: path(name))
    }

    static func append(_ bytes: [UInt8], toPath path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
    }

    /// Replaces `name` atomically with new content (a new inode), as Lightning and Ignite do.
    func replace(_ name: String, with bytes: [UInt8]) throws {
        let temporary = root.appendingPathComponent("staging-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        try rename(fromPath: temporary, to: name)
    }

    func rename(_ from: String, to name: String) throws {
        try rename(fromPath: path(from), to: name)
    }

    func rename(fromPath: String, to name: String) throws {
        guard Foundation.rename(fromPath, path(name)) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: fromPath])
        }
    }

    func delete(_ name: String) throws {
        try FileManager.default.removeItem(atPath: path(name))
    }

    func contents(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A complete h5py checkpoint (superblock v0, 11736 bytes).
    static func completeV0() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/tiny_flat.h5"))))
    }

    /// A complete libver-latest checkpoint (superblock v3, 2072 bytes).
    static func completeV3() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/latest.h5"))))
    }

    /// `completeV0` with the superblock's write-access flag set, as a writer that died leaves it.
    static func openForWritingV0() throws -> [UInt8] {
        var bytes = try completeV0()
        bytes[20] = 0x01  // v0 status flags, u32 LE at offset 20
        return bytes
    }
}
