@testable import CamwatchDaemon
import ArgumentParser
import CamwatchTestSupport
import Foundation

/// A watch run in a temporary directory for tests that drive the real `WatchService` in this process: sample
/// checkpoints, one probe, short settle and scan intervals, the real reader child.
struct ServiceScratch {
    let root: URL
    let recorder = LogRecorder()
    var checkpoints: URL { root.appendingPathComponent("ckpt") }
    var out: URL { root.appendingPathComponent("out") }
    /// The reader child `camwatch load-checkpoint-child`.
    static let reader = [CommandRunner.binary.path, "load-checkpoint-child"]

    /// - Parameter samples: names in the sample run's `Checkpoints/` to copy into the watched directory.
    init(_ label: String, samples: [String]) throws {
        root = try Fixtures.temporaryDirectory(label)
        let probes = root.appendingPathComponent("probes")
        for directory in [checkpoints, probes] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        for name in samples { try addCheckpoint(name) }
        try FileManager.default.copyItem(
            at: Fixtures.packageRoot.appendingPathComponent("Probes/probe-00-circle.png"),
            to: probes.appendingPathComponent("probe-00-circle.png"))
        try "watch: {interval: 0.5, settle: 0.2}\nresources: {priority: normal}\n"
            .write(to: root.appendingPathComponent("camwatch.yaml"), atomically: true, encoding: .utf8)
    }

    func addCheckpoint(_ name: String) throws {
        try FileManager.default.copyItem(
            at: Fixtures.packageRoot.appendingPathComponent("Checkpoints/\(name)"),
            to: checkpoints.appendingPathComponent(name))
    }

    /// Start-up as `camwatch watch` does it (the start-up check reads with the real reader); `childCommand`
    /// then replaces the reader the pipeline uses.
    func prepare(once: Bool = false, childCommand: [String] = Self.reader) throws -> RunStartup.Prepared {
        var overrides = try WatchConfiguration.Overrides.parse([])
        overrides.checkpoints = checkpoints.path
        overrides.probes = root.appendingPathComponent("probes").path
        overrides.out = out.path
        overrides.once = once
        var prepared = try RunStartup.prepare(
            configurationPath: root.appendingPathComponent("camwatch.yaml").path, overrides: overrides,
            childCommand: Self.reader, logger: recorder.logger)
        prepared.childCommand = childCommand
        return prepared
    }

    func service(_ prepared: RunStartup.Prepared, notifier: SystemdNotifier = SystemdNotifier(environment: [:]))
        -> WatchService
    {
        WatchService(
            prepared, alerts: AlertDispatcher(execHook: nil, webhook: nil, logger: recorder.logger), notifier: notifier,
            logger: recorder.logger)
    }

    /// report.json as JSON objects.
    func report() -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: out.appendingPathComponent("report.json").path) else {
            return nil
        }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    func entries(_ key: String) -> [[String: Any]] { report()?[key] as? [[String: Any]] ?? [] }

    func remove() { try? FileManager.default.removeItem(at: root) }
}
