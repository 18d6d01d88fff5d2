public import CamwatchTensor
import CamwatchMonitor

/// A bad configuration file or value: the file, the key and what is wrong, kept apart until `description`
/// writes them as one line.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The file the error is about: the config file, or a file a setting names (the webhook URL file, `--out`);
    /// `nil` for a value from the command line.
    public var path: String?
    /// The setting as the message names it (`timeline.colormap`, `layer (--layer)`), when it is about one.
    public var key: String?
    public var cause: Cause

    /// What is wrong with the file or the value.
    public enum Cause: Sendable {
        /// The value breaks the key's rule: the text continues the sentence after the key (`must be in
        /// 1...1024`), or is the whole sentence when there is no key.
        case invalid(String)
        /// The value is not one of the names the key takes (a ``SettingChoice``), listed in declaration order.
        case notOneOf(value: String, choices: [String])
        /// A key no section of the file has; `key` is its dotted path.
        case unknownKey
        /// What another part of camwatch found wrong with the value, as its own error (a heatmap metric list).
        case failure(ErrorCause)
    }

    public init(path: String? = nil, key: String? = nil, _ cause: Cause) {
        self.path = path
        self.key = key
        self.cause = cause
    }

    /// An error whose whole reason is one sentence.
    public init(path: String?, reason: String) {
        self.init(path: path, .invalid(reason))
    }

    /// The error with `path` as its file, unless it already names one (a decoding step that only knows the key).
    func inFile(_ path: String?) -> ConfigurationError {
        var error = self
        error.path = self.path ?? path
        return error
    }

    /// The reason without the file: the key and its cause in one sentence.
    public var reason: String {
        switch cause {
        case .invalid(let text):
            return key.map { "\($0) \(text)" } ?? text
        case .notOneOf(let value, let choices):
            return "\(key ?? "the value") must be \(Self.alternatives(choices)); got '\(DisplayText.clipped(value))'"
        case .unknownKey:
            return "unknown key '\(DisplayText.clipped(key ?? ""))'"
        case .failure(let cause):
            return key.map { cause.following($0) } ?? cause.description
        }
    }

    /// One line of bounded length, whatever the error repeats (a key, a path, a YAML line).
    public var description: String {
        let reason = DisplayText.clipped(reason, limit: 2 * WatchConfiguration.maximumPathLength)
        return path.map { "\(DisplayText.clipped($0, limit: WatchConfiguration.maximumPathLength)): \(reason)" } ?? reason
    }

    /// `a or b`, `a, b or c`; a longer list as `one of a, b, c, d`.
    static func alternatives(_ names: [String]) -> String {
        guard names.count > 1 else { return names.first ?? "" }
        guard names.count <= 3 else { return "one of " + names.joined(separator: ", ") }
        return names.dropLast().joined(separator: ", ") + " or " + names[names.count - 1]
    }
}

extension ConfigurationError: Equatable {
    /// Two errors are equal when they name the same file and say the same thing: a cause that holds another
    /// layer's error is compared by what it says.
    public static func == (lhs: ConfigurationError, rhs: ConfigurationError) -> Bool {
        lhs.path == rhs.path && lhs.reason == rhs.reason
    }
}
