import CamwatchCheckpoint
import CamwatchImage
@testable import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// The heatmap metrics through the monitor: computed per probe on the sample run's real checkpoints, kept in
/// report.json, written to camwatch.prom, shown as `camwatch report` columns and in the verdict.
@Suite(.serialized) struct HeatmapMetricsMonitorTests {
    /// A report whose two processed checkpoints carry metrics: energy falls from 0.5 to 0.3 on `cat`, `dog`
    /// has no box.
    static func report() -> Report {
        var report = sampleReport(drifts: [nil, 0.2, 0.1])
        let cat = [0.5, 0.4, 0.3]
        for index in report.checkpoints.indices {
            var m = Report.ProbeMetrics(HeatmapMetrics(energy: cat[index]), boxArea: 0.25)
            m.drop = 0.25
            m.increase = index == 2
            var dog = Report.ProbeMetrics(HeatmapMetrics())
            dog.drop = 0.5
            dog.increase = false
            report.checkpoints[index].metrics = Report.CheckpointMetrics(perProbe: ["cat": m, "dog": dog])
        }
        return report
    }

    /// The means over probes add in probe-id order, whatever order the dictionary keeps: a dictionary's order
    /// changes with its capacity and from process to process, and with it the last digit of report.json's means.
    /// The energies are picked so that the order of the additions shows in the result.
    @Test func meansAddInProbeOrder() {
        // 40 probes: about three in four orders of these additions give another last digit than id order.
        var energies: [String: Double] = [:]
        for i in 0..<40 {
            let id = "probe-" + (i < 10 ? "0" : "") + String(i)
            energies[id] = Double((i * 7919) % 97) / 97 + 1e-3 * Double(i)
        }
        let inIDOrder = energies.sorted { $0.key < $1.key }.map(\.value).reduce(0, +) / Double(energies.count)
        for capacity in [0, 8, 16, 64, 256, 1024] {
            var perProbe: [String: Report.ProbeMetrics] = [:]
            perProbe.reserveCapacity(capacity)
            for (id, energy) in energies { perProbe[id] = Report.ProbeMetrics(HeatmapMetrics(energy: energy)) }
            #expect(Report.CheckpointMetrics(perProbe: perProbe).energy == inIDOrder, "capacity \(capacity)")
        }
    }

