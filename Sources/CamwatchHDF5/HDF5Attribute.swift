/// The value of an HDF5 attribute, as h5py, Keras and camwatch write them.
///
/// A scalar dataspace gives the singular cases, a 1-D (or any simple) dataspace the plural ones, even
/// with one element; an empty or null dataspace gives an empty array. Integers of every width (and
/// h5py's booleans, stored as an enum) read as `Int64`, floats of every width as `Double`.
public enum HDF5Attribute: Sendable, Hashable {
    case string(String)
    case strings([String])
    case int(Int64)
    case ints([Int64])
    case double(Double)
    case doubles([Double])
    /// A type camwatch does not read (compound, reference, …), described in words; never written.
    case unsupported(String)

    /// The string, or the only element of a one-element string array.
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .strings(let values) where values.count == 1: values[0]
        default: nil
        }
    }

    /// The strings of a string array, or a scalar string as one element.
    public var stringValues: [String]? {
        switch self {
        case .string(let value): [value]
        case .strings(let values): values
        default: nil
        }
    }

    /// The integer, or a float with an integral value, or the only element of a one-element array.
    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .ints(let values) where values.count == 1: return values[0]
        case .double(let value): return Int64(exactly: value)
        case .doubles(let values) where values.count == 1: return Int64(exactly: values[0])
        default: return nil
        }
    }

    /// The number as a `Double` (integers converted), or the only element of a one-element array.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .ints(let values) where values.count == 1: Double(values[0])
        case .double(let value): value
        case .doubles(let values) where values.count == 1: values[0]
        default: nil
        }
    }
}
