internal import CHDF5

extension HDF5File {
    /// Creates a group and any missing groups above it; does nothing if the group exists.
    /// - Throws: `HDF5Error` when the file is read-only or a non-group object has that name.
    public func createGroup(_ path: String) throws(HDF5Error) {
        let name = HDF5File.relative(path)
        guard isWritable else { throw error(name, "cannot create group: file is open read-only") }
        try withFile { file throws(HDF5Error) in
            let absolute = HDF5File.absolute(path)
            if H5.exists(file, absolute) {
                let info = try step("cannot inspect", name) { () throws(HDF5CallFailure) in
                    try H5.objectInfo(file, absolute)
                }
                guard info.kind == .group else { throw error(name, "exists and is not a group") }
                return
            }
            _ = try step("cannot create group", name) { () throws(HDF5CallFailure) in
                try H5.createGroup(file, absolute)
            }
        }
    }

    /// Writes a float32 dataset of the given shape (`[]` for a scalar), creating missing groups above it.
    ///
    /// - Parameters:
    ///   - values: the elements in row-major order; `values.count == shape.reduce(1, *)`.
    ///   - shape: the extent of every dimension, outermost first.
    ///   - path: where to create the dataset; nothing may exist there yet.
    /// - Throws: `HDF5Error` when the file is read-only or the dataset cannot be created.
    public func write(_ values: [Float], shape: [Int], to path: String) throws(HDF5Error) {
        try write(values, shape: shape, to: path, fileType: H5.fileFloat32, memoryType: H5.nativeFloat)
    }

    /// Writes a float64 dataset of the given shape; see `write(_:shape:to:)` for `[Float]`.
    /// - Throws: `HDF5Error`.
    public func write(_ values: [Double], shape: [Int], to path: String) throws(HDF5Error) {
        try write(values, shape: shape, to: path, fileType: H5.fileFloat64, memoryType: H5.nativeDouble)
    }

    /// Writes an int32 dataset of the given shape; see `write(_:shape:to:)` for `[Float]`.
    /// - Throws: `HDF5Error`.
    public func write(_ values: [Int32], shape: [Int], to path: String) throws(HDF5Error) {
        try write(values, shape: shape, to: path, fileType: H5.fileInt32, memoryType: H5.nativeInt32)
    }

    /// Writes an int64 dataset of the given shape; see `write(_:shape:to:)` for `[Float]`.
    /// - Throws: `HDF5Error`.
    public func write(_ values: [Int64], shape: [Int], to path: String) throws(HDF5Error) {
        try write(values, shape: shape, to: path, fileType: H5.fileInt64, memoryType: H5.nativeInt64)
    }

    private func write<Element: BitwiseCopyable>(
        _ values: [Element], shape: [Int], to path: String, fileType: hid_t, memoryType: hid_t
    ) throws(HDF5Error) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        let name = HDF5File.relative(path)
        guard !name.isEmpty else { throw error("/", "cannot write a dataset at the root group") }
        guard isWritable else { throw error(name, "cannot write dataset: file is open read-only") }
        try withFile { file throws(HDF5Error) in
            let absolute = HDF5File.absolute(path)
            guard !H5.exists(file, absolute) else { throw error(name, "cannot write dataset: the name is taken") }
            try step("cannot write dataset", name) { () throws(HDF5CallFailure) in
                let space = try H5.createDataspace(shape: shape)
                let dataset = try H5.createDataset(file, absolute, fileType: fileType, space: space.id)
                try H5.write(dataset.id, values, as: memoryType)
            }
        }
    }
}
