internal import CHDF5

extension HDF5File {
    /// The most attributes camwatch lists on one object; checkpoints carry a few dozen.
    public static let maximumAttributes = 1_024
    /// The most elements camwatch reads from one attribute (a Keras `weight_names` list has hundreds).
    public static let maximumAttributeElements = 1 << 20

    /// The names of the attributes of the object at `path` (the root by default), sorted.
    /// - Throws: `HDF5Error` when `path` does not exist.
    public func attributeNames(at path: String = "/") throws(HDF5Error) -> [String] {
        try withFile { file throws(HDF5Error) -> [String] in
            let object = try openObject(file, path)
            return try names(object.id, path)
        }
    }

    /// All attributes of the object at `path` (the root by default), by name.
    ///
    /// Attributes of a type camwatch does not read come back as `.unsupported`, so one odd attribute
    /// never hides the others.
    /// - Throws: `HDF5Error` when `path` does not exist or an attribute cannot be read.
    public func attributes(at path: String = "/") throws(HDF5Error) -> [String: HDF5Attribute] {
        try withFile { file throws(HDF5Error) -> [String: HDF5Attribute] in
            let object = try openObject(file, path)
            var result: [String: HDF5Attribute] = [:]
            for name in try names(object.id, path) {
                result[name] = try readAttribute(object.id, name, on: path)
            }
            return result
        }
    }

    /// One attribute of the object at `path` (the root by default), or `nil` when it has none by that name.
    /// - Throws: `HDF5Error` when `path` does not exist or the attribute cannot be read.
    public func attribute(_ name: String, at path: String = "/") throws(HDF5Error) -> HDF5Attribute? {
        try withFile { file throws(HDF5Error) -> HDF5Attribute? in
            let object = try openObject(file, path)
            let exists = try step("cannot look up attribute", attributeLabel(name, path)) {
                () throws(HDF5CallFailure) in try H5.attributeExists(object.id, name: name)
            }
            return exists ? try readAttribute(object.id, name, on: path) : nil
        }
    }

    /// Sets an attribute on the object at `path` (the root by default), replacing one of the same name.
    ///
    /// Strings are written as variable-length UTF-8, integers as int64, numbers as float64 — what h5py
    /// writes for Python `str`, `int` and `float`. Arrays are one-dimensional.
    /// - Throws: `HDF5Error` when the file is read-only, `path` does not exist or the value is `.unsupported`.
    public func setAttribute(_ name: String, to value: HDF5Attribute, at path: String = "/") throws(HDF5Error) {
        let label = attributeLabel(name, path)
        guard isWritable else { throw error(label, "cannot write attribute: file is open read-only") }
        try withFile { file throws(HDF5Error) in
            let object = try openObject(file, path)
            try step("cannot write attribute", label) { () throws(HDF5CallFailure) in
                if try H5.attributeExists(object.id, name: name) {
                    try H5.deleteAttribute(object.id, name: name)
                }
                switch value {
                case .string(let string):
                    try writeStrings(object.id, name, [string], shape: [])
                case .strings(let strings):
                    try writeStrings(object.id, name, strings, shape: [strings.count])
                case .int(let int):
                    try writeNumbers(
                        object.id, name, [Int64(int)], shape: [], fileType: H5.fileInt64, memoryType: H5.nativeInt64)
                case .ints(let ints):
                    try writeNumbers(
                        object.id, name, ints.map { Int64($0) }, shape: [ints.count], fileType: H5.fileInt64, memoryType: H5.nativeInt64)
                case .double(let double):
                    try writeNumbers(
                        object.id, name, [double], shape: [], fileType: H5.fileFloat64, memoryType: H5.nativeDouble)
                case .doubles(let doubles):
                    try writeNumbers(
                        object.id, name, doubles, shape: [doubles.count], fileType: H5.fileFloat64,
                        memoryType: H5.nativeDouble)
                case .unsupported:
                    break
                }
            }
            if case .unsupported(let what) = value {
                throw error(label, "cannot write an attribute of unsupported type \(what)")
            }
        }
    }

    // MARK: - Reading

    func openObject(_ file: hid_t, _ path: String) throws(HDF5Error) -> H5Handle {
        let name = HDF5File.relative(path)
        let absolute = HDF5File.absolute(path)
        guard H5.exists(file, absolute) else { throw error(name.isEmpty ? "/" : name, "no such object") }
        return try step("cannot open", name.isEmpty ? "/" : name) { () throws(HDF5CallFailure) in
            try H5.openObject(file, absolute)
        }
    }

    private func attributeLabel(_ name: String, _ path: String) -> String {
        let object = HDF5File.relative(path)
        return object.isEmpty ? "@\(name)" : "\(object)@\(name)"
    }

    private func names(_ object: hid_t, _ path: String) throws(HDF5Error) -> [String] {
        let label = HDF5File.relative(path).isEmpty ? "/" : HDF5File.relative(path)
        let count = try step("cannot list attributes of", label) { () throws(HDF5CallFailure) -> Int in
            try H5.objectInfo(object, ".").attributeCount
        }
        // Listing is quadratic in libhdf5 (each name is looked up by index), so a header with tens of
        // thousands of attributes would take minutes.
        guard count <= HDF5File.maximumAttributes else {
            throw error(label, "\(count) attributes, more than camwatch reads on one object (\(HDF5File.maximumAttributes))")
        }
        return try step("cannot list attributes of", label) { () throws(HDF5CallFailure) -> [String] in
            try H5.attributeNames(object, count: count)
        }
    }

