import CamwatchImage
import CamwatchMonitor
import Foundation

/// A small run built in code: probes with images, processed checkpoints with drift, weight drift and a
/// stable tail, failed ones, and a heatmap archive — everything the publishers read.
struct PublishFixture {
    var report: Report
    var archive: HeatmapArchive
    var probeImages: [String: RGBImage]

    static let probeIDs = ["circle", "square-clutter", "ring"]

    /// `processed` ok checkpoints at steps 100, 200, …; a failed one after each position in `failedAfter`;
    /// checkpoints from position `stableFrom` on are `stable` (so a longer run extends a shorter one).
    static func make(processed: Int, failedAfter: Set<Int> = [], stableFrom: Int = 4, steps: Bool = true) -> PublishFixture {
        let probes = probeIDs.enumerated().map { n, id in
            Report.Probe(id: id, file: "\(id).png", classIndex: n, label: ["circle", "square", "ring"][n])
        }
        var report = Report(model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [24, 32]), probes: probes)
        var archive = HeatmapArchive()
        // Irregular values from a fixed formula, the same on every run.
        var counter = 0.0
        func next() -> Double {
            counter += 1
            return 0.5 + 0.5 * sin(counter * 1.7 + 0.3)
        }
        for k in 0..<processed {
            let label = CheckpointLabel(id: "id-\(k)", name: "ckpt-\(String(format: "%03d", k + 1)).h5")
            var heatmaps: [String: HeatmapArchive.Heatmap] = [:]
            for (n, id) in probeIDs.enumerated() {
                let values = (0..<(3 * 4)).map { _ in Float(next()) }
                heatmaps[id] = HeatmapArchive.Heatmap(
                    classIndex: n, score: Float(k), shape: [3, 4], values: values, inputSize: [24, 32])
            }
            archive.record(HeatmapArchive.Entry(checkpoint: label, heatmaps: heatmaps))
            // Values with many significant digits, so float rounding would show.
            let drift = k == 0 ? nil : CheckpointDrift(
                perProbe: Dictionary(uniqueKeysWithValues: probeIDs.map { ($0, DriftMetrics(drift: next() / Double(k), l1: 0.1, iou: 0.5)) }))
            let state: ConvergenceState = k == 0 ? .warmingUp : (k >= stableFrom ? .stable : .changing)
            report.record(
                Report.CheckpointEntry(
                    name: label.name, id: label.id, step: steps ? (k + 1) * 100 : nil, epoch: k + 1, status: .ok,
                    seconds: 1.5, processedAt: 1_800_000_000 + Double(k) * 60,
                    predictions: Dictionary(uniqueKeysWithValues: probeIDs.enumerated().map {
                        ($1, Report.Prediction(classIndex: $0, score: 2, predicted: $0, probability: 0.9))
                    }),
                    drift: drift ?? nil, weightDrift: k == 0 ? nil : 0.3 / Double(k) + 1e-9 * Double(k), state: state))
            if failedAfter.contains(k) {
                report.record(
                    Report.CheckpointEntry(
                        name: "broken-\(k).h5", id: "bad-\(k)", status: .failed,
                        error: "broken-\(k).h5: truncated HDF5 file <&> (superblock says 4096 bytes)", seconds: 0.1,
                        processedAt: 1_800_000_000 + Double(k) * 60 + 30, state: state))
            }
        }
        var images: [String: RGBImage] = [:]
        for (n, id) in probeIDs.enumerated() {
            // Different sizes from the input size, so the resize path is exercised.
            let width = 40 + 8 * n, height = 30 + 4 * n
            var pixels = [Float](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    pixels[(y * width + x) * 3] = Float((x * 255) / width)
                    pixels[(y * width + x) * 3 + 1] = Float((y * 255) / height)
                    pixels[(y * width + x) * 3 + 2] = Float(n * 100)
                }
            }
            images[id] = RGBImage(width: width, height: height, pixels: pixels)
        }
        return PublishFixture(report: report, archive: archive, probeImages: images)
    }
}
