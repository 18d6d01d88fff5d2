internal import CHDF5

// Every libhdf5 call of CamwatchHDF5 goes through this file. The functions here assume the caller
// holds `HDF5Library.serialized`; they turn negative return codes into `HDF5CallFailure`.

/// A libhdf5 call that failed: the function and the innermost message of libhdf5's error stack.
struct HDF5CallFailure: Error {
    var call: String
    var message: String

    /// The failure of `call`, with the message libhdf5 left on this thread's error stack.
    init(_ call: String) {
        self.call = call
        self.message = unsafe String(cString: chdf5_innermost_error())
    }

    /// `message`, or `fallback` when libhdf5 left none.
    func message(or fallback: String) -> String {
        message.isEmpty ? fallback : message
    }
}

/// An open libhdf5 identifier, released when the value goes out of scope.
struct H5Handle: ~Copyable {
    enum Kind {
        case group, dataset, attribute, dataspace, datatype, propertyList, object
    }

    let id: hid_t
    let kind: Kind

    init(_ id: hid_t, _ kind: Kind) {
        self.id = id
        self.kind = kind
    }

    deinit {
        switch kind {
        case .group: _ = H5Gclose(id)
        case .dataset: _ = H5Dclose(id)
        case .attribute: _ = H5Aclose(id)
        case .dataspace: _ = H5Sclose(id)
        case .datatype: _ = H5Tclose(id)
        case .propertyList: _ = H5Pclose(id)
        case .object: _ = H5Oclose(id)
        }
    }
}

/// The kind of an object in an HDF5 file, as `chdf5_object_info` reports it.
struct H5ObjectInfo {
    enum Kind { case group, dataset, datatype, other }
    var kind: Kind
    var address: UInt64
    var attributeCount: Int
}

/// Where a dataset keeps its raw data.
enum H5Layout {
    /// Inside the object header; its size must equal elements × element size.
    case compact
    /// One block in the file; when allocated, its size must equal elements × element size.
    case contiguous
    /// Chunks, possibly compressed.
    case chunked
    /// Virtual (data in other files) or unknown.
    case other
}

/// The storage facts of a dataset that decide whether reading it stays inside the file and within bounds.
struct H5Storage {
    var layout: H5Layout
    /// Files named by `H5Pset_external` that hold the raw data instead of this file.
    var externalFiles: Int
    /// Filters in the pipeline; `filters` lists the first `CHDF5_MAX_FILTERS` ids.
    var filterCount: Int
    var filters: [Int]
    /// Elements in one chunk (0 unless chunked); libhdf5 allocates a whole chunk to decode it.
    var chunkElements: UInt64
}

/// What a link is, as `H5Lget_info` reports it.
enum H5LinkType {
    case hard, soft, external, userDefined
}

/// A datatype's class and the properties camwatch needs to read it.
struct H5TypeInfo {
    enum Class { case integer, float, string, enumeration, other(String) }
    var typeClass: Class
    var size: Int
    var isSigned: Bool
    var isVariableString: Bool
}

/// Thin, checked wrappers over the libhdf5 C API.
enum H5 {
    private static func check(_ status: herr_t, _ call: String) throws(HDF5CallFailure) {
        guard status >= 0 else { throw HDF5CallFailure(call) }
    }

    private static func checkID(_ id: hid_t, _ call: String) throws(HDF5CallFailure) -> hid_t {
        guard id >= 0 else { throw HDF5CallFailure(call) }
        return id
    }

    // MARK: - Files

    /// The file-access list: no file lock; `inMemory`: the core driver without a backing store.
    private static func accessList(inMemory: Bool) throws(HDF5CallFailure) -> H5Handle {
        let id = inMemory ? chdf5_fapl_memory() : chdf5_fapl_unlocked()
        return H5Handle(try checkID(id, inMemory ? "H5Pset_fapl_core" : "H5Pset_file_locking"), .propertyList)
    }

