import ArgumentParser
@testable import CamwatchDaemon
import CamwatchCharts
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchPublish
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Logging
import Testing

/// The keys that take one of a list of names: the config file and the command line read them by one rule.
@Suite struct SettingChoiceTests {
    /// The config file each test rewrites.
    let path: String
    /// No option given (parsed once: ArgumentParser takes milliseconds per parse in a debug build).
    let none: WatchConfiguration.Overrides

    init() throws {
        path = try Fixtures.temporaryDirectory("camwatch-config").appendingPathComponent("camwatch.yaml").path
        none = try WatchConfiguration.Overrides.parse([])
    }

    /// The config file with the three required keys and `setting`.
    func resolve(_ setting: String) throws -> WatchConfiguration {
        try "probes: p\nout: o\ncheckpoints: c\n\(setting)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return try WatchConfiguration.resolve(file: path, overrides: none)
    }

    /// Whether the file takes `name` for `key` (a dotted path, written as nested flow mappings).
    func fileAccepts(_ key: String, _ name: String) throws -> Bool {
        let parts = key.split(separator: ".")
        let quoted = "'" + name.replacingOccurrences(of: "'", with: "''") + "'"
        let yaml = parts.dropLast().reversed().reduce("\(parts[parts.count - 1]): \(quoted)") { inner, section in
            "\(section): {\(inner)}"
        }
        do {
            _ = try resolve(yaml)
            return true
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(error)")
            return false
        }
    }

    /// Each name, as written and in other cases, padded, and a name no key takes.
    static func spellings(_ names: [String]) -> [String] {
        names.flatMap { [$0, $0.uppercased(), $0.prefix(1).uppercased() + $0.dropFirst(), " \($0)", "\($0) "] }
            + ["", "default", "none"]
    }

    /// `colormap: Turbo` was taken by the file and refused by `--colormap Turbo`; now both refuse it, and every
    /// other spelling is taken by both or by neither.
    @Test("the file and the command line take and refuse the same spellings of every enum key")
    func fileAndCommandLineAgree() throws {
        func agree<Value: SettingChoice & ExpressibleByArgument>(_: Value.Type, key: String) throws {
            for name in Self.spellings(Value.choiceNames) {
                let file = try fileAccepts(key, name)
                #expect(file == (Value(argument: name) != nil), "\(key): '\(name)' file \(file)")
                #expect(file == Value.choiceNames.contains(name), "\(key): '\(name)'")
            }
        }
        try agree(Colormap.self, key: "timeline.colormap")
        try agree(ComputePriority.self, key: "resources.priority")
        try agree(CAMMethod.self, key: "saliency.method")
        #expect(throws: ConfigurationError.self) { try resolve("timeline: {colormap: Turbo}") }
        // --priority is watch's own option: parsed as the command parses it.
        for name in Self.spellings(ComputePriority.choiceNames) {
            let flag = (try? WatchConfiguration.Overrides.parse(["--priority", name])) != nil
            #expect(flag == (try fileAccepts("resources.priority", name)), "--priority '\(name)'")
        }
        // The keys without an option of their own (`--bgr`/`--rgb` are flags) follow the same rule.
        func exact<Value: SettingChoice>(_: Value.Type, key: String) throws {
            for name in Self.spellings(Value.choiceNames) {
                #expect(try fileAccepts(key, name) == Value.choiceNames.contains(name), "\(key): '\(name)'")
            }
        }
        try exact(ConvergenceMode.self, key: "convergence.mode")
        try exact(CamwatchImage.Preprocessing.ChannelOrder.self, key: "preprocessing.channel_order")
        try exact(Logger.Level.self, key: "log_level")
    }

    /// One message for every enum key, listing its names from `allCases` and the name it was given.
    @Test(arguments: [
        ("preprocessing: {channel_order: grb}", "preprocessing.channel_order must be rgb or bgr; got 'grb'"),
        ("convergence: {mode: fuzzy}", "convergence.mode must be relative or absolute; got 'fuzzy'"),
        ("resources: {priority: lowest}", "resources.priority must be idle, low or normal; got 'lowest'"),
        ("timeline: {colormap: Turbo}", "timeline.colormap must be jet, turbo or viridis; got 'Turbo'"),
        ("log_level: loud", "log_level must be one of trace, debug, info, notice, warning, error, critical; got 'loud'"),
        ("saliency: {method: gradcam3}",
         "saliency.method must be one of scorecam, gradcam, gradcam++, xgradcam, layercam, hirescam, eigencam, sscam, iscam; got 'gradcam3'"),
    ])
    func refusalNamesTheKeyAndTheChoices(setting: String, reason: String) throws {
        let error = try #require(throws: ConfigurationError.self) { try resolve(setting) }
        #expect(error.reason == reason)
        let path = try #require(error.path)
        #expect(error.description == "\(path): \(reason)")
        guard case .notOneOf(_, let choices) = error.cause else {
            Issue.record("cause \(error.cause)")
            return
        }
        #expect(reason.contains(" must be \(ConfigurationError.alternatives(choices)); got "))
    }

