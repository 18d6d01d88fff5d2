import CamwatchTensor
import Foundation
import ZIPFoundation

#if canImport(Glibc)
    import Glibc
#endif

/// A Keras 3 `.keras` file: a zip archive holding `config.json` (the model) and `model.weights.h5` (the
/// weights, Keras 3 layout), and `metadata.json`.
///
/// The archive is untrusted input like any checkpoint: it is read with bounds on the number of entries and
/// on the bytes each wanted entry inflates to (counted while inflating, whatever the header claims), only
/// the two entries camwatch needs are read, and they are written to a private temporary directory under
/// names camwatch chooses, never under a path from the archive. The weights then go through the same HDF5
/// checks as any checkpoint (`CheckpointLoader`).
public enum KerasArchive {
    /// The most entries camwatch looks at; Keras writes three (plus assets for some layers).
    public static let maximumEntries = 256
    /// The most bytes `config.json` may inflate to (a large CNN's config is well under 1 MiB).
    public static let maximumConfigBytes = 16 << 20
    /// The most bytes `model.weights.h5` may inflate to beyond the archive's own size: stored weights do not
    /// compress, so an entry far larger than the archive is a zip bomb.
    public static let weightsSlackBytes = 64 << 20

    /// Whether the file starts with a zip local-file signature (`PK\3\4`).
    public static func isArchive(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4)) ?? Data()
        return head == Data([0x50, 0x4B, 0x03, 0x04])
    }

    /// Whether a zip file is complete: its end-of-central-directory record is in its last 64 KiB + 22 bytes
    /// (a zip is written front to back and that record comes last, so a file still being written lacks it).
    public static func isComplete(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size >= 22 else { return false }
        let tail = min(size, 65_557)
        guard (try? handle.seek(toOffset: size - tail)) != nil, let bytes = try? handle.read(upToCount: Int(tail)),
            bytes.count >= 22
        else { return false }
        let signature: [UInt8] = [0x50, 0x4B, 0x05, 0x06]
        let array = [UInt8](bytes)
        for start in stride(from: array.count - 22, through: 0, by: -1) where Array(array[start..<(start + 4)]) == signature {
            return true
        }
        return false
    }

    /// Loads a `.keras` file: its weights translated with its own config.
    /// - Throws: `CheckpointError` naming the archive and the reason (one line).
    static func load(path: String, allowNonFinite: Bool) throws -> Checkpoint {
        guard isComplete(path) else {
            throw CheckpointError(.incomplete, path: path,
                                  reason: "zip archive without its end record: still being written, or cut off")
        }
        removeAbandonedDirectories()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(directoryPrefix)\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CheckpointError(
                .unreadable, path: path, context: "cannot create a private directory to read the archive",
                cause: ErrorCause(error, wording: .localized))
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        let (config, weights) = try extract(path, into: directory, archiveSize: size)
        // A config camwatch cannot build is the archive's problem, named as config.json's.
        do { _ = try KerasModel(json: config) } catch {
            throw CheckpointError(
                .unsupported, path: path, object: "config.json", context: "config.json", cause: ErrorCause(error))
        }
        var checkpoint: Checkpoint
        do {
            checkpoint = try CheckpointLoader.loadHDF5(path: weights.path, format: nil, allowNonFinite: allowNonFinite) {
                try KerasFormat.read($0, path: path, config: config)
            }
        } catch let error as CheckpointError {
            // The errors name the private copy; the user knows the archive.
            throw CheckpointError(error.kind, path: path, object: error.object, reason: "model.weights.h5: " + error.reason)
        }
        checkpoint.path = path
        return checkpoint
    }

    /// The model config (`config.json`) of a `.keras` file, for `--model model.keras`.
    public static func config(at path: String) throws(CheckpointError) -> String {
        let (archive, configEntry, _) = try entries(path)
        let data = try inflate(configEntry, of: archive, path: path, limit: maximumConfigBytes, to: nil)
        return String(decoding: data, as: UTF8.self)
    }

    /// The private directories' name prefix; the reader's process id follows.
    static let directoryPrefix = "camwatch-keras-"

    /// Removes private directories left by readers that no longer run: a reader child killed at its memory or
    /// CPU limit never reaches its cleanup, and its copy of the weights would stay in the temporary directory.
    static func removeAbandonedDirectories() {
        let temporary = FileManager.default.temporaryDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporary.path) else { return }
        for name in names where name.hasPrefix(directoryPrefix) {
            let rest = name.dropFirst(directoryPrefix.count)
            guard let pid = rest.split(separator: "-").first.flatMap({ Int32($0) }), pid > 0 else { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
    }

    /// Reads `config.json` and writes `model.weights.h5` into `directory`.
    private static func extract(_ path: String, into directory: URL, archiveSize: Int) throws(CheckpointError)
        -> (config: String, weights: URL)
    {
        let (archive, configEntry, weightsEntry) = try entries(path)
        guard let weightsEntry else {
            throw CheckpointError(.unsupported, path: path, reason: "Keras archive without model.weights.h5")
        }
        let configData = try inflate(configEntry, of: archive, path: path, limit: maximumConfigBytes, to: nil)
        let weightsURL = directory.appendingPathComponent("model.weights.h5")
        let limit = archiveSize.addingReportingOverflow(weightsSlackBytes)
        _ = try inflate(weightsEntry, of: archive, path: path, limit: limit.overflow ? Int.max : limit.partialValue,
                        to: weightsURL)
        return (String(decoding: configData, as: UTF8.self), weightsURL)
    }

    /// The archive with its `config.json` and `model.weights.h5` entries, after a bounded walk of its entries.
    private static func entries(_ path: String) throws(CheckpointError) -> (Archive, Entry, Entry?) {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw CheckpointError(
                .damaged, path: path, context: "not a readable zip archive",
                cause: ErrorCause(error, placement: .inParentheses))
        }
        var configEntry: Entry?
        var weightsEntry: Entry?
        var seen = 0
        for entry in archive {
            seen += 1
            guard seen <= maximumEntries else {
                throw CheckpointError(.unsupported, path: path, reason: "zip archive with more than \(maximumEntries) entries")
            }
            guard entry.type == .file else { continue }
            if entry.path == "config.json" { configEntry = entry }
            if entry.path == "model.weights.h5" { weightsEntry = entry }
        }
        guard let configEntry else {
            throw CheckpointError(.unsupported, path: path, reason: "zip archive without config.json: not a Keras 3 .keras file")
        }
        return (archive, configEntry, weightsEntry)
    }

    /// An entry's bytes (in memory, or written to `file`), stopping at `limit` bytes whatever the header says.
    private static func inflate(_ entry: Entry, of archive: Archive, path: String, limit: Int, to file: URL?)
        throws(CheckpointError) -> Data
    {
        guard entry.uncompressedSize <= UInt64(limit) else {
            throw CheckpointError(.unsupported, path: path, object: entry.path,
                                  reason: "\(entry.path) declares \(entry.uncompressedSize) bytes, more than \(limit)")
        }
        var collected = Data()
        var total = 0
        var output: FileHandle?
        if let file {
            guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]),
                let handle = FileHandle(forWritingAtPath: file.path)
            else {
                throw CheckpointError(.unreadable, path: path, reason: "cannot write a private copy of \(entry.path)")
            }
            output = handle
        }
        defer { try? output?.close() }
        do {
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                total += chunk.count
                guard total <= limit else { throw ArchiveLimit() }
                if let output { try output.write(contentsOf: chunk) } else { collected.append(chunk) }
            }
        } catch is ArchiveLimit {
            throw CheckpointError(.unsupported, path: path, object: entry.path,
                                  reason: "\(entry.path) inflates to more than \(limit) bytes (a zip bomb?)")
        } catch {
            throw CheckpointError(
                .damaged, path: path, object: entry.path, context: "\(entry.path) cannot be read",
                cause: ErrorCause(error, placement: .inParentheses))
        }
        return collected
    }

    private struct ArchiveLimit: Error {}
}
