/// The type a dataset's elements are stored with in the file.
public enum HDF5ElementType: Sendable, Hashable, CustomStringConvertible {
    case float16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    /// Fixed- or variable-length strings.
    case string
    /// Anything camwatch does not read as numbers (compound, enum/bool, reference, …), described in words.
    case unsupported(String)

    /// Whether the elements are IEEE floating-point numbers.
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .float32, .float64: true
        default: false
        }
    }

    /// Whether the elements are signed or unsigned integers.
    public var isInteger: Bool {
        switch self {
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64: true
        default: false
        }
    }

    /// Whether `readFloats(at:)` can read the elements (floats and integers, converted by libhdf5).
    public var isNumeric: Bool { isFloatingPoint || isInteger }

    /// The NumPy-style name, e.g. `float16` or `int64`.
    public var description: String {
        switch self {
        case .float16: "float16"
        case .float32: "float32"
        case .float64: "float64"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .string: "string"
        case .unsupported(let what): what
        }
    }
}

extension HDF5ElementType {
    /// The element type for a datatype's class, byte size and signedness.
    init(_ type: H5TypeInfo) {
        switch type.typeClass {
        case .float:
            switch type.size {
            case 2: self = .float16
            case 4: self = .float32
            case 8: self = .float64
            default: self = .unsupported("\(type.size * 8)-bit float")
            }
        case .integer:
            switch (type.size, type.isSigned) {
            case (1, true): self = .int8
            case (2, true): self = .int16
            case (4, true): self = .int32
            case (8, true): self = .int64
            case (1, false): self = .uint8
            case (2, false): self = .uint16
            case (4, false): self = .uint32
            case (8, false): self = .uint64
            default: self = .unsupported("\(type.size * 8)-bit integer")
            }
        case .string: self = .string
        case .enumeration: self = .unsupported("enum")
        case .other(let what): self = .unsupported(what)
        }
    }
}

/// Where a dataset is and what it holds, without its values.
public struct HDF5DatasetInfo: Sendable, Hashable {
    /// The dataset's path from the root, without a leading `/` (e.g. `layer1/0/conv1/weight`).
    public var path: String
    /// The extent of every dimension, outermost first; `[]` for a scalar, `[0]` for an empty (null) dataspace.
    public var shape: [Int]
    /// The element type stored in the file.
    public var elementType: HDF5ElementType

    /// Creates a description of a dataset.
    public init(path: String, shape: [Int], elementType: HDF5ElementType) {
        self.path = path
        self.shape = shape
        self.elementType = elementType
    }

    /// The number of elements (`1` for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The values of a dataset with its shape and stored element type.
public struct HDF5Array<Scalar: Sendable & Equatable>: Sendable, Equatable {
    /// The extent of every dimension, outermost first; `[]` for a scalar.
    public var shape: [Int]
    /// The element type stored in the file, before conversion to `Scalar`.
    public var elementType: HDF5ElementType
    /// The elements in row-major (C) order; `values.count == shape.reduce(1, *)`.
    public var values: [Scalar]

    /// Creates an array from its shape, stored type and row-major values.
    public init(shape: [Int], elementType: HDF5ElementType, values: [Scalar]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.elementType = elementType
        self.values = values
    }
}

/// What a link in a group points to.
public enum HDF5ObjectKind: Sendable, Hashable {
    case group
    case dataset
    /// A named datatype or another kind of object.
    case other
    /// A soft link; camwatch does not follow these.
    case link
    /// An external (or user-defined) link: an object in another file, which camwatch refuses to reach.
    case externalLink
}

/// One entry of a group: its name and what it is.
public struct HDF5Member: Sendable, Hashable {
    /// The link name inside the group (no `/`).
    public var name: String
    /// What the link points to.
    public var kind: HDF5ObjectKind

    /// Creates a group entry.
    public init(name: String, kind: HDF5ObjectKind) {
        self.name = name
        self.kind = kind
    }
}