    /// Opens `path` read-only (or read-write) without taking a file lock (`H5Fopen` with a locking-off access list).
    /// `inMemory`: the file is read whole into memory and changes stay there (`fileImage` returns them).
    static func openFile(_ path: String, writable: Bool = false, inMemory: Bool = false) throws(HDF5CallFailure) -> hid_t {
        let fapl = try accessList(inMemory: inMemory)
        let mode = writable ? chdf5_f_acc_rdwr() : chdf5_f_acc_rdonly()
        return try checkID(unsafe H5Fopen(path, mode, fapl.id), "H5Fopen")
    }

    /// Creates (or truncates) `path` for writing, without a file lock (`H5Fcreate`). `inMemory`: nothing is
    /// written to `path`, which only names the file.
    static func createFile(_ path: String, inMemory: Bool = false) throws(HDF5CallFailure) -> hid_t {
        let fapl = try accessList(inMemory: inMemory)
        return try checkID(
            unsafe H5Fcreate(path, chdf5_f_acc_trunc(), chdf5_p_default(), fapl.id), "H5Fcreate")
    }

    /// The bytes of an open file as they would be on disk (`H5Fget_file_image`).
    static func fileImage(_ file: hid_t) throws(HDF5CallFailure) -> [UInt8] {
        let size = H5Fget_file_image(file, nil, 0)
        guard size >= 0 else { throw HDF5CallFailure("H5Fget_file_image") }
        var copied = -1
        let bytes = unsafe [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            copied = unsafe H5Fget_file_image(file, buffer.baseAddress, buffer.count)
            initialized = copied == size ? size : 0
        }
        guard copied == size else { throw HDF5CallFailure("H5Fget_file_image") }
        return bytes
    }

    static func closeFile(_ file: hid_t) throws(HDF5CallFailure) {
        try check(H5Fclose(file), "H5Fclose")
    }

    static func flushFile(_ file: hid_t) throws(HDF5CallFailure) {
        try check(H5Fflush(file, H5F_SCOPE_LOCAL), "H5Fflush")
    }

    // MARK: - Objects, groups and links

    /// Whether every link on the way to `path` (relative to `loc`) exists; false for a dangling link.
    static func exists(_ loc: hid_t, _ path: String) -> Bool {
        if path == "/" || path == "." { return true }
        // H5Lexists fails, rather than answering false, when an intermediate link is missing.
        var prefix = path.hasPrefix("/") ? "/" : ""
        for (index, component) in path.split(separator: "/").enumerated() {
            prefix += (index == 0 ? "" : "/") + component
            guard unsafe H5Lexists(loc, prefix, chdf5_p_default()) > 0 else { return false }
        }
        return unsafe H5Oexists_by_name(loc, path, chdf5_p_default()) > 0
    }

    static func objectInfo(_ loc: hid_t, _ path: String) throws(HDF5CallFailure) -> H5ObjectInfo {
        var kind: Int32 = 0
        var address: UInt64 = 0
        var attributes: UInt64 = 0
        try check(unsafe chdf5_object_info(loc, path, &kind, &address, &attributes), "H5Oget_info_by_name2")
        let objectKind: H5ObjectInfo.Kind
        switch kind {
        case Int32(CHDF5_OBJECT_GROUP): objectKind = .group
        case Int32(CHDF5_OBJECT_DATASET): objectKind = .dataset
        case Int32(CHDF5_OBJECT_DATATYPE): objectKind = .datatype
        default: objectKind = .other
        }
        return H5ObjectInfo(kind: objectKind, address: address, attributeCount: Int(clamping: attributes))
    }

