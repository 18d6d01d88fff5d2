public import CamwatchCharts
import CamwatchImage
import CamwatchMonitor
import Foundation
public import Testing

/// Reports, heatmap archives and probe images built in code for the chart tests.
enum ChartFixtures {
    /// A run of `processed` ok checkpoints (epochs 1, 2, …) with drift falling by 30 % per checkpoint
    /// from `firstDrift`, fed through a real `ConvergenceTracker`; `failedAfter` lists the processed
    /// positions after which a failed checkpoint is inserted.
    static func report(
        probes: Int, processed: Int, failedAfter: Set<Int> = [], firstDrift: Double = 0.3, threshold: Double = 0.02,
        patience: Int = 3, labels: Bool = true, epochs: Bool = true
    ) -> Report {
        let probeList = (0..<probes).map { n in
            Report.Probe(
                id: "probe-\(String(format: "%02d", n))-shape", file: "p\(n).png", classIndex: labels ? n % 3 : nil,
                label: labels ? ["circle", "square", "triangle"][n % 3] : nil)
        }
        var tracker = ConvergenceTracker(threshold: threshold, patience: patience)
        var report = Report(
            model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [56, 56]), probes: probeList)
        for k in 0..<processed {
            let mean = k == 0 ? nil : firstDrift * pow(0.7, Double(k - 1))
            let drift = mean.map { value in
                CheckpointDrift(
                    perProbe: Dictionary(
                        uniqueKeysWithValues: probeList.enumerated().map { n, probe in
                            // Spread around the mean so the max line sits above it.
                            let spread = value * (n.isMultiple(of: 2) ? 0.6 : 1.4)
                            return (probe.id, DriftMetrics(drift: probes == 1 ? value : spread, l1: 0, iou: 1))
                        }))
            }
            let label = CheckpointLabel(id: "id-\(k)", name: "ckpt-\(String(format: "%03d", k + 1)).h5")
            _ = tracker.update(checkpoint: label, status: .ok, drift: drift??.mean)
            report.record(
                Report.CheckpointEntry(
                    name: label.name, id: label.id, step: (k + 1) * 100, epoch: epochs ? k + 1 : nil, status: .ok,
                    seconds: 1, processedAt: Double(k), drift: drift ?? nil, state: tracker.state))
            if failedAfter.contains(k) {
                report.record(
                    Report.CheckpointEntry(
                        name: "broken-\(k).h5", id: "failed-\(k)", step: (k + 1) * 100 + 50,
                        epoch: epochs ? k + 1 : nil, status: .failed, error: "broken-\(k).h5: truncated",
                        seconds: 0, processedAt: Double(k), state: tracker.state))
            }
        }
        report.convergence = tracker
        return report
    }

    /// A 7×7 heatmap: a Gaussian blob centred at (`row`, `column`), values in [0, 1].
    static func blob(row: Double, column: Double, inputSize: [Int] = [56, 56]) -> HeatmapArchive.Heatmap {
        var values = [Float](repeating: 0, count: 49)
        for y in 0..<7 {
            for x in 0..<7 {
                let d2 = (Double(y) - row) * (Double(y) - row) + (Double(x) - column) * (Double(x) - column)
                values[y * 7 + x] = Float(exp(-d2 / 2))
            }
        }
        return HeatmapArchive.Heatmap(classIndex: 0, score: 1, shape: [7, 7], values: values, inputSize: inputSize)
    }

    /// Heatmaps for every ok checkpoint and probe of `report`: the blob walks across the map with the
    /// checkpoint, and each probe starts elsewhere, so no two neighbouring cells are alike.
    static func archive(for report: Report) -> HeatmapArchive {
        var archive = HeatmapArchive()
        for (k, entry) in report.checkpoints.filter({ $0.status == .ok }).enumerated() {
            var heatmaps: [String: HeatmapArchive.Heatmap] = [:]
            for (n, probe) in report.probes.enumerated() {
                let t = Double(k) / 4 + Double(n)
                heatmaps[probe.id] = blob(row: 3 + 2.5 * sin(t), column: 3 + 2.5 * cos(t))
            }
            archive.record(HeatmapArchive.Entry(checkpoint: entry.label, heatmaps: heatmaps))
        }
        return archive
    }

    /// A `width × height` mid-grey probe image with a dark square in the middle.
    static func probeImage(width: Int = 64, height: Int = 48) -> RGBImage {
        var pixels = [Float](repeating: 170, count: width * height * 3)
        for y in (height / 4)..<(3 * height / 4) {
            for x in (width / 4)..<(3 * width / 4) {
                for c in 0..<3 { pixels[(y * width + x) * 3 + c] = 40 }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The same probe image for every probe of `report`.
    static func probeImages(for report: Report) -> [String: RGBImage] {
        Dictionary(uniqueKeysWithValues: report.probes.map { ($0.id, probeImage()) })
    }
}

// A failed expectation shows the picture's size, not its hundreds of thousands of bytes.
extension Picture: CustomTestStringConvertible {
    public var testDescription: String { "\(width)x\(height) picture" }
}

extension Picture {
    /// The `[red, green, blue]` bytes of the pixel at (`x`, `y`).
    func rgb(x: Int, y: Int) -> [UInt8] {
        let p = (y * width + x) * 4
        return Array(rgba[p..<(p + 3)])
    }

    /// The RGB bytes of a rectangle, row by row.
    func region(x: Int, y: Int, width w: Int, height h: Int) -> [UInt8] {
        var out: [UInt8] = []
        for row in y..<(y + h) {
            for column in x..<(x + w) { out += rgb(x: column, y: row) }
        }
        return out
    }

    /// How many pixels of a rectangle have every channel below `limit`: text and lines (antialiased
    /// text on white has a dark core and lighter edges).
    func darkPixels(x: Int, y: Int, width w: Int, height h: Int, below limit: UInt8 = 100) -> Int {
        var count = 0
        for row in y..<(y + h) {
            for column in x..<(x + w) where rgb(x: column, y: row).allSatisfy({ $0 < limit }) { count += 1 }
        }
        return count
    }
}

/// The largest difference between two equally long byte arrays (`Int.max` when their lengths differ).
func largestDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    guard a.count == b.count else { return .max }
    return zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
}

/// The population variance of some bytes.
func variance(_ bytes: [UInt8]) -> Double {
    guard !bytes.isEmpty else { return 0 }
    let mean = bytes.reduce(0.0) { $0 + Double($1) } / Double(bytes.count)
    return bytes.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(bytes.count)
}

extension ChartFixtures {
    /// A run judged by the relative rule (a real `ConvergenceTracker`): mean drift `drifts[k]` at checkpoint
    /// k + 2 (the first has none), each entry carrying the tracker's reading, and `lr` / `val_acc` attributes
    /// when given.
    static func relativeReport(drifts: [Double], lr: [Double]? = nil, valAcc: [Double]? = nil) -> Report {
        let probe = Report.Probe(id: "probe-00", file: "p0.png", classIndex: 0)
        var tracker = ConvergenceTracker(rule: ConvergenceRule(mode: .relative))
        var report = Report(model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [56, 56]), probes: [probe])
        for k in 0...drifts.count {
            let mean = k == 0 ? nil : drifts[k - 1]
            let drift = mean.map { CheckpointDrift(perProbe: [probe.id: DriftMetrics(drift: $0, l1: 0, iou: 1)]) } ?? nil
            let label = CheckpointLabel(id: "id-\(k)", name: "ckpt-\(k + 1).h5")
            _ = tracker.update(checkpoint: label, status: .ok, drift: drift?.mean)
            var attributes: [String: Report.AttributeValue] = [:]
            if let lr, k < lr.count { attributes["lr"] = .number(lr[k]) }
            if let valAcc, k < valAcc.count { attributes["val_acc"] = .number(valAcc[k]) }
            report.record(
                Report.CheckpointEntry(
                    name: label.name, id: label.id, step: (k + 1) * 10, epoch: k + 1, status: .ok, seconds: 1,
                    processedAt: Double(k), drift: drift, state: tracker.state,
                    convergence: mean == nil ? nil : tracker.reading, attributes: attributes))
        }
        report.convergence = tracker
        return report
    }
}
