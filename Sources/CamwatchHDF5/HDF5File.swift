internal import CHDF5
import Synchronization

/// An open HDF5 file: list its datasets, read them as numbers, read and write attributes.
///
/// Files are opened read-only with HDF5 file locking off, so camwatch never holds a lock on a trainer's
/// checkpoint (a held lock makes the trainer's next save fail, docs/architecture.md §9.2).
/// Every method takes the one libhdf5 lock for its duration; an `HDF5File` can be shared between tasks.
/// The file closes when the value is released, or earlier with `close()`.
///
/// Paths name objects from the root group, with or without a leading `/`: `layer1/0/conv1/weight`,
/// `features.0.weight` (a dot is an ordinary character in an HDF5 name), `/` or `""` for the root.
public final class HDF5File: Sendable {
    /// The path the file was opened or created with.
    public let path: String
    /// Whether the file was created for writing.
    public let isWritable: Bool
    /// The libhdf5 file identifier; negative once closed.
    private let handle: Mutex<hid_t>

    private init(path: String, id: hid_t, isWritable: Bool) {
        self.path = path
        self.isWritable = isWritable
        self.handle = Mutex(id)
    }

    deinit {
        HDF5Library.serialized {
            handle.withLock { id in
                if id >= 0 { _ = try? H5.closeFile(id) }
                id = -1
            }
        }
    }

    /// Opens an existing file read-only, without a file lock.
    ///
    /// The superblock is checked first (`HDF5Superblock`), so a missing, empty, foreign or truncated file
    /// fails with a precise reason instead of libhdf5's generic "unable to open file".
    /// - Throws: `HDF5Error`.
    public static func open(_ path: String) throws(HDF5Error) -> HDF5File {
        let superblock = try HDF5Superblock.inspect(path)
        // A file still open for writing may still open (libhdf5 decides); the others cannot.
        if superblock.status != .openForWriting, let problem = superblock.problem {
            throw HDF5Error(path: path, reason: problem)
        }
        let id = try HDF5Library.serialized { () throws(HDF5Error) -> hid_t in
            guard HDF5Library.confined else {
                throw HDF5Error(
                    path: path, reason: "cannot switch off libhdf5's plugin loading and external links, so the file "
                        + "is not opened", call: "H5PLset_loading_state")
            }
            do throws(HDF5CallFailure) {
                return try H5.openFile(path)
            } catch {
                var reason = "cannot open HDF5 file: \(error.message(or: "libhdf5 gave no reason"))"
                if superblock.status == .openForWriting {
                    reason += " (the file is open for writing, or its writer crashed)"
                }
                throw HDF5Error(path: path, reason: reason, call: error.call)
            }
        }
        return HDF5File(path: path, id: id, isWritable: false)
    }

    /// Opens an existing file for adding to it (read-write), without a file lock.
    ///
    /// For files camwatch wrote itself and owns (an output copied to a temporary name first, so a crash
    /// while adding never damages the published file); never for a trainer's checkpoint.
    /// - Parameter inMemory: read the file whole into memory and add to it there; the file on disk is never
    ///   written, `image()` returns the result (see `createInMemory(for:)` for why).
    /// - Throws: `HDF5Error`.
    public static func openForAppending(_ path: String, inMemory: Bool = false) throws(HDF5Error) -> HDF5File {
        let superblock = try HDF5Superblock.inspect(path)
        guard superblock.status == .complete else {
            throw HDF5Error(path: path, reason: "cannot add to an HDF5 file that is not complete (\(superblock.status))")
        }
        let id = try HDF5Library.serialized { () throws(HDF5Error) -> hid_t in
            do throws(HDF5CallFailure) {
                return try H5.openFile(path, writable: true, inMemory: inMemory)
            } catch {
                throw HDF5Error(
                    path: path, reason: "cannot open HDF5 file for writing: \(error.message(or: "libhdf5 gave no reason"))",
                    call: error.call)
            }
        }
        return HDF5File(path: path, id: id, isWritable: true)
    }

    /// Creates a new file for writing, replacing any file at `path`.
    /// - Throws: `HDF5Error`.
    public static func create(_ path: String) throws(HDF5Error) -> HDF5File {
        let id = try HDF5Library.serialized { () throws(HDF5Error) -> hid_t in
            do throws(HDF5CallFailure) {
                return try H5.createFile(path)
            } catch {
                throw HDF5Error(
                    path: path, reason: "cannot create HDF5 file: \(error.message(or: "libhdf5 gave no reason"))",
                    call: error.call)
            }
        }
        return HDF5File(path: path, id: id, isWritable: true)
    }

