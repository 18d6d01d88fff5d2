import ArgumentParser
import CamwatchHDF5
@testable import CamwatchDaemon
import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Logging
import Testing

@Suite struct WatchConfigurationTests {
    func file(_ text: String) throws -> String {
        let dir = try Fixtures.temporaryDirectory("camwatch-config")
        let path = dir.appendingPathComponent("camwatch.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsOverrideTheFileWhichOverridesDefaults() throws {
        let path = try file("""
            checkpoints: /srv/run7/ckpt
            probes: /etc/camwatch/probes
            out: /var/lib/camwatch/run7
            pattern: "*.weights.h5"
            arch: resnet18
            layer: layer4
            input_size: 256
            preprocessing: {mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], channel_order: bgr}
            watch: {interval: 30, settle: 5, incomplete_after: 600, inotify: false}
            convergence: {threshold: 0.05, patience: 4, hysteresis: 2}
            score_cam: {batch_size: 8, threads: 1}
            timeline: {max_columns: 20, colormap: viridis, alpha: 0.4}
            metrics: {textfile_directory: /var/lib/prometheus/node-exporter}
            alerts:
              exec: {command: [/usr/local/bin/notify, --urgent], timeout: 3}
              webhook: {url: "https://hooks.example.com/T/B/x", timeout: 2, retries: 1}
            log_level: debug
            """)
        // Parsed as `camwatch watch` parses its command line: the options reach resolve as the CLI gives them.
        let overrides = try WatchConfiguration.Overrides.parse(["--layer", "layer3", "--interval", "2", "--model", "/tmp/model.yaml"])
        let c = try WatchConfiguration.resolve(file: path, overrides: overrides)
        #expect(c.checkpoints == "/srv/run7/ckpt" && c.probes == "/etc/camwatch/probes")
        #expect(c.jobName == "run7")
        #expect(c.pattern == "*.weights.h5")
        #expect(c.architecture == .specFile("/tmp/model.yaml"), "--model replaces the file's arch")
        #expect(c.layer == "layer3" && c.interval == 2)
        #expect(c.inputSize == 256)
        #expect(c.preprocessing.mean == [0.5, 0.5, 0.5] && c.preprocessing.channelOrder == .bgr)
        #expect(c.settle == 5 && c.incompleteAfter == 600 && !c.inotify)
        #expect(c.convergence.mode == .absolute, "a threshold without a mode is the absolute rule")
        #expect(c.convergence.threshold == 0.05 && c.convergence.patience == 4 && c.convergence.hysteresis == 2)
        #expect(c.batchSize == 8 && c.threads == 1)
        #expect(c.maxColumns == 20 && c.colormap == .viridis && c.alpha == 0.4)
        #expect(c.textfileDirectory == "/var/lib/prometheus/node-exporter")
        #expect(c.execHook == ExecHook.Configuration(command: ["/usr/local/bin/notify", "--urgent"], timeout: .seconds(3)))
        #expect(try c.webhook()?.retries == 1)
        #expect(c.logLevel == .debug)
    }

    @Test func theExampleConfigIsValidAndComplete() throws {
        let path = Fixtures.packageRoot.appendingPathComponent("deploy/camwatch.example.yaml").path
        let c = try WatchConfiguration.resolve(file: path, overrides: .parse([]))
        #expect(c.jobName == "run7" && c.checkpoints == "/srv/training/run7/checkpoints")
        // Safe to copy: nothing overrides what the checkpoints say, no file that must exist first.
        #expect(c.architecture == .automatic && c.layer == nil)
        #expect(c.preprocessingFile == PreprocessingValues() && c.preprocessingFlags == PreprocessingValues())
        #expect(c.webhookURLFile == nil && c.webhookURL == nil && c.execCommand == nil && c.textfileDirectory == nil)
        #expect(c.tensorboard == nil)
    }

    /// The example file is the documentation of every key: each key of the model must be set in it, or shown
    /// in a comment (`# model: …`, `#convergence: {mode: absolute, threshold: …}`); a key added to
    /// ``ConfigFile`` without a place in the example fails here.
    @Test func theExampleShowsEveryKeyOfTheModel() throws {
        let path = Fixtures.packageRoot.appendingPathComponent("deploy/camwatch.example.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(try ConfigFile.unknownKeys(in: text).isEmpty)
        let keys = ConfigFile.keyPaths
        #expect(keys.count > 40 && keys.contains("alerts.webhook.url_file") && keys.contains("watch.incomplete_after"))
        let lines = text.split(separator: "\n")
        for key in keys {
            let leaf = key.split(separator: ".").last.map(String.init) ?? key
            // Set (`leaf: value`, `{leaf: value}`) or in a commented-out setting, not only in the prose.
            let shown = lines.contains { line in
                line.contains("\(leaf):") && (!line.hasPrefix("#") || line.contains("# \(leaf):") || line.contains("{"))
                    || line.contains("{\(leaf):") || line.contains(", \(leaf):")
            }
            #expect(shown, "deploy/camwatch.example.yaml lacks \(key)")
        }
    }

    /// Every key of the model either takes a scalar or list (a mapping in its place is a decoding error) or is
    /// a section whose own keys are checked: a section missing from its parent's `section(_:)` would accept
    /// any key beneath it silently.
    @Test func everySectionRejectsAnUnknownKeyBeneathIt() throws {
        for key in ConfigFile.keyPaths {
            let parts = key.split(separator: ".")
            var yaml = ""
            for (depth, part) in parts.enumerated() {
                yaml += String(repeating: "  ", count: depth) + part + ":\n"
            }
            yaml += String(repeating: "  ", count: parts.count) + "zz_bogus: 1\n"
            let error = try #require(throws: ConfigurationError.self, "\(key)") { _ = try ConfigFile.read(try file(yaml)) }
            #expect(
                error.reason == "unknown key '\(key).zz_bogus'" || error.reason.hasPrefix("invalid config"),
                "\(key): \(error.reason)")
        }
    }

    @Test("resources: threads, priority, every_nth, top_channels reach the Score-CAM options; score_cam.top_channels too")
    func resourcesSection() throws {
        let c = try WatchConfiguration.resolve(
            file: try file("probes: p\nout: o\ncheckpoints: c\nresources: {threads: 3, priority: low, every_nth: 4, top_channels: 64}"),
            overrides: .parse([]))
        #expect(c.threads == 3 && c.priority == .low && c.everyNth == 4 && c.topChannels == 64)
        #expect(c.scoreCAMOptions.threads == 3 && c.scoreCAMOptions.topChannels == 64)
        let legacy = try WatchConfiguration.resolve(
            file: try file("probes: p\nout: o\ncheckpoints: c\nscore_cam: {batch_size: 8, threads: 2, top_channels: 32}"),
            overrides: .parse([]))
        #expect(legacy.threads == 2 && legacy.topChannels == 32 && legacy.batchSize == 8)
        #expect(legacy.priority == .idle && legacy.everyNth == 1, "defaults: idle priority, every checkpoint")
    }

    @Test func defaultsWithoutAFile() throws {
        var overrides = try WatchConfiguration.Overrides.parse([])
        overrides.checkpoints = "ckpt"
        overrides.probes = "probes"
        overrides.out = "/tmp/out/"
        let c = try WatchConfiguration.resolve(file: nil, overrides: overrides)
        #expect(c.architecture == .automatic && c.layer == nil && c.inputSize == nil)
        #expect(c.convergence == ConvergenceRule(mode: .relative))
        #expect(c.convergence.settleRatio == 0.35 && c.convergence.weightSettleRatio == 0.15)
        #expect(c.convergence.patience == 2 && c.convergence.hysteresis == 2)
        #expect(c.pattern == "*.h5" && c.interval == 10 && c.settle == 2)
        #expect(c.jobName == "out")
        #expect(c.execHook == nil)
        #expect(try c.webhook() == nil)
        // Yield to the trainer by default: lowest priority, a bounded thread count, every checkpoint.
        #expect(c.priority == .idle && c.everyNth == 1 && c.topChannels == nil && c.threads == nil)
        #expect(c.scoreCAMOptions.threads == WatchConfiguration.defaultThreads)
        #expect((1...4).contains(WatchConfiguration.defaultThreads))
    }

    @Test(arguments: [
        ("probes: p\nout: o\ncheckpoints: c\nbogus: 1", "unknown key 'bogus'"),
        ("probes: p\nout: o\ncheckpoints: c\nwatch: {intervall: 3}", "unknown key 'watch.intervall'"),
        ("probes: p\nout: o\ncheckpoints: c\nconvergence: {threshold: high}", "convergence.threshold"),
        ("probes: [p\n", "invalid YAML"),
        ("probes: p\nout: o\ncheckpoints: c\nconvergence: {patience: 0}", "patience must be at least 1"),
        ("probes: p\nout: o\ncheckpoints: c\nconvergence: {mode: fuzzy}", "convergence.mode must be relative or absolute"),
        ("probes: p\nout: o\ncheckpoints: c\nconvergence: {mode: relative, threshold: 0.1}", "threshold needs mode: absolute"),
        ("probes: p\nout: o\ncheckpoints: c\nconvergence: {threshold: 0.1, settle_ratio: 0.3}", "need mode: relative"),
        ("probes: p\nout: o\ncheckpoints: c\nconvergence: {settle_ratio: 1.5}", "settle_ratio must be in (0, 1)"),
        ("probes: p\nout: o\ncheckpoints: c\nconvergence: {hysteresis: .inf}", "hysteresis must be a number"),
        ("probes: p\nout: o\ncheckpoints: c\narch: resnet18\nmodel: m.yaml", "give arch or model, not both"),
        ("probes: p\nout: o\ncheckpoints: c\ntimeline: {colormap: rainbow}", "colormap must be"),
        ("out: o\ncheckpoints: c", "no probe directory"),
        ("probes: p\nout: o\ncheckpoints: c\nresources: {priority: lowest}", "resources.priority must be idle, low or normal"),
        ("probes: p\nout: o\ncheckpoints: c\nlog_level: loud", "log_level must be one of trace, debug, info"),
        ("probes: p\nout: o\ncheckpoints: c\nresources: {every_nth: 0}", "resources.every_nth must be in 1...1000000"),
        ("probes: p\nout: o\ncheckpoints: c\nresources: {threads: 0}", "resources.threads must be in 1...256"),
        ("probes: p\nout: o\ncheckpoints: c\nresources: {top_channels: 0}", "resources.top_channels must be at least 1"),
        ("probes: p\nout: o\ncheckpoints: c\nresources: {nice: 3}", "unknown key 'resources.nice'"),
        ("probes: p\nout: o\ncheckpoints: c\nresources: {threads: 1}\nscore_cam: {threads: 2}",
         "give resources.threads or score_cam.threads, not both"),
        ("probes: p\nout: o\ncheckpoints: c\nresources: {top_channels: 8}\nscore_cam: {top_channels: 8}",
         "give resources.top_channels or score_cam.top_channels, not both"),
    ])
    func badFilesAreRejectedWithTheReason(text: String, reason: String) throws {
        try expectRejected(text, reason: reason)
    }

    /// "Billion laughs": ten levels of YAML aliases, each nine of the one below (9^10 leaves if expanded), under an
    /// unknown key and under a known one. Refused at once: the key check and the first type mismatch come before
    /// any alias is expanded.
    @Test(arguments: [(nil, "unknown key 'l0'"), ("watch:\n  interval:\n", "watch.interval")])
    func aliasBombsAreRefusedBeforeExpansion(parent: String?, reason: String) throws {
        var levels = ["l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]"]
        for level in 1...10 {
            levels.append("l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]")
        }
        let bomb = levels.map { (parent == nil ? "" : "    ") + $0 }.joined(separator: "\n")
        let started = ContinuousClock.now
        try expectRejected("probes: p\nout: o\ncheckpoints: c\n" + (parent ?? "") + bomb, reason: reason)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    /// Numbers that would trap when converted to a `Duration` or an integer (docs/reliability.md), or poison every
    /// input, each refused with one line naming its key.
    @Test(arguments: [
        ("watch: {settle: .inf}", "watch.settle must be a number of seconds, at least 0 and at most 86400 (1 day); got inf"),
        ("watch: {settle: .nan}", "watch.settle must be a number of seconds"),
        ("watch: {settle: -1}", "watch.settle must be a number of seconds"),
        ("watch: {interval: 1e300}", "watch.interval (--interval) must be a number of seconds, at least 0.1"),
        ("watch: {interval: -.inf}", "watch.interval (--interval)"),
        ("watch: {interval: 0}", "watch.interval (--interval)"),
        // A busy loop while idle: --interval 1e-300 used most of a core.
        ("watch: {interval: 1e-300}", "watch.interval (--interval) must be a number of seconds, at least 0.1 and at most 86400 (1 day); got 1e-300"),
        ("watch: {incomplete_after: 0.01}", "watch.incomplete_after must be a number of seconds, at least 0.1"),
        ("alerts: {exec: {command: [x], timeout: 1e-9}}", "alerts.exec.timeout must be a number of seconds, at least 0.1"),
        ("watch: {incomplete_after: 86401}", "watch.incomplete_after must be a number of seconds"),
        ("watch: {incomplete_after: .NaN}", "watch.incomplete_after"),
        ("alerts: {exec: {command: [x], timeout: .inf}}", "alerts.exec.timeout must be a number of seconds"),
        ("alerts: {webhook: {url: 'https://h/x', timeout: 1e300}}", "alerts.webhook.timeout must be a number of seconds"),
        ("alerts: {webhook: {url: 'https://h/x', retries: 1000000000}}", "alerts.webhook.retries must be in 0...100"),
        ("preprocessing: {mean: [.nan, 0.5, 0.5]}", "preprocessing: mean values must be finite"),
        ("preprocessing: {std: [.inf, 0.5, 0.5]}", "preprocessing: std values must be finite and non-zero"),
        ("preprocessing: {scale: .inf}", "preprocessing: scale must be finite and non-zero"),
        ("preprocessing: {scale: 1e300}", "preprocessing: scale must be finite and non-zero"),
        ("score_cam: {batch_size: 9223372036854775807}", "score_cam.batch_size must be in 1...1024"),
        ("timeline: {max_columns: 9223372036854775807}", "timeline.max_columns must be in 2...1000"),
        ("timeline: {alpha: .nan}", "timeline.alpha must be in 0...1"),
    ])
    func nonFiniteAndHugeNumbersAreRejected(setting: String, reason: String) throws {
        try expectRejected("probes: p\nout: o\ncheckpoints: c\n" + setting, reason: reason)
    }

    @Test("--interval inf / nan / 1e300 / 1e-300 from the command line is refused like the key")
    func hostileIntervalFlag() throws {
        for value in [Double.infinity, .nan, 1e300, -1, 1e-300, 0.05] {
            var overrides = try WatchConfiguration.Overrides.parse([])
            (overrides.checkpoints, overrides.probes, overrides.out, overrides.interval) = ("c", "p", "o", value)
            let error = try #require(throws: ConfigurationError.self) {
                _ = try WatchConfiguration.resolve(file: nil, overrides: overrides)
            }
            #expect(error.description.contains("watch.interval (--interval) must be a number of seconds"), "\(error)")
        }
    }

    @Test("SIGHUP with settle: .inf keeps the running configuration and logs one line")
    func reloadWithAnInfiniteSettleKeepsTheOldConfiguration() async throws {
        let root = try Fixtures.temporaryDirectory("camwatch-reload")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        for name in ["ckpt", "probes"] { try fm.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true) }
        try fm.copyItem(
            at: Fixtures.packageRoot.appendingPathComponent("Probes/probe-00-circle.png"),
            to: root.appendingPathComponent("probes/probe-00-circle.png"))
        let config = root.appendingPathComponent("camwatch.yaml").path
        try "watch: {interval: 0.5, settle: 0.3}\n".write(toFile: config, atomically: true, encoding: .utf8)
        var overrides = try WatchConfiguration.Overrides.parse([])
        overrides.checkpoints = root.appendingPathComponent("ckpt").path
        overrides.probes = root.appendingPathComponent("probes").path
        overrides.out = root.appendingPathComponent("out").path
        let recorder = LogRecorder()
        let prepared = try RunStartup.prepare(
            configurationPath: config, overrides: overrides, childCommand: [], logger: recorder.logger)
        let service = WatchService(
            prepared, alerts: AlertDispatcher(execHook: nil, webhook: nil, logger: recorder.logger),
            notifier: SystemdNotifier(environment: [:]), logger: recorder.logger)
        try "watch: {interval: 0.5, settle: .inf}\n".write(toFile: config, atomically: true, encoding: .utf8)
        // Before the range checks this trapped converting settle to a Duration, taking the daemon down.
        await service.reload()
        let errors = recorder.entries.filter { $0.level >= .error }.map(\.message)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("watch.settle must be a number of seconds") == true, "\(errors)")
        #expect(errors.first?.contains("keeping the previous configuration") == true, "\(errors)")
        #expect(!recorder.entries.contains { $0.message.contains("SIGHUP: reloaded") })
    }

    @Test("--pattern, --scale, --mean, --std and --bgr win over the file; flags and file are kept apart for the resolver")
    func flagsOverrideTheFile() throws {
        let path = try file("checkpoints: c\nprobes: p\nout: o\npattern: '*.h5'\ninput_size: 48\npreprocessing: {scale: 0.5, std: [2, 2, 2]}\n")
        var overrides = try WatchConfiguration.Overrides.parse([])
        overrides.pattern = "*.keras"
        overrides.preprocessing.mean = [1, 1, 1]
        overrides.preprocessing.scale = 1 / 127.5
        overrides.preprocessing.bgr = true
        let c = try WatchConfiguration.resolve(file: path, overrides: overrides)
        #expect(c.pattern == "*.keras")
        #expect(c.preprocessing.scale == 1 / 127.5 && c.preprocessing.mean == [1, 1, 1])
        #expect(c.preprocessing.std == [2, 2, 2] && c.preprocessing.channelOrder == .bgr && c.inputSize == 48)
        #expect(c.preprocessingFlags == PreprocessingValues(mean: [1, 1, 1], scale: 1 / 127.5, channelOrder: .bgr))
        #expect(c.preprocessingFile == PreprocessingValues(height: 48, width: 48, std: [2, 2, 2], scale: 0.5))
        overrides.preprocessing.std = [1, 0, 1]
        #expect(throws: ConfigurationError.self) { try WatchConfiguration.resolve(file: path, overrides: overrides) }
    }

    @Test("a reload applies what may change at once and keeps every restart-only setting, naming each")
    func reloadKeepsRestartOnlySettings() {
        var old = WatchConfiguration(checkpoints: "/c", probes: "/p", out: "/o")
        old.layer = "layer4"
        old.threads = 2
        var fresh = old
        fresh.interval = 3
        fresh.alpha = 0.25
        fresh.layer = "layer3"
        fresh.threads = 1
        fresh.out = "/elsewhere"
        let (applied, changed) = fresh.keepingRestartOnly(from: old)
        #expect(changed == ["out", "layer", "resources.threads"])
        #expect(applied.layer == "layer4" && applied.threads == 2 && applied.out == "/o")
        #expect(applied.interval == 3 && applied.alpha == 0.25)
        #expect(old.keepingRestartOnly(from: old).changed.isEmpty)
        // Every restart setting is named when it changes, and kept: a configuration differing in all of them
        // names all, in the log line's order.
        var other = WatchConfiguration.RestartSettings(
            checkpoints: "/x", probes: "/y", out: "/z", architecture: .zoo("vgg11"), layer: "features",
            preprocessingFlags: PreprocessingValues(inputSize: 64), preprocessingFile: PreprocessingValues(scale: 1),
            convergence: ConvergenceRule(mode: .absolute), logLevel: .debug, threads: 3, topChannels: 8)
        #expect(Mirror(reflecting: other).children.count == 11, "a new restart setting needs a name in changes(from:)")
        var everything = fresh
        everything.restart = other
        let (kept, names) = everything.keepingRestartOnly(from: old)
        #expect(names == ["checkpoints", "probes", "out", "arch/model", "layer", "input_size", "preprocessing",
                          "convergence", "log_level", "resources.threads", "resources.top_channels"])
        #expect(kept.restart == old.restart && kept.live == fresh.live)
        other = old.restart
        other.preprocessingFile.mean = [0.5, 0.5, 0.5]
        #expect(other.changes(from: old.restart) == ["preprocessing"], "a value of the file is part of the preprocessing")
        other = old.restart
        other.preprocessingFlags.height = 32
        other.preprocessingFlags.width = 32
        #expect(other.changes(from: old.restart) == ["input_size"], "the input size is named on its own")
    }

    @Test("a 512 KiB string in any setting: one short line naming the key and the limit, the value not repeated")
    func hugeStringsAreRefusedWithoutEchoingThem() throws {
        let huge = String(repeating: "x", count: 1 << 19)
        let none = try WatchConfiguration.Overrides.parse([])
        let base = "checkpoints: c\nprobes: p\nout: o\n"
        for (text, key) in [
            ("job_name: \(huge)", "job_name is 524288 bytes long; at most 256"),
            ("layer: \(huge)", "layer (--layer) is 524288 bytes long; at most 256"),
            ("pattern: \(huge)", "pattern (--pattern)"), ("arch: \(huge)", "arch (--arch)"),
            ("tensorboard: /\(huge)", "tensorboard (--tensorboard)"),
            ("metrics: {textfile_directory: /\(huge)}", "metrics.textfile_directory"),
            ("alerts: {webhook: {url: 'https://\(huge)'}}", "alerts.webhook.url"),
            ("alerts: {exec: {command: [/bin/true, \(huge)]}}", "alerts.exec.command"),
            // Keys and YAML errors are repeated, clipped with their length.
            // (YAML keys end at 1024 characters.)
            ("\(huge.prefix(1000)): 1", "unknown key '\(huge.prefix(200))… (1000 bytes)'"),
            ("job_name: [\(huge)", "invalid YAML"),
        ] {
            let path = try file(base + text)
            do {
                _ = try WatchConfiguration.resolve(file: path, overrides: none)
                Issue.record("accepted: \(key)")
            } catch {
                #expect(error.description.contains(key), "\(error.description.prefix(300))")
                #expect(error.description.utf8.count < 6000, "\(key): \(error.description.utf8.count) bytes")
                #expect(!error.description.contains("\n"))
            }
        }
        // A flag is bounded like its key.
        var overrides = try WatchConfiguration.Overrides.parse([])
        (overrides.checkpoints, overrides.probes, overrides.out) = ("c", "p", "o")
        overrides.layer = String(repeating: "l", count: 100_000)
        #expect(throws: ConfigurationError(path: nil, reason: "layer (--layer) is 100000 bytes long; at most 256")) {
            try WatchConfiguration.resolve(file: nil, overrides: overrides)
        }
        #expect(DisplayText.clipped(huge).hasSuffix("… (524288 bytes)"))
        // A config file over 1 MiB is refused before it is parsed.
        let big = try file(base + "job_name: \(huge)\(huge)\(huge)")
        #expect(throws: ConfigurationError(path: big, reason: "the config file has 1572906 bytes; at most 1048576")) {
            try WatchConfiguration.resolve(file: big, overrides: none)
        }
    }

    @Test("tensorboard: '', job_name: '' and out: '' are refused with the key")
    func emptyPathsAndNamesAreRefused() throws {
        for (text, reason) in [
            ("out: o\ntensorboard: ''", "tensorboard (--tensorboard) is empty"), ("out: o\njob_name: ''", "job_name is empty"),
            ("out: ''", "out (--out) is empty"),
        ] {
            try expectRejected("checkpoints: c\nprobes: p\n" + text, reason: reason)
        }
    }

    func expectRejected(_ text: String, reason: String) throws {
        let path = try file(text)
        let none = try WatchConfiguration.Overrides.parse([])
        do {
            _ = try WatchConfiguration.resolve(file: path, overrides: none)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.contains(reason), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func webhookURLComesFromItsFile() throws {
        let urlFile = try file("  https://hooks.slack.com/services/T/B/secret \n")
        let config = try file("probes: p\nout: o\ncheckpoints: c\nalerts: {webhook: {url_file: \(urlFile)}}")
        let c = try WatchConfiguration.resolve(file: config, overrides: .parse([]))
        #expect(try c.webhook()?.url == "https://hooks.slack.com/services/T/B/secret")
        try "ftp://nope".write(toFile: urlFile, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try c.webhook() }
    }
}

@Suite struct CheckpointOrderTests {
    func pending(_ name: String, step: Int?, epoch: Int?, mtime: Int64 = 0) -> PendingCheckpoint {
        var attributes: [String: CheckpointAttribute] = [:]
        if let step { attributes["step"] = .int(step) }
        if let epoch { attributes["epoch"] = .int(epoch) }
        let checkpoint = Checkpoint(path: name, format: "pytorch", tensors: [:], attributes: attributes)
        let file = CheckpointFile(path: "/d/\(name)", name: name, inode: 1, size: 1, mtimeNanoseconds: mtime)
        return PendingCheckpoint(file: file, snapshotPath: "/s/\(name)", loaded: .success(checkpoint), loadSeconds: 0)
    }

    @Test func byStepThenEpochThenNaturalNameThenMtime() {
        let batch = [
            pending("last.h5", step: 300, epoch: 3),
            pending("ckpt-10.h5", step: 100, epoch: 1),
            pending("ckpt-2.h5", step: 200, epoch: 2),
        ]
        #expect(CheckpointProcessor.ordered(batch).map(\.file.name) == ["ckpt-10.h5", "ckpt-2.h5", "last.h5"])
        let epochs = [pending("b.h5", step: nil, epoch: 2), pending("a.h5", step: nil, epoch: 7)]
        #expect(CheckpointProcessor.ordered(epochs).map(\.file.name) == ["b.h5", "a.h5"])
        let names = [pending("e-10.h5", step: nil, epoch: nil), pending("e-9.h5", step: nil, epoch: nil)]
        #expect(CheckpointProcessor.ordered(names).map(\.file.name) == ["e-9.h5", "e-10.h5"])
        let times = [pending("x.h5", step: nil, epoch: nil, mtime: 5), pending("x.h5", step: nil, epoch: nil, mtime: 2)]
        #expect(CheckpointProcessor.ordered(times).map(\.file.mtimeNanoseconds) == [2, 5])
    }
}
