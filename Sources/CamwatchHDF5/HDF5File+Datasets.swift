internal import CHDF5

extension HDF5File {
    /// The most elements camwatch reads from one dataset (8 GiB as `Float`); more means a damaged header.
    public static let maximumElementCount = 1 << 31

    /// The shape and stored element type of a dataset, without reading its values.
    /// - Throws: `HDF5Error` when `path` is not a readable dataset.
    public func datasetInfo(at path: String) throws(HDF5Error) -> HDF5DatasetInfo {
        try withFile { file throws(HDF5Error) -> HDF5DatasetInfo in
            let dataset = try openDataset(file, path)
            return try describe(dataset.id, HDF5File.relative(path))
        }
    }

    /// Reads a dataset of any float or integer type as `Float`, with its shape.
    ///
    /// libhdf5 converts from the stored type (float16 and float64 included) while reading; `elementType`
    /// says what was stored. A scalar dataset has shape `[]` and one value.
    /// - Throws: `HDF5Error` for a missing dataset, a non-numeric type (strings, compound, enum/bool) or a
    ///   read failure (e.g. raw data cut off by truncation).
    public func readFloats(at path: String) throws(HDF5Error) -> HDF5Array<Float> {
        try read(path, memoryType: H5.nativeFloat, as: Float.self)
    }

    /// Reads a dataset of any integer (or float, truncated toward zero) type as `Int64`, with its shape.
    /// - Throws: `HDF5Error`, as `readFloats(at:)`.
    public func readIntegers(at path: String) throws(HDF5Error) -> HDF5Array<Int64> {
        try read(path, memoryType: H5.nativeInt64, as: Int64.self)
    }

    private func read<Scalar: BitwiseCopyable & Sendable & Equatable>(
        _ path: String, memoryType: hid_t, as _: Scalar.Type
    ) throws(HDF5Error) -> HDF5Array<Scalar> {
        let name = HDF5File.relative(path)
        return try withFile { file throws(HDF5Error) -> HDF5Array<Scalar> in
            let dataset = try openDataset(file, path)
            let info = try describe(dataset.id, name)
            guard info.elementType.isNumeric else {
                throw error(name, "cannot read \(info.elementType) elements as numbers")
            }
            let count = info.elementCount
            let values = try step("cannot read dataset", name) { () throws(HDF5CallFailure) -> [Scalar] in
                try H5.read(dataset.id, as: memoryType, count: count, of: Scalar.self)
            }
            return HDF5Array(shape: info.shape, elementType: info.elementType, values: values)
        }
    }

    private func openDataset(_ file: hid_t, _ path: String) throws(HDF5Error) -> H5Handle {
        let name = HDF5File.relative(path)
        let absolute = HDF5File.absolute(path)
        guard H5.exists(file, absolute) else { throw error(name, "no such dataset") }
        return try step("cannot open dataset", name) { () throws(HDF5CallFailure) in
            try H5.openDataset(file, absolute)
        }
    }

