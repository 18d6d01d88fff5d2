import CamwatchTestSupport
import Foundation
import Testing

/// The built-in architectures from the command line: a mistyped name gets the closest ones, and `inspect` lists
/// the module paths `--layer` takes (what a traced torchvision model is targeted by).
@Suite struct ZooCLITests {
    @Test("an unknown --arch is one line with the closest names, exit 1")
    func unknownArchitectureSuggestsTheClosest() throws {
        let run = try CommandRunner.run(["predict", CLITests.probes[0], "--weights", InputRuleCLITests.withAttributes,
                                         "--arch", "ResNet-18"])
        #expect(run.status == 1)
        #expect(run.stderrLines.count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("unknown architecture 'ResNet-18' (did you mean resnet18"), "\(run.stderr)")
    }

    @Test("inspect lists the modules usable as a target, each with the layer it stands for and its shape")
    func inspectListsModuleTargets() throws {
        let run = try CommandRunner.run(["inspect", InputRuleCLITests.withAttributes])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("modules usable as a target") })
        #expect(Array(lines[(start + 1)...]) == [
            "  layer1 → layer1.0.relu2  [1, 16, 16, 16]",
            "  layer1.0 → layer1.0.relu2  [1, 16, 16, 16]",
            "  layer2 → layer2.0.relu2  [1, 32, 8, 8]",
            "  layer2.0 → layer2.0.relu2  [1, 32, 8, 8]",
        ])
    }
}
