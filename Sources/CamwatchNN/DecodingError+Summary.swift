import Foundation

extension DecodingError {
    /// The error in one line: what, and where in the document (`missing key 'file' at [2]`,
    /// `Expected to decode Double but found a string at convergence.threshold`). Model specs, probe manifests
    /// and config files all report their decoding errors this way.
    public var summary: String {
        func path(_ context: DecodingError.Context) -> String {
            let parts = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
            return parts.isEmpty ? "top level" : parts.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch self {
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(context.debugDescription) at \(path(context))"
        case .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default:
            return "\(self)"
        }
    }
}
