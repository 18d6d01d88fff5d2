import CamwatchTensor
import Foundation

/// The HDF5 superblock of a file, read without libhdf5: is this a complete, closed HDF5 file?
///
/// A daemon watching a trainer's directory calls this before anything else (docs/architecture.md
/// §9.3): it reads at most a few hundred bytes, takes no lock and cannot be fooled into a long parse.
/// Layout (HDF5 file format specification, "Superblock"): the signature `89 48 44 46 0D 0A 1A 0A` at
/// offset 0, 512, 1024, 2048, …; the version byte right after it. Versions 0 and 1 keep the status flags
/// as a little-endian `UInt32` at +20 and the end-of-file address at +24 (v1: +28) plus two addresses;
/// versions 2 and 3 keep the flags in the byte at +11, the end-of-file address at +12 plus two addresses
/// and a Jenkins lookup3 checksum of everything before it. libhdf5 sets flag bits 0x01 (write access) and
/// 0x04 (SWMR write) while a writer has the file open and clears them on a clean close.
public struct HDF5Superblock: Sendable, Equatable {
    /// What the superblock says about the file as a whole.
    public enum Status: Sendable, Equatable {
        /// Closed cleanly and at least as long as the superblock says.
        case complete
        /// A writer has the file open, or crashed before closing it (status flags `& 0x05 != 0`).
        case openForWriting
        /// Shorter than the end-of-file address stored in the superblock (a partial copy, a killed writer).
        case truncated(actualSize: Int64, storedSize: Int64)
        /// No HDF5 signature where libhdf5 looks for one (this includes an empty file).
        case notHDF5
        /// A signature, but header fields no HDF5 writer produces (unknown version, bad checksum, …).
        case damaged(String)
    }

    /// The verdict.
    public var status: Status
    /// The size of the file in bytes.
    public var fileSize: Int64
    /// Where the signature was found (0 unless the file has a user block).
    public var offset: Int64?
    /// The superblock version (0–3), when there is a signature.
    public var version: Int?
    /// The file consistency (status) flags.
    public var statusFlags: UInt32?
    /// The end-of-file address recorded by the writer: the size the file must have.
    public var storedSize: Int64?
    /// For a file that is not HDF5, what its first bytes look like (e.g. "a PNG image"), when recognizable.
    public var contentHint: String?

    /// Why the file cannot be read as it is, in one line (`nil` when complete): the reason every reader of
    /// checkpoints and outputs gives, so a file gets the same words wherever it is refused.
    public var problem: String? {
        switch status {
        case .complete:
            return nil
        case .openForWriting:
            let flags = statusFlags.map { "0x" + String($0, radix: 16) } ?? "?"
            return "HDF5 file is still open for writing, or its writer crashed (superblock status flags \(flags))"
        case .truncated(let actual, let stored):
            return "truncated HDF5 file (\(actual) bytes, header says \(stored))"
        case .notHDF5 where fileSize == 0:
            return "empty file (0 bytes), not an HDF5 file"
        case .notHDF5:
            return "not an HDF5 file (\(contentHint.map { "it looks like \($0)" } ?? "no HDF5 signature"))"
        case .damaged(let reason):
            return "damaged HDF5 file: \(reason)"
        }
    }

    /// Creates a superblock description (for tests and for callers that read bytes themselves).
    public init(
        status: Status, fileSize: Int64, offset: Int64? = nil, version: Int? = nil, statusFlags: UInt32? = nil,
        storedSize: Int64? = nil, contentHint: String? = nil
    ) {
        self.status = status
        self.fileSize = fileSize
        self.offset = offset
        self.version = version
        self.statusFlags = statusFlags
        self.storedSize = storedSize
        self.contentHint = contentHint
    }

    /// The 8-byte HDF5 signature.
    public static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Reads the superblock of the file at `path`.
    ///
    /// - Throws: `HDF5Error` only when the file cannot be read at all (missing, a directory, no permission);
    ///   every verdict about its contents is a `Status`.
    public static func inspect(_ path: String) throws(HDF5Error) -> HDF5Superblock {
        let handle = try FileReader(path: path)
        defer { handle.close() }
        return try inspect(size: handle.size) { offset, count throws(HDF5Error) in
            try handle.read(at: offset, count: count)
        }
    }

