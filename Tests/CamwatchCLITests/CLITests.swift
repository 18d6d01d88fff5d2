import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// The real `camwatch` binary on PNG probes, against PyTorch and pytorch-grad-cam references
/// (Scripts/fixtures/make_cli_fixtures.py).
@Suite struct CLITests {
    struct Reference: Decodable {
        var logits: [Float]
        var `class`: Int
        var layer: String
        var heatmap: [Float]
    }

    struct Predictions: Decodable {
        struct Result: Decodable {
            var image: String
            var `class`: Int
            var score: Float
            var logits: [Float]
        }
        var results: [Result]
    }

    struct Heatmaps: Decodable {
        struct Result: Decodable {
            var image: String
            var `class`: Int
            var width: Int
            var height: Int
            var heatmap: [Float]
        }
        var results: [Result]
    }

    static let weights = Fixtures.path("nets/residual.h5")
    static let probes = ["coffee.png", "chelsea.png"].map { Fixtures.path("cli/\($0)") }

    static func references() throws -> [String: Reference] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("cli/reference.json")))
        return try JSONDecoder().decode([String: Reference].self, from: data)
    }

    @Test func predictMatchesPyTorchFromThePNG() throws {
        let run = try CommandRunner.run(["predict"] + Self.probes + ["--weights", Self.weights, "--input-size", "40", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let output = try JSONDecoder().decode(Predictions.self, from: Data(run.stdout.utf8))
        let references = try Self.references()
        #expect(output.results.count == 2)
        for result in output.results {
            let reference = try #require(references[URL(fileURLWithPath: result.image).lastPathComponent])
            #expect(maxAbsoluteDifference(result.logits, reference.logits) <= 1e-3)
            #expect(result.class == reference.class)
            #expect(result.score > 0 && result.score <= 1)
        }
    }

    @Test func predictPrintsTopFiveAsText() throws {
        let run = try CommandRunner.run(["predict", Self.probes[0], "--weights", Self.weights, "--input-size", "40"])
        #expect(run.status == 0)
        let reference = try #require(try Self.references()["coffee.png"])
        #expect(run.stdout.hasPrefix("\(Self.probes[0]): \(reference.class) ("))
        #expect(run.stdout.split(separator: "(").count == 6)
    }

    @Test func explainMatchesPytorchGradCAM() throws {
        let out = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try CommandRunner.run(["explain"] + Self.probes + ["--weights", Self.weights, "--input-size", "40",
                                                                    "--layer", "layer2", "--json", "--out", out.path])
        #expect(run.status == 0, "\(run.stderr)")
        let output = try JSONDecoder().decode(Heatmaps.self, from: Data(run.stdout.utf8))
        let references = try Self.references()
        for result in output.results {
            let name = URL(fileURLWithPath: result.image).lastPathComponent
            let reference = try #require(references[name])
            #expect(result.width == 40 && result.height == 40 && result.class == reference.class)
            #expect(pearson(result.heatmap, reference.heatmap) >= 0.999)
            #expect(maxAbsoluteDifference(result.heatmap, reference.heatmap) <= 1e-3)
            let png = out.appendingPathComponent(name.replacingOccurrences(of: ".png", with: "-scorecam.png"))
            let bytes = try Data(contentsOf: png)
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        }
    }

    @Test func inspectListsTensorsLayersAndTargets() throws {
        let run = try CommandRunner.run(["inspect", Self.weights, "--input-size", "40"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("layer2.0.conv1.weight  [32, 16, 3, 3]  float32"))
        #expect(run.stdout.contains("** layer2.0.relu2  relu  [1, 32, 10, 10]"))
        #expect(run.stdout.contains("* ") && run.stdout.contains("fc  linear  [1, 7]"))
    }
}

/// Bad input: one line on stderr naming the file and the reason, a non-zero status, never a crash.
@Suite struct CLIBadInputTests {
    static let weights = CLITests.weights
    static let probe = CLITests.probes[0]

    static func expectCleanFailure(_ arguments: [String], mentions: [String]) throws {
        let run = try CommandRunner.run(arguments)
        #expect(run.status != 0 && run.status < 128, "status \(run.status)")
        #expect(run.stderrLines.count == 1, "stderr: \(run.stderr)")
        for text in mentions { #expect(run.stderr.contains(text), "stderr: \(run.stderr) lacks \(text)") }
        #expect(!run.stderr.contains("Fatal error") && !run.stderr.contains("Stack dump"))
    }

    static func damaged(_ transform: (inout Data) -> Void) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: weights))
        transform(&data)
        let url = try Fixtures.temporaryDirectory().appendingPathComponent("damaged.h5")
        try data.write(to: url)
        return url.path
    }

    /// On whatever CPU runs the tests, and whatever OPENBLAS_CORETYPE the environment sets, the BLAS ends up with
    /// kernels as wide as the CPU's vectors (the start-up check restarts the process with OPENBLAS_CORETYPE when
    /// the library picked narrower ones), and a core the user asks to keep is kept.
    @Test func blasRunsKernelsForTheWidestVectors() throws {
        struct Machine: Decodable {
            var vectors: String
            var blasCore: String
            var blasCoreVectors: String
            var note: String?
        }
        let order = ["SSE3", "AVX", "AVX2+FMA", "AVX-512"]
        for environment in [[:], ["OPENBLAS_CORETYPE": "Prescott"]] {
            let run = try CommandRunner.run(["bench", "cpu", "--json"], environment: environment)
            #expect(run.status == 0, "\(run.stderr)")
            let machine = try JSONDecoder().decode(Machine.self, from: Data(run.stdout.utf8))
            if let cpu = order.firstIndex(of: machine.vectors), let blas = order.firstIndex(of: machine.blasCoreVectors) {
                #expect(blas >= cpu, "\(environment): \(run.stdout)")
            }
            if !environment.isEmpty, machine.vectors != "SSE3" {
                #expect(machine.note?.contains("(OPENBLAS_CORETYPE=Prescott is set): restarted") == true, "\(run.stdout)")
            }
        }
        let pinned = try CommandRunner.run(
            ["bench", "cpu", "--json"],
            environment: ["OPENBLAS_CORETYPE": "Prescott", "CAMWATCH_KEEP_OPENBLAS_CORETYPE": "1"])
        let kept = try JSONDecoder().decode(Machine.self, from: Data(pinned.stdout.utf8))
        #expect(kept.blasCore == "Prescott", "\(pinned.stdout)")
        if kept.vectors != "SSE3" {
            #expect(kept.note?.hasSuffix("OPENBLAS_CORETYPE=Prescott is kept, as CAMWATCH_KEEP_OPENBLAS_CORETYPE asks") == true)
        }
    }

    /// camwatch's own kernels run at the CPU's widest vectors by default, and `CAMWATCH_VECTOR_KERNELS` narrows
    /// them (never widens).
    @Test func ownKernelsRunTheCPUsWidestVectors() throws {
        struct Machine: Decodable {
            var vectors: String
            var kernels: String
        }
        let widest = ["AVX-512": "AVX-512 (16 lanes)", "AVX2+FMA": "AVX2 (8 lanes)"]
        let run = try CommandRunner.run(["bench", "cpu", "--json"], environment: ["CAMWATCH_VECTOR_KERNELS": ""])
        #expect(run.status == 0, "\(run.stderr)")
        let machine = try JSONDecoder().decode(Machine.self, from: Data(run.stdout.utf8))
        #expect(machine.kernels == widest[machine.vectors, default: "SSE (4 lanes)"], "\(run.stdout)")
        let narrowed = try CommandRunner.run(["bench", "cpu", "--json"], environment: ["CAMWATCH_VECTOR_KERNELS": "sse"])
        #expect(try JSONDecoder().decode(Machine.self, from: Data(narrowed.stdout.utf8)).kernels == "SSE (4 lanes)")
    }

    @Test func missingWeightsFile() throws {
        try Self.expectCleanFailure(["predict", Self.probe, "--weights", "/nonexistent/w.h5"], mentions: ["/nonexistent/w.h5"])
    }

    @Test(arguments: ["empty", "random", "truncated", "header-flip", "data-flip"])
    func damagedCheckpoint(kind: String) throws {
        let path = try Self.damaged { data in
            switch kind {
            case "empty": data = Data()
            case "random":
                // Seeded: a failure names bytes that can be made again.
                var generator = SeededGenerator(seed: 0x5EED)
                data = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
            case "truncated": data = data.prefix(data.count / 2)
            case "header-flip": data[8] ^= 0xFF
            default:
                // Flip bytes in the object headers / B-tree region after the superblock.
                for offset in stride(from: 96, to: min(data.count, 2048), by: 7) { data[offset] ^= 0x5A }
            }
        }
        try Self.expectCleanFailure(["predict", Self.probe, "--weights", path, "--input-size", "40"], mentions: [path])
    }

    @Test func weightsOfAnotherArchitecture() throws {
        try Self.expectCleanFailure(["predict", Self.probe, "--weights", Self.weights, "--arch", "resnet18"],
                                    mentions: [Self.weights, "missing tensor", "unexpected tensor"])
    }

    @Test func unreadablePNG() throws {
        let url = try Fixtures.temporaryDirectory().appendingPathComponent("broken.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]).write(to: url)
        try Self.expectCleanFailure(["predict", url.path, "--weights", Self.weights], mentions: [url.path])
        try Self.expectCleanFailure(["predict", "/nonexistent/p.png", "--weights", Self.weights], mentions: ["/nonexistent/p.png"])
    }

    @Test func unknownLayerListsCandidates() throws {
        try Self.expectCleanFailure(["explain", Self.probe, "--weights", Self.weights, "--input-size", "40", "--layer", "layer9",
                                     "--json"], mentions: ["no layer named 'layer9'", "layer2.0.relu2"])
    }

    @Test func classOutOfRange() throws {
        try Self.expectCleanFailure(["explain", Self.probe, "--weights", Self.weights, "--input-size", "40", "--class", "99",
                                     "--json"], mentions: ["class 99 is out of range", "7 classes"])
    }

    @Test func nonSpatialLayer() throws {
        try Self.expectCleanFailure(["explain", Self.probe, "--weights", Self.weights, "--input-size", "40", "--layer", "fc",
                                     "--json"], mentions: ["no spatial output"])
    }

    @Test func unknownArchitecture() throws {
        try Self.expectCleanFailure(["predict", Self.probe, "--weights", Self.weights, "--arch", "resnet9000"],
                                    mentions: ["unknown architecture 'resnet9000'"])
    }

    @Test func badModelSpecFile() throws {
        let url = try Fixtures.temporaryDirectory().appendingPathComponent("model.json")
        try Data(#"{"name": "x", "layers": [{"name": "a", "op": "warp"}]}"#.utf8).write(to: url)
        try Self.expectCleanFailure(["predict", Self.probe, "--weights", Self.weights, "--model", url.path],
                                    mentions: ["unknown op 'warp'"])
    }
}