    static func openObject(_ loc: hid_t, _ path: String) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(unsafe H5Oopen(loc, path, chdf5_p_default()), "H5Oopen"), .object)
    }

    static func openGroup(_ loc: hid_t, _ path: String) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(unsafe H5Gopen2(loc, path, chdf5_p_default()), "H5Gopen2"), .group)
    }

    static func createGroup(_ loc: hid_t, _ path: String) throws(HDF5CallFailure) -> H5Handle {
        let lcpl = H5Handle(try checkID(chdf5_lcpl_intermediate(), "H5Pset_create_intermediate_group"), .propertyList)
        let id = unsafe H5Gcreate2(loc, path, lcpl.id, chdf5_p_default(), chdf5_p_default())
        return H5Handle(try checkID(id, "H5Gcreate2"), .group)
    }

    static func linkCount(_ group: hid_t) throws(HDF5CallFailure) -> Int {
        let count = chdf5_link_count(group)
        guard count >= 0 else { throw HDF5CallFailure("H5Gget_info") }
        return Int(count)
    }

    /// The links of `group` in increasing name order with their kinds, or `nil` when it has more than `limit`.
    static func links(_ group: hid_t, limit: Int) throws(HDF5CallFailure) -> [(name: String, type: H5LinkType)]? {
        var list = unsafe chdf5_link_list()
        defer { unsafe chdf5_free_link_list(&list) }
        guard unsafe chdf5_list_links(group, limit, &list) >= 0 else { throw HDF5CallFailure("H5Literate") }
        guard unsafe list.truncated == 0 else { return nil }
        let count = unsafe list.count
        var links: [(name: String, type: H5LinkType)] = []
        links.reserveCapacity(count)
        var offset = 0
        for index in 0..<count {
            guard let base = unsafe list.names, let kinds = unsafe list.kinds else { break }
            let name = unsafe String(cString: base + offset)
            offset += name.utf8.count + 1
            let type: H5LinkType
            switch unsafe kinds[index] {
            case Int32(CHDF5_LINK_HARD): type = .hard
            case Int32(CHDF5_LINK_SOFT): type = .soft
            case Int32(CHDF5_LINK_EXTERNAL): type = .external
            default: type = .userDefined
            }
            links.append((name, type))
        }
        return links
    }

    // MARK: - Datatypes and dataspaces

    static func typeInfo(_ type: hid_t) throws(HDF5CallFailure) -> H5TypeInfo {
        let typeClass = H5Tget_class(type)
        guard typeClass != H5T_NO_CLASS else { throw HDF5CallFailure("H5Tget_class") }
        let size = H5Tget_size(type)
        guard size > 0 else { throw HDF5CallFailure("H5Tget_size") }
        var info = H5TypeInfo(typeClass: .other("unknown"), size: size, isSigned: false, isVariableString: false)
        switch typeClass {
        case H5T_INTEGER:
            info.typeClass = .integer
            info.isSigned = H5Tget_sign(type) == H5T_SGN_2
        case H5T_FLOAT:
            info.typeClass = .float
        case H5T_STRING:
            info.typeClass = .string
            info.isVariableString = H5Tis_variable_str(type) > 0
        case H5T_ENUM:
            info.typeClass = .enumeration
            let base = H5Handle(try checkID(H5Tget_super(type), "H5Tget_super"), .datatype)
            info.isSigned = H5Tget_sign(base.id) == H5T_SGN_2
        case H5T_COMPOUND: info.typeClass = .other("compound")
        case H5T_ARRAY: info.typeClass = .other("array")
        case H5T_VLEN: info.typeClass = .other("variable-length sequence")
        case H5T_REFERENCE: info.typeClass = .other("reference")
        case H5T_OPAQUE: info.typeClass = .other("opaque")
        case H5T_BITFIELD: info.typeClass = .other("bitfield")
        case H5T_TIME: info.typeClass = .other("time")
        default: info.typeClass = .other("class \(typeClass.rawValue)")
        }
        return info
    }

    static func stringPadding(_ type: hid_t) -> H5T_str_t { H5Tget_strpad(type) }

    static func characterSet(_ type: hid_t) -> H5T_cset_t { H5Tget_cset(type) }

    /// A memory string type: variable-length when `size` is nil, else fixed with `size` bytes.
    static func stringType(size: Int?, characterSet: H5T_cset_t) throws(HDF5CallFailure) -> H5Handle {
        let type = H5Handle(try checkID(H5Tcopy(chdf5_c_s1()), "H5Tcopy"), .datatype)
        try check(H5Tset_size(type.id, size ?? chdf5_t_variable()), "H5Tset_size")
        try check(H5Tset_cset(type.id, characterSet), "H5Tset_cset")
        return type
    }

    /// The memory (native) equivalent of a file datatype.
    static func nativeType(_ type: hid_t) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(H5Tget_native_type(type, H5T_DIR_ASCEND), "H5Tget_native_type"), .datatype)
    }

    /// The extent of a dataspace: `nil` for a null dataspace (no elements, no shape), `[]` for a scalar.
    static func extent(_ space: hid_t) throws(HDF5CallFailure) -> [Int]? {
        let spaceClass = H5Sget_simple_extent_type(space)
        switch spaceClass {
        case H5S_NULL: return nil
        case H5S_SCALAR: return []
        case H5S_SIMPLE: break
        default: throw HDF5CallFailure("H5Sget_simple_extent_type")
        }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw HDF5CallFailure("H5Sget_simple_extent_ndims") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 {
            let got = unsafe dims.withUnsafeMutableBufferPointer { buffer in
                unsafe H5Sget_simple_extent_dims(space, buffer.baseAddress, nil)
            }
            guard got == rank else { throw HDF5CallFailure("H5Sget_simple_extent_dims") }
        }
        return dims.map { Int(clamping: $0) }
    }

    /// A scalar dataspace for `shape == []`, else a simple one of that shape.
    static func createDataspace(shape: [Int]) throws(HDF5CallFailure) -> H5Handle {
        if shape.isEmpty {
            return H5Handle(try checkID(H5Screate(H5S_SCALAR), "H5Screate"), .dataspace)
        }
        let dims = shape.map { hsize_t($0) }
        let id = unsafe dims.withUnsafeBufferPointer { buffer in
            unsafe H5Screate_simple(Int32(dims.count), buffer.baseAddress, nil)
        }
        return H5Handle(try checkID(id, "H5Screate_simple"), .dataspace)
    }

    // MARK: - Datasets

    static func openDataset(_ loc: hid_t, _ path: String) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(unsafe H5Dopen2(loc, path, chdf5_p_default()), "H5Dopen2"), .dataset)
    }

    static func datasetType(_ dataset: hid_t) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(H5Dget_type(dataset), "H5Dget_type"), .datatype)
    }

    static func datasetSpace(_ dataset: hid_t) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(H5Dget_space(dataset), "H5Dget_space"), .dataspace)
    }

    /// The bytes allocated in the file for the dataset's raw data (0 when none are written yet).
    static func storageSize(_ dataset: hid_t) -> Int { Int(clamping: H5Dget_storage_size(dataset)) }

    /// Where the raw data is stored and how it is decoded, from the creation properties (no raw data read).
    static func storage(_ dataset: hid_t) throws(HDF5CallFailure) -> H5Storage {
        var raw = chdf5_storage()
        guard unsafe chdf5_dataset_storage(dataset, &raw) >= 0 else { throw HDF5CallFailure("H5Dget_create_plist") }
        let layout: H5Layout
        switch raw.layout {
        case Int32(CHDF5_LAYOUT_COMPACT): layout = .compact
        case Int32(CHDF5_LAYOUT_CONTIGUOUS): layout = .contiguous
        case Int32(CHDF5_LAYOUT_CHUNKED): layout = .chunked
        default: layout = .other
        }
        let listed = min(Int(raw.filter_count), Int(CHDF5_MAX_FILTERS))
        let filters = unsafe withUnsafeBytes(of: raw.filters) { bytes in
            (0..<listed).map { unsafe Int(bytes.load(fromByteOffset: $0 * 4, as: Int32.self)) }
        }
        return H5Storage(
            layout: layout, externalFiles: Int(raw.external_files), filterCount: Int(raw.filter_count),
            filters: filters, chunkElements: raw.chunk_elements)
    }

    /// Reads all `count` elements of a dataset, converted to `memoryType`.
    static func read<Element>(
        _ dataset: hid_t, as memoryType: hid_t, count: Int, of _: Element.Type
    ) throws(HDF5CallFailure) -> [Element] where Element: BitwiseCopyable {
        guard count > 0 else { return [] }
        var status: herr_t = -1
        let values = unsafe [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = unsafe H5Dread(
                dataset, memoryType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer.baseAddress)
            initialized = status >= 0 ? count : 0
        }
        try check(status, "H5Dread")
        return values
    }

    static func createDataset(
        _ loc: hid_t, _ path: String, fileType: hid_t, space: hid_t
    ) throws(HDF5CallFailure) -> H5Handle {
        let lcpl = H5Handle(try checkID(chdf5_lcpl_intermediate(), "H5Pset_create_intermediate_group"), .propertyList)
        let id = unsafe H5Dcreate2(loc, path, fileType, space, lcpl.id, chdf5_p_default(), chdf5_p_default())
        return H5Handle(try checkID(id, "H5Dcreate2"), .dataset)
    }

    static func write<Element>(
        _ dataset: hid_t, _ values: [Element], as memoryType: hid_t
    ) throws(HDF5CallFailure) where Element: BitwiseCopyable {
        guard !values.isEmpty else { return }
        let status = unsafe values.withUnsafeBufferPointer { buffer in
            unsafe H5Dwrite(dataset, memoryType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer.baseAddress)
        }
        try check(status, "H5Dwrite")
    }

    // MARK: - Attributes

    /// The names of all attributes of `object`, in increasing name order.
    static func attributeNames(_ object: hid_t, count: Int) throws(HDF5CallFailure) -> [String] {
        var names: [String] = []
        names.reserveCapacity(count)
        for index in 0..<count {
            let attribute = try openAttribute(object, index: index)
            names.append(try attributeName(attribute.id))
        }
        return names.sorted()
    }

    static func openAttribute(_ object: hid_t, index: Int) throws(HDF5CallFailure) -> H5Handle {
        let id = unsafe H5Aopen_by_idx(
            object, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), chdf5_p_default(), chdf5_p_default())
        return H5Handle(try checkID(id, "H5Aopen_by_idx"), .attribute)
    }

    static func openAttribute(_ object: hid_t, name: String) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(unsafe H5Aopen(object, name, chdf5_p_default()), "H5Aopen"), .attribute)
    }

    static func attributeExists(_ object: hid_t, name: String) throws(HDF5CallFailure) -> Bool {
        let result = unsafe H5Aexists(object, name)
        guard result >= 0 else { throw HDF5CallFailure("H5Aexists") }
        return result > 0
    }

    static func deleteAttribute(_ object: hid_t, name: String) throws(HDF5CallFailure) {
        try check(unsafe H5Adelete(object, name), "H5Adelete")
    }

    static func attributeName(_ attribute: hid_t) throws(HDF5CallFailure) -> String {
        let length = H5Aget_name(attribute, 0, nil)
        guard length >= 0 else { throw HDF5CallFailure("H5Aget_name") }
        var failed = false
        let bytes = unsafe [UInt8](unsafeUninitializedCapacity: length + 1) { buffer, initialized in
            let written = unsafe buffer.withMemoryRebound(to: CChar.self) { chars in
                unsafe H5Aget_name(attribute, chars.count, chars.baseAddress)
            }
            failed = written < 0
            initialized = failed ? 0 : length + 1
        }
        if failed { throw HDF5CallFailure("H5Aget_name") }
        return String(decoding: bytes.prefix(length), as: UTF8.self)
    }

    static func attributeType(_ attribute: hid_t) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(H5Aget_type(attribute), "H5Aget_type"), .datatype)
    }

    static func attributeSpace(_ attribute: hid_t) throws(HDF5CallFailure) -> H5Handle {
        H5Handle(try checkID(H5Aget_space(attribute), "H5Aget_space"), .dataspace)
    }

    /// Reads `count` elements of an attribute converted to `memoryType`.
    static func readAttribute<Element>(
        _ attribute: hid_t, as memoryType: hid_t, count: Int, of _: Element.Type
    ) throws(HDF5CallFailure) -> [Element] where Element: BitwiseCopyable {
        guard count > 0 else { return [] }
        var status: herr_t = -1
        let values = unsafe [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = unsafe H5Aread(attribute, memoryType, buffer.baseAddress)
            initialized = status >= 0 ? count : 0
        }
        try check(status, "H5Aread")
        return values
    }

    /// Reads `count` raw elements of `elementSize` bytes each, in the memory layout of `memoryType`.
    static func readAttributeBytes(
        _ attribute: hid_t, as memoryType: hid_t, count: Int, elementSize: Int
    ) throws(HDF5CallFailure) -> [UInt8] {
        try readAttribute(attribute, as: memoryType, count: count * elementSize, of: UInt8.self)
    }

    /// Reads `count` variable-length strings (invalid UTF-8 is repaired, NULL reads as "").
    static func readVariableStrings(
        _ attribute: hid_t, space: hid_t, characterSet: H5T_cset_t, count: Int
    ) throws(HDF5CallFailure) -> [String] {
        guard count > 0 else { return [] }
        let memoryType = try stringType(size: nil, characterSet: characterSet)
        var pointers = unsafe [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        let status = unsafe pointers.withUnsafeMutableBufferPointer { buffer in
            unsafe H5Aread(attribute, memoryType.id, buffer.baseAddress)
        }
        try check(status, "H5Aread")
        let strings = unsafe pointers.map { pointer in
            guard let pointer = unsafe pointer else { return "" }
            return unsafe String(cString: pointer)
        }
        _ = unsafe pointers.withUnsafeMutableBufferPointer { buffer in
            unsafe H5Dvlen_reclaim(memoryType.id, space, chdf5_p_default(), buffer.baseAddress)
        }
        return strings
    }

    static func createAttribute(
        _ object: hid_t, name: String, fileType: hid_t, space: hid_t
    ) throws(HDF5CallFailure) -> H5Handle {
        let id = unsafe H5Acreate2(object, name, fileType, space, chdf5_p_default(), chdf5_p_default())
        return H5Handle(try checkID(id, "H5Acreate2"), .attribute)
    }

    static func writeAttribute<Element>(
        _ attribute: hid_t, _ values: [Element], as memoryType: hid_t
    ) throws(HDF5CallFailure) where Element: BitwiseCopyable {
        // libhdf5 wants a valid pointer even for zero elements.
        let padded = values.isEmpty ? [UInt8](repeating: 0, count: 8) : []
        let status: herr_t
        if values.isEmpty {
            status = unsafe padded.withUnsafeBufferPointer { unsafe H5Awrite(attribute, memoryType, $0.baseAddress) }
        } else {
            status = unsafe values.withUnsafeBufferPointer { unsafe H5Awrite(attribute, memoryType, $0.baseAddress) }
        }
        try check(status, "H5Awrite")
    }

    /// Writes strings as variable-length UTF-8 (what h5py writes for `str`).
    static func writeVariableStrings(_ attribute: hid_t, _ strings: [String], type: hid_t) throws(HDF5CallFailure) {
        // One NUL-terminated copy of every string in a single buffer, then a pointer to each.
        var storage: [CChar] = []
        var offsets: [Int] = []
        for string in strings {
            offsets.append(storage.count)
            storage.append(contentsOf: string.utf8.map { CChar(bitPattern: $0) })
            storage.append(0)
        }
        if offsets.isEmpty { storage.append(0) }
        let status = unsafe storage.withUnsafeMutableBufferPointer { chars in
            guard let base = chars.baseAddress else { return herr_t(-1) }
            // A zero-element write still needs one valid pointer.
            var pointers = unsafe (offsets.isEmpty ? [0] : offsets).map { offset -> UnsafeMutablePointer<CChar>? in
                unsafe base + offset
            }
            return unsafe pointers.withUnsafeMutableBufferPointer { buffer in
                unsafe H5Awrite(attribute, type, buffer.baseAddress)
            }
        }
        try check(status, "H5Awrite")
    }

    // MARK: - Constants

    static var nativeFloat: hid_t { chdf5_native_float() }
    static var nativeDouble: hid_t { chdf5_native_double() }
    static var nativeInt32: hid_t { chdf5_native_int32() }
    static var nativeInt64: hid_t { chdf5_native_int64() }
    static var fileFloat32: hid_t { chdf5_ieee_f32le() }
    static var fileFloat64: hid_t { chdf5_ieee_f64le() }
    static var fileInt32: hid_t { chdf5_std_i32le() }
    static var fileInt64: hid_t { chdf5_std_i64le() }
}
