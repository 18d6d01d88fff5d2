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
        let (type, extent) = try step("cannot read the header of dataset", name) {
            () throws(HDF5CallFailure) -> (H5TypeInfo, [Int]?) in
            let type = try H5.datasetType(dataset)
            let space = try H5.datasetSpace(dataset)
            return (try H5.typeInfo(type.id), try H5.extent(space.id))
        }
        let shape = extent ?? [0]
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= HDF5File.maximumElementCount else {
                throw error(name, "shape \(shape) is too large to read (damaged file?)")
            }
            count = product
        }
        // A damaged header can claim far more elements than the file stores, or a compact layout bigger than
        // its message; libhdf5 would read out of bounds (it crashes on some). Check before reading. Only
        // fixed-size numbers are checked: variable-length strings are stored as heap references.
        let elementType = HDF5ElementType(type)
        if elementType.isNumeric {
            let layout = try step("cannot read the header of dataset", name) { () throws(HDF5CallFailure) in
                try H5.layout(dataset)
            }
            let stored = H5.storageSize(dataset)
            let needed = count * type.size
            switch layout {
            case .compact where stored != needed, .contiguous where stored != 0 && stored != needed:
                throw error(
                    name,
                    "shape \(shape) of \(type.size)-byte elements needs \(needed) bytes but the file stores "
                        + "\(stored) (damaged file?)")
            case .other:
                throw error(name, "virtual datasets (data in other files) are not supported")
            case .compact, .contiguous, .chunked:
                break
            }
        }
        return HDF5DatasetInfo(path: name, shape: shape, elementType: elementType)
    }
}