    /// Shape and type of an open dataset, checked against what the file can actually hold.
    private func describe(_ dataset: hid_t, _ name: String) throws(HDF5Error) -> HDF5DatasetInfo {
        // Storage first: a virtual dataset's extent can already open its source files.
        let storage = try step("cannot read the header of dataset", name) { () throws(HDF5CallFailure) in
            try H5.storage(dataset)
        }
        try checkConfined(storage, name)
        let (type, extent) = try step("cannot read the header of dataset", name) {
            () throws(HDF5CallFailure) -> (H5TypeInfo, [Int]?) in
            let type = try H5.datasetType(dataset)
            let space = try H5.datasetSpace(dataset)
            return (try H5.typeInfo(type.id), try H5.extent(space.id))
        }
        let shape = extent ?? [0]
        guard let count = HDF5File.elementCount(shape, atMost: HDF5File.maximumElementCount) else {
            throw error(name, "shape \(shape) is too large to read (damaged file?)")
        }
        // libhdf5 decodes a whole chunk at a time: a chunk far bigger than its dataset costs memory the data
        // does not need (h5py's automatic chunks stay under 1 MiB; a chunk may exceed a small resizable dataset).
        if storage.chunkElements > UInt64(max(count, HDF5File.chunkAllowance)) {
            throw error(
                name,
                "chunks of \(storage.chunkElements) elements for a dataset of \(count) would make libhdf5 allocate "
                    + "far more memory than the data needs (damaged or hostile file?)")
        }
        // A damaged header can claim far more elements than the file stores, or a compact layout bigger than
        // its message; libhdf5 would read out of bounds (it crashes on some). Check before reading. Only
        // fixed-size numbers are checked: variable-length strings are stored as heap references.
        let elementType = HDF5ElementType(type)
        if elementType.isNumeric {
            let stored = H5.storageSize(dataset)
            let needed = count * type.size
            switch storage.layout {
            case .compact where stored != needed, .contiguous where stored != 0 && stored != needed:
                throw error(
                    name,
                    "shape \(shape) of \(type.size)-byte elements needs \(needed) bytes but the file stores "
                        + "\(stored) (damaged file?)")
            case .compact, .contiguous, .chunked, .other:
                break
            }
        }
        return HDF5DatasetInfo(path: name, shape: shape, elementType: elementType)
    }

    /// The number of elements of `shape`, or `nil` when a partial product overflows or passes `limit` (a damaged
    /// header claiming more than camwatch reads, checked before anything is allocated).
    public static func elementCount(_ shape: [Int], atMost limit: Int) -> Int? {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= limit else { return nil }
            count = product
        }
        return count
    }

    /// Refuses storage that makes libhdf5 read outside the file or run code from outside it: external raw
    /// data (`H5Pset_external`, e.g. a "bias" whose bytes are /etc/shadow), virtual datasets (data mapped from
    /// other files) and filters that are not built into libhdf5 (plugins).
    private func checkConfined(_ storage: H5Storage, _ name: String) throws(HDF5Error) {
        if storage.externalFiles > 0 {
            throw error(
                name,
                "raw data stored in \(storage.externalFiles) external file(s) refused: a checkpoint must hold its "
                    + "own data")
        }
        if storage.layout == .other {
            throw error(name, "virtual dataset (data mapped from other files) refused: a checkpoint must hold its own data")
        }
        let unlisted = storage.filterCount > storage.filters.count
        if let filter = storage.filters.first(where: { !HDF5File.builtInFilters.keys.contains($0) }) ?? (unlisted ? -1 : nil) {
            let known = HDF5File.builtInFilters.keys.sorted().compactMap { HDF5File.builtInFilters[$0] }
            let which = filter < 0 ? "a pipeline of \(storage.filterCount) filters" : HDF5File.filterName(filter)
            throw error(
                name, "compressed with \(which), not a filter built into libhdf5 (camwatch reads "
                    + known.joined(separator: ", ") + "; plugins are never loaded)")
        }
    }

    /// The filters libhdf5 implements itself that checkpoints use, by id; any other filter needs a plugin.
    static let builtInFilters: [Int: String] = [1: "deflate (gzip)", 2: "shuffle", 3: "fletcher32", 4: "szip"]

    /// Elements a chunk may hold beyond its dataset's size (1 Mi: four times h5py's largest automatic chunk).
    static let chunkAllowance = 1 << 20

    /// A filter's registered name (https://portal.hdfgroup.org/documentation/hdf5-docs/registered_filter_plugins.html).
    static func filterName(_ id: Int) -> String {
        let registered: [Int: String] = [
            5: "nbit", 6: "scaleoffset", 307: "bzip2", 32000: "LZF", 32001: "Blosc", 32004: "LZ4", 32008: "bitshuffle",
            32013: "zfp", 32015: "Zstandard", 32026: "Blosc2",
        ]
        return "filter \(id)" + (registered[id].map { " (\($0))" } ?? "")
    }
}