    /// Creates a new, empty file that lives in memory only; `image()` returns its bytes for the caller to write.
    ///
    /// For outputs: libhdf5 1.10 cannot recover from a write that fails while a file closes (a full disk): it
    /// leaves the half-closed file registered with freed internals, and its exit handler crashes on them. A
    /// file in memory never writes, so it always closes; the caller's own write fails cleanly instead.
    /// - Parameter path: where the bytes are meant to go; only names the file in errors.
    /// - Throws: `HDF5Error`.
    public static func createInMemory(for path: String) throws(HDF5Error) -> HDF5File {
        // A name no other open file has: libhdf5 refuses to create a file it considers already open.
        let name = path + "#memory-\(UInt64.random(in: 0...UInt64.max))"
        let id = try HDF5Library.serialized { () throws(HDF5Error) -> hid_t in
            do throws(HDF5CallFailure) {
                return try H5.createFile(name, inMemory: true)
            } catch {
                throw HDF5Error(
                    path: path, reason: "cannot create HDF5 file in memory: \(error.message(or: "libhdf5 gave no reason"))",
                    call: error.call)
            }
        }
        return HDF5File(path: path, id: id, isWritable: true)
    }

    /// The file's bytes as they would be on disk, everything written so far included.
    /// - Throws: `HDF5Error`.
    public func image() throws(HDF5Error) -> [UInt8] {
        try withFile { file throws(HDF5Error) in
            try step("cannot take the file's image", nil) { () throws(HDF5CallFailure) in
                try H5.flushFile(file)
                return try H5.fileImage(file)
            }
        }
    }

    /// Flushes (when writable) and closes the file; later calls on this value throw.
    /// - Throws: `HDF5Error` when libhdf5 cannot write out the file.
    public func close() throws(HDF5Error) {
        try HDF5Library.serialized { () throws(HDF5Error) in
            try handle.withLock { id throws(HDF5Error) in
                guard id >= 0 else { return }
                let file = id
                // Whatever H5Fclose returns, the identifier is done with: after a failed close libhdf5 may have
                // freed the file's internals, so neither `deinit` nor a flush may pass it back.
                id = -1
                do throws(HDF5CallFailure) {
                    try H5.closeFile(file)
                } catch {
                    throw HDF5Error(
                        path: path, reason: "cannot close HDF5 file: \(error.message(or: "write failed"))",
                        call: error.call)
                }
            }
        }
    }

    /// Writes everything buffered so far to disk without closing.
    /// - Throws: `HDF5Error`.
    public func flush() throws(HDF5Error) {
        try withFile { file throws(HDF5Error) in
            try step("cannot flush file", nil) { () throws(HDF5CallFailure) in try H5.flushFile(file) }
        }
    }

    // MARK: - Internals shared by the extensions

    /// Runs `body` with the open file identifier, holding the libhdf5 lock.
    func withFile<R>(_ body: (hid_t) throws(HDF5Error) -> R) throws(HDF5Error) -> R {
        try HDF5Library.serialized { () throws(HDF5Error) -> R in
            try handle.withLock { id throws(HDF5Error) -> R in
                guard id >= 0 else { throw HDF5Error(path: path, reason: "HDF5 file is already closed") }
                return try body(id)
            }
        }
    }

    /// Runs one libhdf5 step of an operation, turning its failure into an `HDF5Error` that names `object`.
    ///
    /// The reason reads `"<action> '<object>': <libhdf5 message>"`.
    func step<R: ~Copyable>(
        _ action: String, _ object: String?, _ body: () throws(HDF5CallFailure) -> R
    ) throws(HDF5Error) -> R {
        do {
            return try body()
        } catch {
            throw failure(action, object, error)
        }
    }

    func failure(_ action: String, _ object: String?, _ error: HDF5CallFailure) -> HDF5Error {
        let subject = object.map { "\(action) '\($0)'" } ?? action
        return HDF5Error(
            path: path, object: object, reason: "\(subject): \(error.message(or: "libhdf5 error in \(error.call)"))",
            call: error.call)
    }

    func error(_ object: String?, _ reason: String) -> HDF5Error {
        HDF5Error(path: path, object: object, reason: object.map { "'\($0)': \(reason)" } ?? reason)
    }

    /// `path` as libhdf5 wants it: absolute, no trailing or repeated slashes.
    static func absolute(_ path: String) -> String {
        "/" + path.split(separator: "/").joined(separator: "/")
    }

    /// `path` as camwatch reports it: relative to the root, `""` for the root itself.
    static func relative(_ path: String) -> String {
        path.split(separator: "/").joined(separator: "/")
    }
}
