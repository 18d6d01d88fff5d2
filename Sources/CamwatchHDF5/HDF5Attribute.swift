import CamwatchTensor

/// The value of an HDF5 attribute, as h5py, Keras and camwatch write them.
///
/// A scalar dataspace gives the singular cases, a 1-D (or any simple) dataspace the plural ones, even
/// with one element; an empty or null dataspace gives an empty array. Integers of every width (and
/// h5py's booleans, stored as an enum) read as `Int` (64 bits on every platform camwatch builds for; written
/// as 64-bit integers), floats of every width as `Double`. The same value is a checkpoint's attribute
/// (`CheckpointAttribute`) and travels from the reader child as JSON, hence `Codable`.
public enum HDF5Attribute: Sendable, Hashable, Codable, CustomStringConvertible {
    case string(String)
    case strings([String])
    case int(Int)
    case ints([Int])
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
    public var intValue: Int? {
        switch self {
        case .int(let value): return value
        case .ints(let values) where values.count == 1: return values[0]
        case .double(let value): return Int(exactly: value)
        case .doubles(let values) where values.count == 1: return Int(exactly: values[0])
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

    /// The value as text: strings quoted, arrays in brackets, long strings shortened.
    public var description: String {
        func quoted(_ string: String) -> String {
            let short = string.count > 60 ? String(string.prefix(57)) + "..." : string
            return "\"" + short.oneLine + "\""
        }
        switch self {
        case .string(let value): return quoted(value)
        case .strings(let values): return "[" + values.map(quoted).joined(separator: ", ") + "]"
        case .int(let value): return "\(value)"
        case .ints(let values): return "\(values)"
        case .double(let value): return "\(value)"
        case .doubles(let values): return "\(values)"
        case .unsupported(let what): return "<\(what)>"
        }
    }
}
