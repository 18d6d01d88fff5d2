import CamwatchCheckpoint

extension CheckpointWatcher {
    /// The gate for a Keras 3 `.keras` file, a zip archive rather than HDF5; `nil` for any other file.
    ///
    /// Keras writes the archive front to back and its end-of-central-directory record last, so an archive
    /// without that record is still being written (or was cut off) and waits like a half-written HDF5 file.
    static func archiveGate(_ file: CheckpointFile, at path: String) -> GateVerdict? {
        guard KerasArchive.isArchive(path) else { return nil }
        guard case .success(let status) = DaemonSystemCalls.linkStatus(path), status.size == file.size else {
            return .changed
        }
        return KerasArchive.isComplete(path)
            ? .passed : .waiting("zip archive without its end record (a .keras file still being written?)")
    }
}
