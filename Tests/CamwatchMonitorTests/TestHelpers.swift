import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import Foundation
import Testing

/// `|actual − expected| ≤ tolerance`, with both values in the failure message.
func expectClose(
    _ actual: Double, _ expected: Double, tolerance: Double = 1e-12, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        abs(actual - expected) <= tolerance, "\(actual) vs \(expected) (tolerance \(tolerance))",
        sourceLocation: sourceLocation)
}

/// A fresh temporary directory, removed at the end of the test by the caller's `defer`.
func temporaryDirectory() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("camwatch-monitor-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The names in a directory, sorted.
func listing(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

func label(_ n: Int) -> CheckpointLabel {
    CheckpointLabel(id: "id-\(n)", name: "ckpt_\(n).h5")
}

/// A small report: probes `cat` and `dog`, checkpoints with the given mean drifts (first `nil`), fed
/// through a tracker so states agree with the convergence object.
func sampleReport(drifts: [Double?], failedAt: Set<Int> = [], threshold: Double = 0.05, patience: Int = 2) -> Report {
    var report = Report(
        model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [224, 224]),
        probes: [
            Report.Probe(id: "cat", file: "cat.png", classIndex: 281, label: "tabby", bbox: [10, 20, 200, 210]),
            Report.Probe(id: "dog", file: "dog.png"),
        ],
        convergence: ConvergenceTracker(threshold: threshold, patience: patience, hysteresis: 2))
    for (index, mean) in drifts.enumerated() {
        let failed = failedAt.contains(index)
        let drift = mean.flatMap { m -> CheckpointDrift? in
            CheckpointDrift(perProbe: [
                "cat": DriftMetrics(drift: m * 0.5, l1: 0.01, iou: 0.9),
                "dog": DriftMetrics(drift: m * 1.5, l1: 0.02, iou: 0.8),
            ])
        }
        _ = report.convergence.update(checkpoint: label(index), status: failed ? .failed : .ok, drift: drift?.mean)
        report.record(
            Report.CheckpointEntry(
                name: label(index).name, id: label(index).id, step: 100 * index, epoch: index,
                status: failed ? .failed : .ok,
                error: failed ? "/runs/a/ckpt_\(index).h5: truncated HDF5 file (10 bytes, header says 20)" : nil,
                seconds: 1.5, processedAt: 1_700_000_000 + Double(index),
                predictions: failed ? [:] : ["cat": Report.Prediction(classIndex: 281, score: 9.5)],
                drift: failed ? nil : drift, weightDrift: failed || index == 0 ? nil : 0.01,
                state: report.convergence.state,
                attributes: failed
                    ? [:] : ["val_acc": .number(0.5 + 0.01 * Double(index)), "epoch": .number(Double(index))]))
    }
    return report
}

/// Loads a checkpoint with its own architecture and explains `probes` at its spec's input size, as the daemon
/// does (one thread): the checkpoint, the analysis (with the architecture's name) and a label `id-<epoch>`.
func analyzeCheckpoint(at path: String, epoch: Int, probes: ProbeSet) throws
    -> (Checkpoint, CheckpointAnalysis, CheckpointLabel)
{
    let checkpoint = try CheckpointLoader.load(path: path)
    let bound = try ArchitectureSource.automatic.network(for: checkpoint, path: path)
    var preprocessing = Preprocessing()
    preprocessing.height = bound.spec.inputSize?.height ?? 0
    preprocessing.width = bound.spec.inputSize?.width ?? 0
    var analysis = try CheckpointAnalysis.run(
        network: bound.network, probes: probes, layer: nil, preprocessing: preprocessing,
        options: ScoreCAM.Options(threads: 1))
    analysis.architecture = bound.spec.name
    return (checkpoint, analysis, CheckpointLabel(id: "id-\(epoch)", name: "epoch-\(epoch).h5"))
}