    @Test("a ConfigurationError keeps its file, key and cause apart; the one line is made by description")
    func errorsKeepTheirCause() throws {
        let error = try #require(throws: ConfigurationError.self) { try resolve("metrics: {heatmap: [energy, sharpness]}") }
        #expect(error.key == "metrics.heatmap" && error.path?.hasSuffix("camwatch.yaml") == true)
        guard case .failure(let cause) = error.cause else {
            Issue.record("cause \(error.cause)")
            return
        }
        #expect(cause.error is SaliencyError)
        #expect(error.reason == "metrics.heatmap: \(cause)")
        let unknown = try #require(throws: ConfigurationError.self) { try resolve("timeline: {colour: jet}") }
        #expect(unknown.key == "timeline.colour" && unknown.reason == "unknown key 'timeline.colour'")
        let range = try #require(throws: ConfigurationError.self) { try resolve("timeline: {alpha: 2}") }
        #expect(range.key == "timeline.alpha" && range.reason == "timeline.alpha must be in 0...1")
        #expect(range.path != nil, "validate's errors are given the file they came from")
        #expect(ConfigurationError.alternatives(["a"]) == "a" && ConfigurationError.alternatives(["a", "b"]) == "a or b")
    }

    /// The example's commented-out alternatives (`#convergence: {mode: absolute, …}`, `#resources: {priority:
    /// low, …}`, `# preprocessing: {…, channel_order: rgb}`) are settings a reader copies: each, uncommented in place
    /// of the key's active setting, is a valid file too.
    @Test("every commented-out setting of the example config is valid when uncommented")
    func commentedExampleSettingsAreValid() throws {
        let example = Fixtures.packageRoot.appendingPathComponent("deploy/camwatch.example.yaml").path
        let lines = try String(contentsOfFile: example, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        let keys = Set(ConfigFile.CodingKeys.allCases.map(\.stringValue))
        var tried: [String] = []
        for line in lines {
            guard line.hasPrefix("#") else { continue }
            let setting = String(line.drop(while: { $0 == "#" || $0 == " " }))
            guard let colon = setting.firstIndex(of: ":"), keys.contains(String(setting[..<colon])),
                case let value = setting[setting.index(after: colon)...], value.hasPrefix(" "), !value.hasPrefix("  "),
                !setting.hasPrefix("out:")  // prose: "# out: uncomment what you need."
            else { continue }
            let key = String(setting[..<colon])
            // The active setting of the key (with its indented lines) gives way to the alternative.
            var kept: [String] = []
            var skipping = false
            for other in lines {
                if other.hasPrefix("\(key):") { skipping = true; continue }
                if skipping, other.hasPrefix(" ") { continue }
                skipping = false
                kept.append(other)
            }
            try (kept + [setting]).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            do { _ = try WatchConfiguration.resolve(file: path, overrides: none) } catch {
                Issue.record("\(setting): \(error)")
            }
            tried.append(key)
        }
        #expect(Set(tried).isSuperset(of: ["convergence", "saliency", "resources", "preprocessing", "arch", "model"]), "\(tried)")
    }

    @Test("the defaults written in several places are one constant each")
    func defaultsAreNamedOnce() {
        let c = WatchConfiguration(checkpoints: "c", probes: "p", out: "o")
        let timeline = TimelineChart.Options()
        #expect(c.maxColumns == timeline.maxColumns && c.colormap == timeline.colormap && c.alpha == timeline.alpha)
        #expect(ProbeOverlay().colormap == c.colormap && ProbeOverlay().alpha == c.alpha)
        #expect(Preprocessing().height == Preprocessing.defaultInputSize && Preprocessing().mean == Preprocessing.imageNetMean)
        // The same limit as the network's own: a larger input is refused in the file, not later by the model.
        #expect(throws: ConfigurationError.self) { try resolve("input_size: \(ModelLimits.extent + 1)") }
    }
}
