@testable import CamwatchDaemon
import ArgumentParser
import CamwatchMonitor
import CamwatchSaliency
import CamwatchTestSupport
import Foundation
import Testing

/// `metrics:` in the config: the heatmap metrics computed at every checkpoint.
@Suite struct WatchConfigurationMetricsTests {
    func resolve(_ text: String) throws(ConfigurationError) -> WatchConfiguration {
        let path: String
        let overrides: WatchConfiguration.Overrides
        do {
            overrides = try WatchConfiguration.Overrides.parse([])
            let dir = try Fixtures.temporaryDirectory("camwatch-config")
            path = dir.appendingPathComponent("camwatch.yaml").path
            try ("checkpoints: /c\nprobes: /p\nout: /o\n" + text).write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            Issue.record("cannot write the config: \(error)")
            return WatchConfiguration(checkpoints: "", probes: "", out: "")
        }
        return try WatchConfiguration.resolve(file: path, overrides: overrides)
    }

    @Test func defaultIsEnergyAndDrop() throws {
        #expect(try resolve("").metrics == MetricSettings(metrics: [.energy, .drop]))
        // A metrics section with only the textfile directory keeps the default too.
        let c = try resolve("metrics: {textfile_directory: /var/lib/x}\n")
        #expect(c.metrics == .standard && c.textfileDirectory == "/var/lib/x")
    }

    @Test func aListIsShortForTheHeatmapKey() throws {
        #expect(try resolve("metrics: [energy, deletion, insertion]\n").metrics.metrics == [.energy, .deletion, .insertion])
        #expect(try resolve("metrics: [none]\n").metrics.metrics.isEmpty)
    }

    @Test func theMappingTakesHeatmapAndStep() throws {
        let c = try resolve("metrics: {textfile_directory: /t, heatmap: [drop, insertion], step: 32}\n")
        #expect(c.metrics == MetricSettings(metrics: [.drop, .insertion], step: 32))
        #expect(c.textfileDirectory == "/t")
        #expect(try resolve("metrics: {heatmap: \"energy,deletion\"}\n").metrics.metrics == [.energy, .deletion])
    }

    @Test(arguments: [
        ("metrics: [energy, pointing]\n", "metrics.heatmap: unknown metric 'pointing'"),
        ("metrics: {heatmap: [drop], step: 0}\n", "metrics.step must be at least 1"),
        ("metrics: {heatmap: [drop], steps: 3}\n", "unknown key 'metrics.steps'"),
    ])
    func badValuesAreOneLineErrors(text: String, reason: String) {
        #expect(throws: ConfigurationError.self) { try resolve(text) }
        do { _ = try resolve(text) } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
            #expect(!error.description.contains("\n"))
        }
    }
}
