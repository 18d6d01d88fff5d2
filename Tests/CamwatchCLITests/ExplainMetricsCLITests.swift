import CamwatchHDF5
import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch explain --metrics … --bbox …`: the real binary on the Score-CAM fixture photo, against the
/// references of Scripts/fixtures/make_metric_fixtures.py (computed on pytorch-grad-cam's heatmap, which
/// camwatch's matches to ~1e-6; the 1e-4 agreement on the same heatmap is FaithfulnessReferenceTests').
@Suite struct ExplainMetricsCLITests {
    struct Output: Decodable {
        struct Metrics: Decodable {
            var energy: Double?
            var drop: Double?
            var confidence: Double?
            var explanation_confidence: Double?
            var increase: Bool?
            var deletion: Double?
            var insertion: Double?
            var box_area: Double?
        }
        struct Result: Decodable {
            var image: String
            var metrics: Metrics?
        }
        struct Summary: Decodable {
            var energy: Double?
            var average_drop: Double?
            var step: Int?
        }
        var results: [Result]
        var metrics: Summary?
    }

    static let image = Fixtures.path("cli/chelsea.png")
    static let arguments = ["explain", image, "--weights", CLITests.weights, "--input-size", "40", "--layer", "layer2",
                            "--class", "6", "--quiet"]

    @Test func jsonMetricsMatchTheReferences() throws {
        let reference = try HDF5File.open(Fixtures.path("metrics/residual_layer2.h5"))
        func value(_ name: String) throws -> Double { Double(try reference.readFloats(at: name).values[0]) }
        let box = try reference.readFloats(at: "bbox").values.map { String(Int($0)) }.joined(separator: ",")
        let run = try CommandRunner.run(
            Self.arguments + ["--metrics", "energy,drop,deletion,insertion", "--bbox", box, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let output = try JSONDecoder().decode(Output.self, from: Data(run.stdout.utf8))
        let metrics = try #require(output.results.first?.metrics)
        #expect(abs(try #require(metrics.energy) - (try value("energy"))) <= 1e-3)
        #expect(abs(try #require(metrics.confidence) - (try value("y"))) <= 1e-4)
        #expect(abs(try #require(metrics.explanation_confidence) - (try value("pgc_o"))) <= 1e-3)
        #expect(abs(try #require(metrics.drop) - (try value("drop"))) <= 1e-3)
        #expect(metrics.increase == (try value("increase") == 1))
        #expect(abs(try #require(metrics.deletion) - (try value("deletion_auc"))) <= 1e-3)
        #expect(abs(try #require(metrics.insertion) - (try value("insertion_auc"))) <= 1e-3)
        #expect(abs(try #require(metrics.box_area) - 20.0 * 19 / 1600) <= 1e-12)
        #expect(output.metrics?.step == 40)
        #expect(abs(try #require(output.metrics?.average_drop) - 100 * (try value("drop"))) <= 0.1)
    }

    @Test func textOutputNamesEachMetric() throws {
        let out = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try CommandRunner.run(Self.arguments + ["--metrics", "energy,drop", "--bbox", "8,13,28,32", "--out", out.path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\(Self.image): energy 0."))
        #expect(run.stdout.contains("(box 23.8 % of the input), drop "))
        #expect(!run.stdout.contains("deletion"))
    }

    @Test(arguments: [
        (["--metrics", "energy"], "--metrics energy needs --bbox"),
        (["--metrics", "drop,pointing"], "unknown metric 'pointing'"),
        (["--metrics", "energy", "--bbox", "1,2,3"], "--bbox must be four finite numbers"),
        (["--metrics", "energy", "--bbox", "nan,0,4,4"], "--bbox must be four finite numbers"),
        (["--metrics", "energy", "--bbox", "5,0,4,4"], "--bbox must be four finite numbers"),
        (["--metrics", "deletion", "--step", "0"], "--step must be at least 1"),
    ])
    func badMetricOptionsAreOneLineErrors(extra: [String], message: String) throws {
        let run = try CommandRunner.run(Self.arguments + extra + ["--json"])
        #expect(run.status != 0)
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }
}