    @Test func meansSkipProbesWithoutTheMetricAndDropIsInPercent() throws {
        let metrics = try #require(Self.report().checkpoints[2].metrics)
        expectClose(try #require(metrics.energy), 0.3)
        expectClose(try #require(metrics.averageDrop), 37.5)
        expectClose(try #require(metrics.increaseInConfidence), 50)
        #expect(metrics.deletion == nil && metrics.insertion == nil)
    }

    @Test func reportJSONKeepsMetricsWithExplicitNullsAndReadsOldReports() throws {
        let report = Self.report()
        let bytes = try report.jsonBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"average_drop\" : 37.5"))
        #expect(text.contains("\"deletion\" : null"))
        #expect(text.contains("\"box_area\" : 0.25"))
        #expect(try Report.decode(bytes) == report)
        // A report written before metrics existed has none.
        var old = report
        for index in old.checkpoints.indices { old.checkpoints[index].metrics = nil }
        let stripped = String(decoding: try old.jsonBytes(), as: UTF8.self).replacingOccurrences(of: "\"metrics\" : null,", with: "")
        #expect(!stripped.contains("\"metrics\""))
        #expect(try Report.decode(Array(stripped.utf8)).checkpoints.allSatisfy { $0.metrics == nil })
    }

    @Test func prometheusHasEnergyPerProbeAndTheMeans() {
        let text = PrometheusTextfile.render(Self.report(), jobName: "j")
        #expect(text.contains("# TYPE camwatch_heatmap_energy_ratio gauge\n"))
        #expect(text.contains("camwatch_heatmap_energy_ratio{job_name=\"j\",probe=\"all\"} 0.3\n"))
        #expect(text.contains("camwatch_heatmap_energy_ratio{job_name=\"j\",probe=\"cat\"} 0.3\n"))
        #expect(!text.contains("camwatch_heatmap_energy_ratio{job_name=\"j\",probe=\"dog\"}"))
        #expect(text.contains("camwatch_heatmap_average_drop_percent{job_name=\"j\"} 37.5\n"))
        #expect(text.contains("camwatch_heatmap_increase_in_confidence_percent{job_name=\"j\"} 50.0\n"))
        #expect(text.contains("camwatch_heatmap_confidence_drop_ratio{job_name=\"j\",probe=\"dog\"} 0.5\n"))
        #expect(!text.contains("deletion"))
        // Without metrics, no family at all.
        #expect(!PrometheusTextfile.render(sampleReport(drifts: [nil, 0.1]), jobName: "j").contains("camwatch_heatmap"))
    }

    @Test func reportTableHasMetricColumnsAndTheVerdictSaysWhereSaliencySits() throws {
        let report = Self.report()
        let (cells, numeric) = ReportRenderer.rows(report)
        let header = cells[0]
        #expect(header.suffix(3) == ["energy %", "avg drop %", "increase %"])
        #expect(cells[3].suffix(3) == ["30.0", "37.5", "50.0"])
        #expect(numeric.count == header.count)
        let verdict = ReportRenderer.verdict(for: report)
        #expect(verdict.contains(
            "Where saliency sits now: 30 % of heatmap energy on the objects (they cover 25 % of the images); "
                + "Average Drop 38 %, Increase in Confidence 50 %; cat is barely on its object (30 % of its heatmap on a box covering 25 % of the image)."))
        #expect(!ReportRenderer.verdict(for: report, metrics: false).contains("energy"))
        #expect(!ReportRenderer.verdict(for: sampleReport(drifts: [nil, 0.1])).contains("Where saliency"))
    }

    /// The pipeline computes each probe's metrics on its own Score-CAM heatmap, with the box scaled from the
    /// image to the input; a probe without a box gets no energy, a box larger than the image holds everything.
    @Test func pipelineComputesMetricsOnEachProbesHeatmap() throws {
        var probes = try MonitorSessionTests.probes()
        probes.probes[0].description.bbox = [-10, -10, 1000, 1000]
        probes.probes[1].description.bbox = nil
        let path = MonitorSessionTests.root.appendingPathComponent("Checkpoints/epoch-024.h5").path
        let checkpoint = try CheckpointLoader.load(path: path)
        let bound = try ArchitectureSource.automatic.network(for: checkpoint, path: path)
        var preprocessing = Preprocessing()
        preprocessing.height = 48  // not the probes' 64: the box must follow the stretch
        preprocessing.width = 40
        let analysis = try CheckpointAnalysis.run(
            network: bound.network, probes: probes, layer: nil, preprocessing: preprocessing,
            options: ScoreCAM.Options(threads: 1), metrics: MetricSettings(metrics: [.energy, .drop, .deletion], step: 100))
        let metrics = try #require(analysis.metrics)
        #expect(metrics.step == 100)
        let first = try #require(metrics.perProbe["probe-00-circle"])
        #expect(first.energy == 1 && first.boxArea == 1)
        let second = try #require(metrics.perProbe["probe-09-ring-clutter"])
        #expect(second.energy == nil && second.boxArea == nil)
        // The same numbers as the library on that probe's heatmap.
        let probe = probes.probes[1]
        let input = preprocessing.tensor(from: [probe.image])
        let map = try ScoreCAM(network: bound.network).explain(input, classIndex: probe.description.classIndex)
        let change = try Faithfulness.confidenceChange(
            network: bound.network, input: input, heatmap: map.values, classIndex: map.classIndex)
        expectClose(try #require(second.drop), change.drop, tolerance: 1e-6)
        let deletion = try Faithfulness.causalCurve(
            .deletion, network: bound.network, input: input, heatmap: map.values, classIndex: map.classIndex, step: 100)
        #expect(deletion.scores.count == (48 * 40 + 99) / 100 + 1)
        expectClose(try #require(second.deletion), deletion.area, tolerance: 1e-6)
        #expect(second.insertion == nil)
    }

    @Test func energyOnlyWithoutBoxesGivesNoMetrics() throws {
        var probes = try MonitorSessionTests.probes()
        for index in probes.probes.indices { probes.probes[index].description.bbox = nil }
        let path = MonitorSessionTests.root.appendingPathComponent("Checkpoints/epoch-001.h5").path
        let checkpoint = try CheckpointLoader.load(path: path)
        let network = try ArchitectureSource.automatic.network(for: checkpoint, path: path).network
        var preprocessing = Preprocessing()
        (preprocessing.height, preprocessing.width) = (64, 64)
        let analysis = try CheckpointAnalysis.run(
            network: network, probes: probes, layer: nil, preprocessing: preprocessing,
            options: ScoreCAM.Options(threads: 1), metrics: MetricSettings(metrics: [.energy]))
        #expect(analysis.metrics == nil)
    }
}
