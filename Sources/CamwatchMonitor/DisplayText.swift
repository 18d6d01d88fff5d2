/// Text from outside (file names, error messages quoting them) made safe to print on a terminal or in a
/// journal: control characters cannot move the cursor, recolour the screen or fake a log line.
///
/// A file name is whatever bytes a trainer (or an attacker) chose; printed raw, `ESC [ 2 J` clears the
/// operator's terminal and a carriage return hides the start of a line. JSON needs none of this (its encoder
/// escapes control characters), but log lines and the text and markdown reports do.
public enum DisplayText {
    /// `text` with every control character spelled as an escape: C0 controls and DEL as `\xNN`, C1 controls
    /// and the bidirectional overrides (which reorder what is displayed) as `\u{NNNN}`. A backslash stays as
    /// it is, so the result is for people, not for parsing back.
    /// - Parameter keepingNewlines: keep `\n` (multi-line reports); otherwise it is escaped like the rest.
    public static func escaped(_ text: String, keepingNewlines: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepingNewlines: keepingNewlines) }) else {
            return text
        }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if needsEscape(scalar, keepingNewlines: keepingNewlines) {
                result += spelled(scalar)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Bytes that should be UTF-8 (a file name from `readdir`) as a printable string: valid sequences decoded,
    /// each byte of an invalid one as `\xNN`, control characters escaped as in `escaped(_:)`.
    public static func escaped(bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var result = ""
        var index = 0
        // Scalar by scalar; a byte that starts no well-formed sequence is spelled alone and decoding resumes
        // at the next byte.
        while index < bytes.count {
            let length = sequenceLength(bytes, at: index)
            if length > 0, let scalar = decodeScalar(bytes[index..<index + length]) {
                result += needsEscape(scalar, keepingNewlines: false) ? spelled(scalar) : String(scalar)
                index += length
            } else {
                result += hex(bytes[index])
                index += 1
            }
        }
        return result
    }

    /// Whether `bytes` are valid UTF-8.
    public static func isValidUTF8(_ bytes: some Collection<UInt8>) -> Bool {
        String(validating: bytes, as: UTF8.self) != nil
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, keepingNewlines: Bool) -> Bool {
        switch scalar.value {
        case 0x0A: !keepingNewlines
        case 0x00...0x1F, 0x7F...0x9F: true
        // Bidirectional embeddings, overrides and isolates; line and paragraph separators.
        case 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029: true
        default: false
        }
    }

    private static func spelled(_ scalar: Unicode.Scalar) -> String {
        if scalar.value <= 0x7F { return hex(UInt8(scalar.value)) }
        let digits = String(scalar.value, radix: 16)
        return "\\u{" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "}"
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return "\\x" + (digits.count == 1 ? "0" + digits : digits)
    }

    /// The length of the well-formed UTF-8 sequence at `index` (1…4), or 0 when there is none.
    private static func sequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        return length
    }

    /// The scalar a candidate sequence encodes, or `nil` when it is malformed (overlong, surrogate, bad
    /// continuation byte).
    private static func decodeScalar(_ sequence: ArraySlice<UInt8>) -> Unicode.Scalar? {
        guard let text = String(validating: sequence, as: UTF8.self), text.unicodeScalars.count == 1 else {
            return nil
        }
        return text.unicodeScalars.first
    }
}

extension DisplayText {
    /// The longest piece of outside text an error message repeats (``clipped(_:limit:)``).
    public static let echoLimit = 200

    /// `text` cut to its first `limit` characters, with an ellipsis and the original length, when longer: an
    /// error message repeats what it was given (a key, a layer name, a path), and a megabyte of it would make a
    /// "one-line" error a megabyte long.
    public static func clipped(_ text: String, limit: Int = echoLimit) -> String {
        guard text.utf8.count > limit else { return text }
        return "\(text.prefix(limit))… (\(text.utf8.count) bytes)"
    }
}
