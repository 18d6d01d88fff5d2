import CamwatchTestSupport
import Foundation
import Testing

/// Every command takes the input from the checkpoint's attributes the way `watch` does,
/// says where each value came from, picks a default layer with a usable map, and reads a DataParallel state_dict.
/// Fixtures and PyTorch references: Scripts/fixtures/make_preprocessing_fixtures.py.
@Suite struct InputRuleCLITests {
    struct Reference: Decodable {
        var logits: [Float]
        var `class`: Int
    }

    static let withAttributes = Fixtures.path("cli/residual_input_attrs.h5")
    static let dataParallel = Fixtures.path("cli/residual_dataparallel.h5")

    static func references(_ name: String) throws -> [String: Reference] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("cli/\(name)")))
        return try JSONDecoder().decode([String: Reference].self, from: data)
    }

    static func logits(_ run: CommandRunner.Result) throws -> [String: [Float]] {
        let output = try JSONDecoder().decode(CLITests.Predictions.self, from: Data(run.stdout.utf8))
        return Dictionary(uniqueKeysWithValues: output.results.map { (URL(fileURLWithPath: $0.image).lastPathComponent, $0.logits) })
    }

    @Test("predict feeds the model as its checkpoint says (input_size 32, mean, std, scale, BGR): PyTorch's logits")
    func predictHonoursTheCheckpointsAttributes() throws {
        let run = try CommandRunner.run(["predict"] + CLITests.probes + ["--weights", Self.withAttributes, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let logits = try Self.logits(run)
        let references = try Self.references("input_attrs_reference.json")
        #expect(logits.count == 2)
        for (name, reference) in references {
            let ours = try #require(logits[name])
            #expect(maxAbsoluteDifference(ours, reference.logits) <= 1e-3, "\(name): \(ours) vs \(reference.logits)")
        }
        // The line says which values and where from; stdout stays JSON.
        #expect(run.stderrLines == [
            "preprocessing: 32×32 (checkpoint), mean [1.0, 0.9, 0.8], std [0.5, 0.6, 0.7] (checkpoint), "
                + "scale 1/127.5 (checkpoint), BGR (checkpoint)",
        ])
    }

    @Test("flags win over the attributes, value by value, and the line says so")
    func flagsWinOverTheAttributes() throws {
        let flags = ["--input-size", "40", "--mean", "0.485", "0.456", "0.406", "--std", "0.229", "0.224", "0.225",
                     "--scale", "0.00392156862745098", "--rgb"]
        let run = try CommandRunner.run(["predict"] + CLITests.probes + ["--weights", Self.withAttributes, "--json"] + flags)
        #expect(run.status == 0, "\(run.stderr)")
        // Every flag as the plain residual net's defaults: the default preprocessing's PyTorch reference.
        let references = try CLITests.references()
        for (name, ours) in try Self.logits(run) {
            let reference = try #require(references[name])
            #expect(maxAbsoluteDifference(ours, reference.logits) <= 1e-3, "\(name)")
        }
        #expect(run.stderr.contains("preprocessing: 40×40 (flag), mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225] (flag), scale 1/255 (flag), RGB (flag)"),
                "\(run.stderr)")
        let some = try CommandRunner.run(["predict", CLITests.probes[0], "--weights", Self.withAttributes, "--input-size", "24"])
        #expect(some.status == 0, "\(some.stderr)")
        #expect(some.stderr.contains("preprocessing: 24×24 (flag), mean [1.0, 0.9, 0.8], std [0.5, 0.6, 0.7] (checkpoint), "
            + "scale 1/127.5 (checkpoint), BGR (checkpoint)"), "\(some.stderr)")
    }

    @Test("explain and inspect follow the same rule")
    func explainAndInspectFollowTheRule() throws {
        let explained = try CommandRunner.run(["explain", CLITests.probes[0], "--weights", Self.withAttributes, "--json", "--method", "gradcam"])
        #expect(explained.status == 0, "\(explained.stderr)")
        let heatmaps = try JSONDecoder().decode(CLITests.Heatmaps.self, from: Data(explained.stdout.utf8))
        #expect(heatmaps.results.first.map { ($0.width, $0.height) } ?? (0, 0) == (32, 32))
        #expect(explained.stderr.contains("preprocessing: 32×32 (checkpoint)"), "\(explained.stderr)")
        let inspected = try CommandRunner.run(["inspect", Self.withAttributes])
        #expect(inspected.status == 0, "\(inspected.stderr)")
        #expect(inspected.stdout.contains("input [1, 3, 32, 32]") && inspected.stdout.contains("preprocessing: 32×32 (checkpoint)"),
                "\(inspected.stdout)")
        #expect(inspected.stdout.contains("** layer2.0.relu2  relu  [1, 32, 8, 8]"), "\(inspected.stdout)")
    }

    @Test("the default layer keeps a map of at least 7×7: layer1 (8×8) at 16 px, where layer2 gives 4×4")
    func defaultLayerHasAUsableMap() throws {
        let run = try CommandRunner.run(["explain", CLITests.probes[0], "--weights", CLITests.weights, "--input-size", "16",
                                         "--json", "--method", "gradcam"])
        #expect(run.status == 0, "\(run.stderr)")
        let output = try JSONDecoder().decode(LayerOnly.self, from: Data(run.stdout.utf8))
        #expect(output.results.map(\.layer) == ["layer1.0.relu2"])
        #expect(!run.stderr.contains("warning") && !run.stderr.contains("map at"), "\(run.stderr)")
        // At 40 px layer2 gives 10×10: it stays the default.
        let wide = try CommandRunner.run(["explain", CLITests.probes[0], "--weights", CLITests.weights, "--input-size", "40",
                                          "--json", "--method", "gradcam"])
        #expect(try JSONDecoder().decode(LayerOnly.self, from: Data(wide.stdout.utf8)).results.map(\.layer) == ["layer2.0.relu2"])
    }

    @Test("a named layer with a map below 4×4, and a network where no layer reaches 7×7, are warned about on stderr")
    func coarseMapsAreWarnedAbout() throws {
        let named = try CommandRunner.run(["explain", CLITests.probes[0], "--weights", CLITests.weights, "--input-size", "8",
                                           "--layer", "layer2", "--json", "--method", "gradcam"])
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stderr.contains("\(CLITests.weights): layer 'layer2' gives a 2×2 map at a 8×8 input"), "\(named.stderr)")
        let fallback = try CommandRunner.run(["explain", CLITests.probes[0], "--weights", CLITests.weights, "--input-size", "8",
                                              "--json", "--method", "gradcam"])
        #expect(fallback.status == 0, "\(fallback.stderr)")
        #expect(try JSONDecoder().decode(LayerOnly.self, from: Data(fallback.stdout.utf8)).results.map(\.layer) == ["layer2.0.relu2"])
        #expect(fallback.stderr.contains("no conv-like layer keeps a 7×7 map at a 8×8 input; the deepest, 'layer2.0.relu2', gives 2×2"),
                "\(fallback.stderr)")
    }

    @Test("a state_dict saved from nn.DataParallel (every name under module.) is read without the prefix, and said so once")
    func dataParallelPrefixIsRemoved() throws {
        let run = try CommandRunner.run(["predict"] + CLITests.probes + ["--weights", Self.dataParallel, "--input-size", "40", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let references = try CLITests.references()
        for (name, ours) in try Self.logits(run) {
            let reference = try #require(references[name])
            #expect(maxAbsoluteDifference(ours, reference.logits) <= 1e-3, "\(name)")
        }
        let notes = run.stderrLines.filter { $0.contains("module.") }
        #expect(notes == ["\(Self.dataParallel): every tensor name starts with 'module.' (saved from nn.DataParallel or "
            + "DistributedDataParallel); read without it"])
        let inspected = try CommandRunner.run(["inspect", Self.dataParallel])
        #expect(inspected.stdout.contains("  conv1.weight  [16, 3, 3, 3]  float32") && !inspected.stdout.contains("module.conv1"))
    }

    struct LayerOnly: Decodable {
        struct Result: Decodable { var layer: String }
        var results: [Result]
    }
}