    private func readAttribute(_ object: hid_t, _ name: String, on path: String) throws(HDF5Error) -> HDF5Attribute {
        try step("cannot read attribute", attributeLabel(name, path)) { () throws(HDF5CallFailure) -> HDF5Attribute in
            let attribute = try H5.openAttribute(object, name: name)
            let type = try H5.attributeType(attribute.id)
            let space = try H5.attributeSpace(attribute.id)
            let info = try H5.typeInfo(type.id)
            let extent = try H5.extent(space.id)
            let isScalar = extent == []
            var count = 0
            if let extent {
                // A real attribute is stored whole in the header; a bigger claim is a damaged one.
                guard let elements = HDF5File.elementCount(extent, atMost: HDF5File.maximumAttributeElements) else {
                    return .unsupported("\(extent) elements, more than camwatch reads")
                }
                count = elements
            }
            switch info.typeClass {
            case .string:
                let strings: [String]
                if info.isVariableString {
                    strings = try H5.readVariableStrings(
                        attribute.id, space: space.id, characterSet: H5.characterSet(type.id), count: count)
                } else {
                    let bytes = try H5.readAttributeBytes(
                        attribute.id, as: type.id, count: count, elementSize: info.size)
                    let spacePadded = H5.stringPadding(type.id) == H5T_STR_SPACEPAD
                    strings = (0..<count).map { i in
                        fixedString(bytes[(i * info.size)..<((i + 1) * info.size)], spacePadded: spacePadded)
                    }
                }
                return isScalar && strings.count == 1 ? .string(strings[0]) : .strings(strings)
            case .integer:
                let values = try H5.readAttribute(attribute.id, as: H5.nativeInt64, count: count, of: Int64.self)
                    .map { Int($0) }
                return isScalar && values.count == 1 ? .int(values[0]) : .ints(values)
            case .float:
                let values = try H5.readAttribute(attribute.id, as: H5.nativeDouble, count: count, of: Double.self)
                return isScalar && values.count == 1 ? .double(values[0]) : .doubles(values)
            case .enumeration:
                // h5py stores bool as an enum over int8; libhdf5 will not convert enums to integers, so read
                // the native enum's bytes and take them as its base integer type.
                let native = try H5.nativeType(type.id)
                let size = try H5.typeInfo(native.id).size
                guard [1, 2, 4, 8].contains(size) else { return .unsupported("\(size * 8)-bit enum") }
                let bytes = try H5.readAttributeBytes(attribute.id, as: native.id, count: count, elementSize: size)
                let values = (0..<count).map { i in
                    Int(integer(bytes[(i * size)..<((i + 1) * size)], signed: info.isSigned))
                }
                return isScalar && values.count == 1 ? .int(values[0]) : .ints(values)
            case .other(let what):
                return .unsupported(what)
            }
        }
    }

    // MARK: - Writing

    private func writeStrings(
        _ object: hid_t, _ name: String, _ strings: [String], shape: [Int]
    ) throws(HDF5CallFailure) {
        let type = try H5.stringType(size: nil, characterSet: H5T_CSET_UTF8)
        let space = try H5.createDataspace(shape: shape)
        let attribute = try H5.createAttribute(object, name: name, fileType: type.id, space: space.id)
        try H5.writeVariableStrings(attribute.id, strings, type: type.id)
    }

    private func writeNumbers<Element: BitwiseCopyable>(
        _ object: hid_t, _ name: String, _ values: [Element], shape: [Int], fileType: hid_t, memoryType: hid_t
    ) throws(HDF5CallFailure) {
        let space = try H5.createDataspace(shape: shape)
        let attribute = try H5.createAttribute(object, name: name, fileType: fileType, space: space.id)
        try H5.writeAttribute(attribute.id, values, as: memoryType)
    }
}

/// A fixed-length string element: up to the first NUL (null-terminated and null-padded strings), or
/// without trailing spaces (space-padded, Fortran style).
private func fixedString(_ bytes: ArraySlice<UInt8>, spacePadded: Bool) -> String {
    var end = bytes.firstIndex(of: 0) ?? bytes.endIndex
    if spacePadded {
        while end > bytes.startIndex && bytes[end - 1] == 0x20 { end -= 1 }
    }
    return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
}

/// A native-endian integer of 1, 2, 4 or 8 bytes.
private func integer(_ bytes: ArraySlice<UInt8>, signed: Bool) -> Int64 {
    var raw: UInt64 = 0
    for (shift, byte) in bytes.enumerated() {
        // Native order on every platform camwatch runs on (x86-64, arm64) is little-endian.
        raw |= UInt64(byte) << UInt64(8 * shift)
    }
    let bits = bytes.count * 8
    if signed && bits < 64 && raw & (1 << UInt64(bits - 1)) != 0 {
        raw |= ~((1 << UInt64(bits)) - 1)
    }
    return Int64(bitPattern: raw)
}