    /// Reads a superblock through `read(offset, count)`, which returns up to `count` bytes at `offset`.
    static func inspect(
        size: Int64, read: (Int64, Int) throws(HDF5Error) -> [UInt8]
    ) throws(HDF5Error) -> HDF5Superblock {
        var result = HDF5Superblock(status: .notHDF5, fileSize: size)
        // libhdf5 searches offset 0, then every power of two from 512 on.
        var candidate: Int64 = 0
        var found: [UInt8]?
        while candidate + 8 <= size {
            // 96 bytes hold every superblock version with 8-byte addresses, checksum included.
            let bytes = try read(candidate, 96)
            if bytes.count >= 8 && Array(bytes[0..<8]) == signature {
                found = bytes
                break
            }
            candidate = candidate == 0 ? 512 : candidate * 2
        }
        guard let bytes = found else {
            if size > 0 { result.contentHint = describeForeignContent(try read(0, 8)) }
            return result
        }
        result.offset = candidate
        let fields = SuperblockFields(bytes)
        guard let version = fields.byte(8) else {
            result.status = .truncated(actualSize: size, storedSize: candidate + 9)
            return result
        }
        result.version = Int(version)

        let offsetSize: Int
        let flags: UInt32
        let eofPosition: Int
        switch version {
        case 0, 1:
            guard let size13 = fields.byte(13), let flags20 = fields.uint(at: 20, size: 4) else {
                result.status = .truncated(actualSize: size, storedSize: candidate + 24)
                return result
            }
            offsetSize = Int(size13)
            flags = UInt32(truncatingIfNeeded: flags20)
            eofPosition = (version == 0 ? 24 : 28) + 2 * offsetSize
        case 2, 3:
            guard let size9 = fields.byte(9), let flags11 = fields.byte(11) else {
                result.status = .truncated(actualSize: size, storedSize: candidate + 12)
                return result
            }
            offsetSize = Int(size9)
            flags = UInt32(flags11)
            eofPosition = 12 + 2 * offsetSize
        default:
            result.status = .damaged("unknown HDF5 superblock version \(version)")
            return result
        }
        result.statusFlags = flags
        guard [2, 4, 8].contains(offsetSize) else {
            result.status = .damaged("superblock says addresses are \(offsetSize) bytes long")
            return result
        }
        guard let eof = fields.uint(at: eofPosition, size: offsetSize) else {
            result.status = .truncated(actualSize: size, storedSize: candidate + Int64(eofPosition + offsetSize))
            return result
        }
        if version >= 2 {
            let checksumPosition = 12 + 4 * offsetSize
            guard let stored = fields.uint(at: checksumPosition, size: 4) else {
                result.status = .truncated(actualSize: size, storedSize: candidate + Int64(checksumPosition + 4))
                return result
            }
            let computed = Lookup3.hash(bytes[0..<checksumPosition])
            guard UInt64(computed) == stored else {
                result.status = .damaged("superblock checksum mismatch (damaged header)")
                return result
            }
        }
        let undefined: UInt64 = offsetSize == 8 ? .max : (1 << UInt64(offsetSize * 8)) - 1
        guard eof != undefined, eof <= UInt64(Int64.max) else {
            result.status = .damaged("superblock has no end-of-file address")
            return result
        }
        let storedSize = Int64(eof)
        result.storedSize = storedSize
        if flags & 0x05 != 0 {
            result.status = .openForWriting
        } else if size < storedSize {
            result.status = .truncated(actualSize: size, storedSize: storedSize)
        } else {
            result.status = .complete
        }
        return result
    }
}

