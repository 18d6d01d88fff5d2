@testable import CamwatchDaemon
import ArgumentParser
import CamwatchSaliency
import CamwatchTestSupport
import Foundation
import Testing

/// `saliency:` in the watch configuration.
@Suite struct WatchConfigurationMethodTests {
    func resolve(_ extra: String) throws -> WatchConfiguration {
        let path = try Fixtures.temporaryDirectory("camwatch-config").appendingPathComponent("camwatch.yaml").path
        try "probes: p\nout: o\ncheckpoints: c\n\(extra)".write(toFile: path, atomically: true, encoding: .utf8)
        return try WatchConfiguration.resolve(file: path, overrides: .parse([]))
    }

    @Test func methodSamplesAndSeedReachTheExplainerOptions() throws {
        let c = try resolve("saliency: {method: sscam, samples: 5, seed: 9}\nscore_cam: {batch_size: 8}")
        #expect(c.method == .ssCAM)
        #expect(c.methodOptions.samples == 5 && c.methodOptions.seed == 9 && c.methodOptions.scoreCAM.batchSize == 8)
        #expect(try resolve("saliency: {method: gradcam++}").method == .gradCAMPlusPlus)
        #expect(try resolve("").method == .scoreCAM, "Score-CAM unless configured")
    }

    @Test(arguments: [
        ("saliency: {method: gradcam3}", "saliency.method must be one of scorecam, gradcam, gradcam++"),
        ("saliency: {samples: 0}", "saliency.samples must be in 1...1000"),
        ("saliency: {methods: gradcam}", "unknown key 'saliency.methods'"),
    ])
    func badValuesAreOneLineErrors(text: String, reason: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try resolve(text) }
        #expect(error?.description.contains(reason) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("\n") == false)
    }
}
