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
    public static var formats: [any CheckpointFormat.Type] { [KerasFormat.self, PyTorchStateDictFormat.self] }

    // MARK: - What one checkpoint may cost
    //
    // A 200 KB file can declare gigabytes: chunked, compressed datasets that were never written read as their
    // fill value, so libhdf5 decodes whatever shape the header claims. Every number a checkpoint declares
    // becomes a Float in the reader, again in the reply and in the caller's network, so the declared numbers
    // are counted before any is read.

    /// The most numbers (elements of numeric datasets) one checkpoint may declare: 2^30, 4 GiB as float32.
    /// The largest common CNNs hold far less (VGG-19 and ResNet-152: 144 M and 60 M parameters).
    public static let maximumElements = 1 << 30
    /// The most elements one dataset may declare: 2^28 (1 GiB as float32), 2.6 times VGG-19's 103 M-element
    /// fc6 weight, the largest layer of the common CNNs.
    public static let maximumTensorElements = 1 << 28
    /// Numbers a file may declare per byte it occupies: 16 (64 times its size when read as float32). Stored
    /// weights, even compressed, hold about one number per 2 to 4 bytes; far more means data that is not in
    /// the file (never-written chunks) or compresses like no weights do.
    public static let maximumElementsPerByte = 16
    /// The numbers any file may declare whatever its size: 2^26 (256 MiB as float32), so small models are
    /// never judged by their size.
    public static let minimumElementAllowance = 1 << 26

    /// The most numbers a checkpoint file of `fileSize` bytes may declare.
    public static func elementBudget(fileSize: Int64) -> Int {
        let (proportional, overflow) = Int(clamping: max(0, fileSize)).multipliedReportingOverflow(
            by: maximumElementsPerByte)
        return min(maximumElements, max(minimumElementAllowance, overflow ? Int.max : proportional))
    }

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
        // A Keras 3 `.keras` file is a zip around an HDF5 file; KerasArchive unpacks it and comes back here.
        if KerasArchive.isArchive(path) { return try KerasArchive.load(path: path, allowNonFinite: allowNonFinite) }
        return try loadHDF5(path: path, format: format, allowNonFinite: allowNonFinite, read: nil)
    }

    /// The HDF5 steps of `load`: header gate, open, declared-size check, the format's reader (`read`, when
    /// given, instead of the detected format), the finite check.
    static func loadHDF5(
        path: String, format: String?, allowNonFinite: Bool, read: ((HDF5File) throws -> Checkpoint)?
    ) throws -> Checkpoint {
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
        try checkDeclaredSize(file, path: path, fileSize: superblock.fileSize)

        var checkpoint: Checkpoint
        do {
            if let read {
                checkpoint = try read(file)
            } else {
                checkpoint = try chooseFormat(format, for: file, path: path).read(file, path: path)
            }
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
        guard let problem = superblock.problem else { return }
        let kind: CheckpointError.Kind
        switch superblock.status {
        case .complete: return
        case .notHDF5 where superblock.fileSize == 0:
            // Beside a trainer an empty checkpoint is most likely one being created.
            throw CheckpointError(.empty, path: path, reason: "empty file (0 bytes), not yet written?")
        case .notHDF5: kind = .notHDF5
        case .truncated: kind = .truncated
        case .openForWriting: kind = .incomplete
        case .damaged: kind = .damaged
        }
        throw CheckpointError(kind, path: path, reason: problem)
    }

    /// Refuses a file whose numeric datasets declare more than `elementBudget(fileSize:)` numbers, or one
    /// dataset more than `maximumTensorElements`, before any is read. Describing every dataset also refuses
    /// storage outside the file (`HDF5File.datasetInfo(at:)`) before a format adapter touches it.
    private static func checkDeclaredSize(_ file: HDF5File, path: String, fileSize: Int64) throws(CheckpointError) {
        let budget = elementBudget(fileSize: fileSize)
        var total = 0
        do {
            for dataset in try file.datasetPaths() {
                let info = try file.datasetInfo(at: dataset)
                guard info.elementType.isNumeric else { continue }
                // `datasetInfo` has checked that the product does not overflow.
                let count = info.elementCount
                guard count <= maximumTensorElements else {
                    throw CheckpointError(
                        .unsupported, path: path, object: dataset,
                        reason: "dataset '\(dataset)' declares \(count) elements (shape \(info.shape)), more than one "
                            + "tensor may hold (\(maximumTensorElements))")
                }
                total += count
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw checkpointError(error, path: path)
        }
        guard total <= budget else {
            let bytes = ByteCountFormatter.string(fromByteCount: Int64(total) * 4, countStyle: .binary)
            let reason =
                total > maximumElements
                ? "more than one checkpoint may hold (\(maximumElements))"
                : "more than \(maximumElementsPerByte) per byte of a \(fileSize)-byte file: data that is not in the "
                    + "file (never-written chunks) or a compression bomb"
            throw CheckpointError(
                .unsupported, path: path,
                reason: "datasets declare \(total) numbers (\(bytes) as float32), \(reason); refused before reading")
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
        default: CheckpointError(.damaged, path: path, context: "", cause: ErrorCause(error))
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
