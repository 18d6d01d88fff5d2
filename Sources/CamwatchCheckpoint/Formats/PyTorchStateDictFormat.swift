public import CamwatchHDF5
import CamwatchTensor

/// A PyTorch `state_dict` saved with h5py: one dataset per key.
///
/// Keys may be flat dataset names at the root (`features.0.weight`, the common
/// `f.create_dataset(k, data=v.numpy())` idiom) or nested groups (`layer1/0/conv1/weight`); both become
/// `layer1.0.conv1.weight`. float16/32/64 datasets are converted to float32. Integer datasets are not
/// weights: `*.num_batches_tracked` (BatchNorm's counter) is dropped silently, others are listed in
/// `Checkpoint.skipped`, as are string and other non-numeric datasets. PyTorch layouts are camwatch's
/// layouts, so no tensor is transposed. A model wrapped in `nn.DataParallel` or `DistributedDataParallel`
/// saves every key under `module.`; when every dataset's name starts with it, it is removed (and a note
/// says so), so the names are the model's own.
public enum PyTorchStateDictFormat: CheckpointFormat {
    public static let name = "pytorch-state-dict"

    /// Any file with at least one dataset; this is the generic fallback, listed last.
    public static func matches(_ file: HDF5File) throws -> Bool {
        !(try file.datasetPaths().isEmpty)
    }

    /// The prefix `nn.DataParallel` and `DistributedDataParallel` put before every state_dict key.
    public static let dataParallelPrefix = "module."

    public static func read(_ file: HDF5File, path: String) throws -> Checkpoint {
        var tensors: [String: Tensor] = [:]
        var storedTypes: [String: String] = [:]
        var skipped: [String: String] = [:]
        var sources: [String: String] = [:]
        let datasets = try file.datasetPaths()
        let names = datasets.map { $0.split(separator: "/").joined(separator: ".") }
        let prefix = Self.dataParallelPrefix
        let wrapped = names.allSatisfy { $0.hasPrefix(prefix) && $0.count > prefix.count }
        for (dataset, fullName) in zip(datasets, names) {
            let name = wrapped ? String(fullName.dropFirst(prefix.count)) : fullName
            let info = try file.datasetInfo(at: dataset)
            guard info.elementType.isFloatingPoint else {
                if info.elementType.isInteger {
                    if !name.hasSuffix("num_batches_tracked") {
                        skipped[name] = "\(info.elementType) dataset, not a weight"
                    }
                } else {
                    skipped[name] = "\(info.elementType) dataset, not numeric"
                }
                continue
            }
            if let other = sources[name] {
                throw CheckpointError(
                    .unsupported, path: path, object: name,
                    reason: "both '\(other)' and '\(dataset)' give the tensor name '\(name)'")
            }
            let array = try file.readFloats(at: dataset)
            tensors[name] = Tensor(shape: array.shape, scalars: array.values)
            storedTypes[name] = "\(array.elementType)"
            sources[name] = dataset
        }
        let attributes = try file.attributes()
        let notes = wrapped
            ? ["every tensor name starts with '\(prefix)' (saved from nn.DataParallel or DistributedDataParallel); "
                + "read without it"]
            : []
        return Checkpoint(
            path: path, format: name, tensors: tensors, storedTypes: storedTypes, attributes: attributes,
            skipped: skipped, notes: notes)
    }
}
