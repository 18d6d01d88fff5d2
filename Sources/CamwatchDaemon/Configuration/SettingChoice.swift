public import ArgumentParser
public import CamwatchImage
public import CamwatchMonitor
public import CamwatchSaliency
public import CamwatchTensor
public import Logging

/// A setting that takes one of a fixed list of names (`timeline.colormap`, `--priority`). The config file and
/// the command line read it by one rule, ``init(choice:)``: exactly a raw value, as ArgumentParser reads an
/// enum option, so `colormap: Turbo` is refused in the file as `--colormap Turbo` is on the command line.
public protocol SettingChoice: CaseIterable, RawRepresentable<String>, Sendable {}

extension SettingChoice {
    /// The value named `text`, spelled exactly as its raw value; `nil` for any other spelling.
    public init?(choice text: String) {
        self.init(rawValue: text)
    }

    /// The names the setting takes, in declaration order (what a refusal lists).
    public static var choiceNames: [String] { allCases.map(\.rawValue) }
}

extension ComputePriority: SettingChoice {}
extension Colormap: SettingChoice {}
extension ConvergenceMode: SettingChoice {}
extension CamwatchImage.Preprocessing.ChannelOrder: SettingChoice {}
extension CAMMethod: SettingChoice {}
extension Logger.Level: SettingChoice {}

// The options that take these names on the command line read them with the same rule as the file (a refusal
// lists `allValueStrings`, the same names). `log_level`, `convergence.mode` and `channel_order` (`--bgr`/`--rgb`
// are flags) have no such option.
extension ComputePriority: ExpressibleByArgument {
    public init?(argument: String) { self.init(choice: argument) }
}
extension Colormap: ExpressibleByArgument {
    public init?(argument: String) { self.init(choice: argument) }
}
extension CAMMethod: ExpressibleByArgument {
    public init?(argument: String) { self.init(choice: argument) }
}

/// A ``SettingChoice`` as the config file holds it: decoded from its name by ``SettingChoice/init(choice:)``,
/// not by the enum's own `Decodable` (whose refusal names neither the key nor the names it takes).
struct Choice<Value: SettingChoice & Equatable>: Decodable, Sendable, Equatable {
    var value: Value

    /// - Throws: ``ConfigurationError`` naming the key's dotted path, the names it takes and the one given.
    init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let value = Value(choice: name) else {
            let key = decoder.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigurationError(key: key, .notOneOf(value: name, choices: Value.choiceNames))
        }
        self.value = value
    }
}
