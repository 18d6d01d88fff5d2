import CamwatchHDF5
import CamwatchTensor
import Foundation

/// Loads a checkpoint file into named tensors, whatever framework wrote it.
///
/// The steps, each with its own precise error: the file exists and is a regular file; its HDF5 superblock
/// says it is complete and closed (so a half-written, still-open or truncated file is named as such, without
/// parsing it); libhdf5 opens it read-only with file locking off (camwatch never holds a lock on a trainer's
/// file); the first format in `formats` that recognizes the file reads it; every tensor is finite.
public enum CheckpointLoader {
    /// The known formats, most specific first; the generic PyTorch state_dict reader comes last.
    public static var formats: [any CheckpointFormat.Type] { [PyTorchStateDictFormat.self] }

    /// Loads the checkpoint at `path`.
    ///
    /// - Parameters:
    ///   - path: an HDF5 checkpoint file.
    ///   - format: a format name to use instead of detecting it (see `formats`).
    ///   - allowNonFinite: accept tensors holding NaN or infinity instead of failing with `.nonFinite`.
    /// - Returns: the tensors in camwatch's layout with the file's root attributes.
    /// - Throws: `CheckpointError`, whose `description` is one line naming the file and the reason.
    public static func load(path: String, format: String? = nil, allowNonFinite: Bool = false) throws -> Checkpoint {
        try checkReadable(path)
        let superblock: HDF5Superblock
        do {
            superblock = try HDF5Superblock.inspect(path)
        } catch {
            throw CheckpointError(.unreadable, path: path, reason: error.reason)
        }
        try checkComplete(superblock, path: path)

        let file: HDF5File
        do {
            file = try HDF5File.open(path)
        } catch {
            throw CheckpointError(.damaged, path: path, object: error.object, reason: error.reason)
        }
        defer { try? file.close() }

        let adapter = try chooseFormat(format, for: file, path: path)
        var checkpoint: Checkpoint
        do {
            checkpoint = try adapter.read(file, path: path)
        } catch {
            throw checkpointError(error, path: path)
        }
        checkpoint.path = path
        guard !checkpoint.tensors.isEmpty else {
            let skipped = checkpoint.skipped.keys.sorted()
            let detail = skipped.isEmpty ? "" : " (skipped: \(skipped.prefix(5).joined(separator: ", ")))"
            throw CheckpointError(.unsupported, path: path, reason: "no float tensors in the checkpoint\(detail)")
        }
        if !allowNonFinite { try checkFinite(checkpoint) }
        return checkpoint
    }

    private static func checkReadable(_ path: String) throws(CheckpointError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(.missing, path: path, reason: "no such file")
        }
        let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        if type == .typeDirectory {
            throw CheckpointError(.unreadable, path: path, reason: "is a directory, not a checkpoint file")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CheckpointError(.unreadable, path: path, reason: "permission denied")
        }
    }

    private static func checkComplete(_ superblock: HDF5Superblock, path: String) throws(CheckpointError) {
        switch superblock.status {
        case .complete:
            return
        case .notHDF5:
            if superblock.fileSize == 0 {
                throw CheckpointError(.empty, path: path, reason: "empty file (0 bytes), not yet written?")
            }
            let hint = superblock.contentHint.map { "it looks like \($0)" } ?? "no HDF5 signature"
            throw CheckpointError(.notHDF5, path: path, reason: "not an HDF5 file (\(hint))")
        case .truncated(let actual, let stored):
            throw CheckpointError(
                .truncated, path: path, reason: "truncated HDF5 file (\(actual) bytes, header says \(stored))")
        case .openForWriting:
            let flags = String(superblock.statusFlags ?? 0, radix: 16)
            throw CheckpointError(
                .incomplete, path: path,
                reason:
                    "HDF5 file is still open for writing, or its writer crashed (superblock status flags 0x\(flags))")
        case .damaged(let reason):
            throw CheckpointError(.damaged, path: path, reason: "damaged HDF5 file: \(reason)")
        }
    }

    private static func chooseFormat(
        _ name: String?, for file: HDF5File, path: String
    ) throws(CheckpointError) -> any CheckpointFormat.Type {
        if let name {
            guard let format = formats.first(where: { $0.name == name }) else {
                let known = formats.map { $0.name }.joined(separator: ", ")
                throw CheckpointError(
                    .unsupported, path: path, reason: "unknown checkpoint format '\(name)' (known: \(known))")
            }
            return format
        }
        for format in formats {
            let matches: Bool
            do {
                matches = try format.matches(file)
            } catch {
                throw checkpointError(error, path: path)
            }
            if matches { return format }
        }
        throw CheckpointError(.unsupported, path: path, reason: "no datasets: the HDF5 file holds no weights")
    }

    /// An adapter's error as a `CheckpointError`: libhdf5 failures mean the file is damaged.
    private static func checkpointError(_ error: any Error, path: String) -> CheckpointError {
        switch error {
        case let error as CheckpointError: error
        case let error as HDF5Error: CheckpointError(.damaged, path: path, object: error.object, reason: error.reason)
        default: CheckpointError(.damaged, path: path, reason: "\(error)")
        }
    }

    private static func checkFinite(_ checkpoint: Checkpoint) throws(CheckpointError) {
        for name in checkpoint.tensors.keys.sorted() {
            guard let tensor = checkpoint.tensors[name] else { continue }
            let bad = tensor.scalars.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
            if bad > 0 {
                throw CheckpointError(
                    .nonFinite, path: checkpoint.path, object: name,
                    reason:
                        "tensor '\(name)' holds \(bad) NaN or infinite value\(bad == 1 ? "" : "s") (training diverged?)"
                )
            }
        }
    }
}