/// What a file that is not HDF5 seems to be, from its first bytes.
private func describeForeignContent(_ magic: [UInt8]) -> String? {
    func starts(_ prefix: [UInt8]) -> Bool { magic.starts(with: prefix) }
    if starts([0x89, 0x50, 0x4E, 0x47]) { return "a PNG image" }
    if starts([0xFF, 0xD8, 0xFF]) { return "a JPEG image" }
    if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) {
        return "a zip archive, e.g. a torch.save .pt file or a Keras .keras file"
    }
    if magic.count >= 2 && magic[0] == 0x80 && (2...5).contains(magic[1]) {
        return "a Python pickle, e.g. a legacy torch.save file"
    }
    if starts([0x1F, 0x8B]) { return "gzip-compressed data" }
    if let first = magic.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "[") { return "JSON text" }
    return nil
}

/// Little-endian fields of a superblock prefix; `nil` where the file ended first.
private struct SuperblockFields {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func byte(_ position: Int) -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    func uint(at position: Int, size: Int) -> UInt64? {
        guard position + size <= bytes.count else { return nil }
        var value: UInt64 = 0
        for i in (0..<size).reversed() {
            value = value << 8 | UInt64(bytes[position + i])
        }
        return value
    }
}

/// Bob Jenkins' lookup3 `hashlittle` with initial value 0: libhdf5's metadata checksum.
enum Lookup3 {
    static func hash(_ key: ArraySlice<UInt8>) -> UInt32 {
        // Zero padding to whole 12-byte blocks is what hashlittle's tail switch amounts to.
        var bytes = Array(key)
        let length = bytes.count
        bytes.append(contentsOf: [UInt8](repeating: 0, count: (12 - length % 12) % 12))
        func word(_ i: Int) -> UInt32 {
            UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        }
        var a: UInt32 = 0xdead_beef &+ UInt32(truncatingIfNeeded: length)
        var b = a
        var c = a
        var remaining = length
        var k = 0
        while remaining > 12 {
            a &+= word(k)
            b &+= word(k + 4)
            c &+= word(k + 8)
            mix(&a, &b, &c)
            remaining -= 12
            k += 12
        }
        if remaining == 0 { return c }
        a &+= word(k)
        b &+= word(k + 4)
        c &+= word(k + 8)
        final(&a, &b, &c)
        return c
    }

    private static func rotate(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }

    private static func mix(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        a &-= c; a ^= rotate(c, 4); c &+= b
        b &-= a; b ^= rotate(a, 6); a &+= c
        c &-= b; c ^= rotate(b, 8); b &+= a
        a &-= c; a ^= rotate(c, 16); c &+= b
        b &-= a; b ^= rotate(a, 19); a &+= c
        c &-= b; c ^= rotate(b, 4); b &+= a
    }

    private static func final(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        c ^= b; c &-= rotate(b, 14)
        a ^= c; a &-= rotate(c, 11)
        b ^= a; b &-= rotate(a, 25)
        c ^= b; c &-= rotate(b, 16)
        a ^= c; a &-= rotate(c, 4)
        b ^= a; b &-= rotate(a, 14)
        c ^= b; c &-= rotate(b, 24)
    }
}

/// Reads byte ranges of a file with Foundation, turning every failure into an `HDF5Error`.
struct FileReader {
    let path: String
    let size: Int64
    private let handle: FileHandle

    init(path: String) throws(HDF5Error) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw HDF5Error(path: path, reason: "no such file") }
        let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        guard type != .typeDirectory else { throw HDF5Error(path: path, reason: "is a directory, not a file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.isReadableFile(atPath: path) ? "cannot open file" : "permission denied"
            throw HDF5Error(path: path, reason: reason)
        }
        self.handle = handle
        do {
            size = Int64(try handle.seekToEnd())
        } catch {
            try? handle.close()
            throw HDF5Error(
                path: path, context: "cannot determine file size", cause: ErrorCause(error, wording: .localized))
        }
    }

    func read(at offset: Int64, count: Int) throws(HDF5Error) -> [UInt8] {
        do {
            try handle.seek(toOffset: UInt64(offset))
            return [UInt8](try handle.read(upToCount: count) ?? Data())
        } catch {
            throw HDF5Error(path: path, context: "cannot read file", cause: ErrorCause(error, wording: .localized))
        }
    }

    func close() { try? handle.close() }
}
