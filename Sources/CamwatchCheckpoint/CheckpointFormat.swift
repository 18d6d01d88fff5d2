public import CamwatchHDF5

/// One way frameworks lay out weights in an HDF5 file, and how to turn it into a `Checkpoint`.
///
/// Adding a format (Keras 2 `.h5`, Keras 3 `.weights.h5`, …) means adding one type that conforms, in
/// `Formats/`, and listing it in `CheckpointLoader.formats` before the generic formats it is more specific
/// than. Adapters convert to camwatch's layout (OIHW convolutions, `[out, in]` linear weights) and name
/// tensors by PyTorch state_dict conventions, so the network never sees where weights came from.
public protocol CheckpointFormat {
    /// A short stable name, e.g. `pytorch-state-dict`, shown by `camwatch inspect` and in reports.
    static var name: String { get }

    /// Whether this format recognizes the file (cheap: attributes and names, no weight data).
    /// - Throws: `HDF5Error` or `CheckpointError` when the file cannot be read far enough to tell.
    static func matches(_ file: HDF5File) throws -> Bool

    /// Reads the weights and root attributes.
    /// - Parameters:
    ///   - file: the open file.
    ///   - path: the file's path, for `Checkpoint.path` and for files beside it (e.g. a Keras `config.json`).
    /// - Throws: `HDF5Error` or `CheckpointError`.
    static func read(_ file: HDF5File, path: String) throws -> Checkpoint
}
