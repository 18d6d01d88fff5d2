import CamwatchTestSupport
import Foundation
import Testing

/// deploy/camwatch.example.yaml is safe to copy. Filled in as deploy/README.md says (the
/// checkpoint, probe and output directories), it starts and processes a run whose checkpoints describe
/// themselves, without overriding what they say.
@Suite(.serialized) struct ExampleConfigTests {
    static let example = Fixtures.packageRoot.appendingPathComponent("deploy/camwatch.example.yaml")

    /// The example with only `checkpoints:`, `probes:` and `out:` changed.
    static func filledIn(checkpoints: String, probes: String, out: String) throws -> String {
        let values = ["checkpoints": checkpoints, "probes": probes, "out": out]
        var replaced: Set<String> = []
        let lines = try String(contentsOf: example, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map { line -> String in
                for (key, value) in values where line.hasPrefix("\(key): ") {
                    replaced.insert(key)
                    return "\(key): \(value)"
                }
                return String(line)
            }
        #expect(replaced == Set(values.keys), "the example lacks a top-level \(Set(values.keys).subtracting(replaced))")
        return lines.joined(separator: "\n")
    }

    @Test("the example, with its three directories filled in, runs a sample checkpoint as the checkpoint describes it")
    func theExampleRunsAsCopied() throws {
        let scratch = try WatchStartupTests.Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        let config = scratch.root.appendingPathComponent("run7.yaml").path
        try Self.filledIn(checkpoints: scratch.checkpoints, probes: scratch.probes, out: scratch.out)
            .write(toFile: config, atomically: true, encoding: .utf8)
        // As the unit runs it (`camwatch watch --config FILE`), plus --once. The example's priority (idle) is
        // overridden on the command line only so that a busy test machine cannot starve the run.
        let run = try CommandRunner.run(["watch", "--config", config, "--once", "--priority", "normal"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.stderr.contains(" error "), "\(run.stderr)")
        // The sample's own camwatch_model (64 px) decides: no arch, layer or input size from the example.
        #expect(run.stderr.contains("preprocessing: 64×64 (model spec), ImageNet mean/std (default)"), "\(run.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: scratch.out).appendingPathComponent("report.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let model = try #require(report["model"] as? [String: Any])
        #expect(model["layer"] as? String == "block4.relu" && model["input_size"] as? [Int] == [64, 64])
        let checkpoints = try #require(report["checkpoints"] as? [[String: Any]])
        #expect(checkpoints.map { $0["status"] as? String } == ["ok"])
    }

    @Test("watch reads a DataParallel run and says once that the module. prefix was removed; the layer follows the input size")
    func watchReadsADataParallelRun() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-dataparallel")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        let checkpoints = root.appendingPathComponent("ckpt"), probes = root.appendingPathComponent("probes")
        try fm.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        try fm.createDirectory(at: probes, withIntermediateDirectories: true)
        for name in ["epoch-001.h5", "epoch-002.h5"] {
            try fm.copyItem(atPath: Fixtures.path("cli/residual_dataparallel.h5"), toPath: checkpoints.appendingPathComponent(name).path)
        }
        try fm.copyItem(atPath: CLITests.probes[0], toPath: probes.appendingPathComponent("coffee.png").path)
        let out = root.appendingPathComponent("out")
        let run = try CommandRunner.run(["watch", checkpoints.path, "--probes", probes.path, "--out", out.path,
                                         "--once", "--priority", "normal", "--input-size", "16"])
        #expect(run.status == 0, "\(run.stderr)")
        let notes = run.stderrLines.filter { $0.contains("every tensor name starts with 'module.'") }
        #expect(notes.count == 1, "\(run.stderr)")
        #expect(notes.first?.contains(checkpoints.appendingPathComponent("epoch-001.h5").path) == true, "\(notes)")
        #expect(run.stderrLines.filter { $0.contains(": ok in ") }.count == 2, "\(run.stderr)")
        // At 16 px layer2 gives 4×4: the default is layer1 (8×8), said once and recorded in the report.
        let said = run.stderrLines.filter { $0.contains("preprocessing: 16×16 (flag)") }
        #expect(said.count == 1 && said.first?.hasSuffix("; layer layer1.0.relu2 (8×8 map)") == true, "\(run.stderr)")
        let data = try Data(contentsOf: out.appendingPathComponent("report.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((report["model"] as? [String: Any])?["layer"] as? String == "layer1.0.relu2")
        // A named layer with a 2×2 map at 8 px: one warning for the run.
        let coarse = try CommandRunner.run(["watch", checkpoints.path, "--probes", probes.path, "--out",
                                            root.appendingPathComponent("coarse").path, "--once", "--priority", "normal",
                                            "--input-size", "8", "--layer", "layer2"])
        #expect(coarse.status == 0, "\(coarse.stderr)")
        let warnings = coarse.stderrLines.filter { $0.contains("layer 'layer2' gives a 2×2 map at a 8×8 input") }
        #expect(warnings.count == 1 && warnings.first?.contains("warning") == true, "\(coarse.stderr)")
    }
}
