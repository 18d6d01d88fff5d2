import CamwatchHDF5
import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch explain --method …` on the residual fixture net against pytorch-grad-cam's maps of the same
/// photo (Tests/Fixtures/methods/residual_layer2.h5, from Scripts/fixtures/make_method_fixtures.py).
@Suite struct ExplainMethodTests {
    struct Heatmaps: Decodable {
        struct Result: Decodable {
            var `class`: Int
            var method: String
            var layer: String
            var heatmap: [Float]
        }
        var results: [Result]
    }

    static let probe = Fixtures.path("cli/chelsea.png")

    @Test(arguments: ["gradcam", "gradcam++", "layercam"])
    func methodMatchesPytorchGradCAM(method: String) throws {
        let file = try HDF5File.open(Fixtures.path("methods/residual_layer2.h5"))
        let classIndex = try #require(try file.attributes(at: "/")["class"]?.intValue)
        let out = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try CommandRunner.run(["explain", Self.probe, "--weights", CLITests.weights, "--input-size", "40",
                                         "--layer", "layer2", "--class", "\(classIndex)", "--method", method, "--json",
                                         "--out", out.path])
        #expect(run.status == 0, "\(run.stderr)")
        let result = try #require(try JSONDecoder().decode(Heatmaps.self, from: Data(run.stdout.utf8)).results.first)
        #expect(result.method == method && result.layer == "layer2.0.relu2" && result.class == Int(classIndex))
        let expected = try file.readFloats(at: method).values
        #expect(pearson(result.heatmap, expected) >= 0.999)
        #expect(maxAbsoluteDifference(result.heatmap, expected) <= 1e-3)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("chelsea-\(method).png").path))
    }

    @Test func unknownMethodIsRefusedWithTheList() throws {
        let run = try CommandRunner.run(["explain", Self.probe, "--weights", CLITests.weights, "--method", "gradcam3"])
        #expect(run.status != 0 && run.status < 128)
        #expect(run.stderr.contains("gradcam3") && run.stderr.contains("scorecam"))
        #expect(!run.stderr.contains("Fatal error"))
    }
}
