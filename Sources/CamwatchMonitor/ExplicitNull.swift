/// An optional that the JSON outputs always write: `null` when there is no value, never a missing key.
///
/// `report.json` and the alert JSON are read by scripts and dashboards, which should see "not measured"
/// (`"drift": null` on the first checkpoint) rather than a field that comes and goes. Swift's synthesized
/// `Encodable` leaves `nil` optionals out, so each optional field the outputs show is declared
/// `@ExplicitNull`; a key missing from a file written before the field existed still decodes as `nil`.
@propertyWrapper
public struct ExplicitNull<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

extension ExplicitNull: Hashable where Value: Hashable {}

extension KeyedDecodingContainer {
    /// A key that is absent (a file from before the field existed) decodes as `nil`, like an optional.
    public func decode<Value>(_ type: ExplicitNull<Value>.Type, forKey key: Key) throws -> ExplicitNull<Value> {
        try decodeIfPresent(type, forKey: key) ?? ExplicitNull(wrappedValue: nil)
    }
}
