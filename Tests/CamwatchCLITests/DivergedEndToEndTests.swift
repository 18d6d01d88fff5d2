import CamwatchTestSupport
import Foundation
import Testing

/// A checkpoint whose weights went NaN, as `camwatch watch` meets it: the run is `diverged` — never still
/// "converged" — in every output, and the next finite checkpoint leaves that state.
@Suite struct DivergedEndToEndTests {
    @Test func aCheckpointWithNaNWeightsMakesTheRunDiverged() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-diverged")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        try WatchEndToEndTests.copySample(["epoch-001.h5", "epoch-002.h5"], to: checkpoints)
        // Epoch 3 of the sample with one NaN in fc.weight, written by h5py as a trainer would.
        let nan = checkpoints.appendingPathComponent("epoch-003.h5").path
        let write = try ExternalTools.run(WatchEndToEndTests.python, [
            "-c",
            """
            import h5py, shutil, sys
            shutil.copy(sys.argv[1], sys.argv[2])
            with h5py.File(sys.argv[2], "r+") as f:
                w = f["fc.weight"][...]
                w[0, 0] = float("nan")
                f["fc.weight"][...] = w
            """,
            "\(WatchEndToEndTests.sampleCheckpoints)/epoch-003.h5", nan,
        ])
        #expect(write.status == 0, "\(write.stderr)")
        let config = root.appendingPathComponent("camwatch.yaml")
        try "score_cam: {threads: 1}\nresources: {priority: normal}\njob_name: nan\n".write(
            to: config, atomically: true, encoding: .utf8)
        let arguments = [
            "watch", checkpoints.path, "--probes", try WatchEndToEndTests.probes(in: root), "--out", out.path,
            "--config", config.path, "--once",
        ]
        let watch = try CommandRunner.run(arguments)
        #expect(watch.stderr.contains("training diverged at epoch-003.h5"), "\(watch.stderr)")
        let entries = WatchEndToEndTests.entries(out)
        #expect(entries.map { $0["state"] as? String } == ["warming-up", "changing", "diverged"])
        #expect(entries.last?["diverged"] as? Bool == true && entries[0]["diverged"] is NSNull)
        let check = try CommandRunner.run(["report", out.path, "--check"])
        #expect(check.status == 2)
        #expect(check.stdout.hasPrefix("Verdict: diverged at epoch-003.h5 (epoch 3)") || check.stdout.hasPrefix(
            "Verdict: diverged at epoch-003.h5:"), "\(check.stdout)")
        let prom = try String(contentsOf: out.appendingPathComponent("camwatch.prom"), encoding: .utf8)
        #expect(prom.contains("camwatch_convergence_state{job_name=\"nan\",state=\"diverged\"} 1\n"))
        #expect(prom.contains("camwatch_saliency_converged{job_name=\"nan\"} 0\n"))

        // Finite weights again: the run leaves `diverged`.
        try FileManager.default.copyItem(
            atPath: "\(WatchEndToEndTests.sampleCheckpoints)/epoch-004.h5",
            toPath: checkpoints.appendingPathComponent("epoch-004.h5").path)
        let again = try CommandRunner.run(arguments)
        #expect(again.stderr.contains("finite weights again at epoch-004.h5"), "\(again.stderr)")
        #expect(WatchEndToEndTests.entries(out).last?["state"] as? String == "changing")
    }
}
