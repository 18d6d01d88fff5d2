import ArgumentParser
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation

/// `camwatch explain --metrics energy,drop,deletion,insertion [--bbox x0,y0,x1,y1] [--step N]`.
struct ExplainMetricOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Heatmap metrics to print: energy (needs --bbox), drop (Average Drop and Increase in Confidence), deletion, insertion.",
        valueName: "list"))
    var metrics: String?

    @Option(name: .long, help: ArgumentHelp(
        "The object's box in image pixels, x1 and y1 exclusive (as bbox in probes.json), for --metrics energy.",
        valueName: "x0,y0,x1,y1"))
    var bbox: String?

    @Option(name: .long, help: "Pixels per deletion/insertion step (default: the input width).")
    var step: Int?

    var parsedMetrics: Set<HeatmapMetric> {
        (try? HeatmapMetric.parseList(metrics ?? "")) ?? []
    }

    var box: BoundingBox? {
        guard let bbox else { return nil }
        let numbers = bbox.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard numbers.allSatisfy({ $0 != nil }) else { return nil }
        return BoundingBox(numbers.compactMap { $0 })
    }

    func validate() throws {
        do { _ = try HeatmapMetric.parseList(metrics ?? "") } catch { throw ValidationError("--metrics: \(error)") }
        if bbox != nil, box == nil {
            throw ValidationError("--bbox must be four finite numbers x0,y0,x1,y1 with x0 < x1 and y0 < y1")
        }
        if parsedMetrics.contains(.energy), bbox == nil {
            throw ValidationError("--metrics energy needs --bbox x0,y0,x1,y1 (the object's box in image pixels)")
        }
        if let step, step < 1 { throw ValidationError("--step must be at least 1") }
    }

    /// Pixels per deletion/insertion step, when those are asked for.
    func stepUsed(width: Int) -> Int? {
        parsedMetrics.isDisjoint(with: [.deletion, .insertion]) ? nil : step ?? width
    }

    /// The metrics of one image's heatmap; `nil` without `--metrics`.
    /// - Throws: `CLIError` naming the image when the network's outputs are not finite.
    func compute(
        network: Network, input: Tensor, map: SaliencyMap, image: RGBImage, options: ScoreCAM.Options, path: String
    ) throws -> Report.ProbeMetrics? {
        let wanted = parsedMetrics
        guard !wanted.isEmpty else { return nil }
        let scaled = box?.scaled(fromWidth: image.width, height: image.height, toWidth: map.width, height: map.height)
        do {
            let computed = try HeatmapMetrics.compute(
                wanted, network: network, input: input, map: map, box: scaled, step: step,
                batchSize: options.batchSize, threads: options.threads)
            return Report.ProbeMetrics(
                computed, boxArea: scaled.map { Faithfulness.coverage(of: $0, width: map.width, height: map.height) })
        } catch {
            throw CLIError("\(path): metrics: \(error)")
        }
    }

    /// `energy 0.78 (box 14 % of the image), drop 12.3 % (Y 0.91, O 0.80), deletion AUC 0.120, insertion AUC 0.650`.
    static func describe(_ m: Report.ProbeMetrics) -> String {
        var parts: [String] = []
        if let energy = m.energy {
            parts.append(String(format: "energy %.4f", energy) + (m.boxArea.map { String(format: " (box %.1f %% of the input)", 100 * $0) } ?? ""))
        } else if m.boxArea != nil {
            parts.append("energy n/a (all-zero heatmap, or no pixel centre in the box)")
        }
        if let drop = m.drop, let y = m.confidence, let o = m.explanationConfidence {
            parts.append(String(format: "drop %.2f %% (Y %.4f, O %.4f)", 100 * drop, y, o) + (m.increase == true ? ", increase" : ""))
        }
        if let deletion = m.deletion { parts.append(String(format: "deletion AUC %.4f", deletion)) }
        if let insertion = m.insertion { parts.append(String(format: "insertion AUC %.4f", insertion)) }
        return parts.joined(separator: ", ")
    }

    /// The means over several images.
    static func describe(_ m: Report.CheckpointMetrics) -> String {
        var parts: [String] = []
        if let energy = m.energy { parts.append(String(format: "energy %.4f", energy)) }
        if let drop = m.averageDrop { parts.append(String(format: "Average Drop %.2f %%", drop)) }
        if let increase = m.increaseInConfidence { parts.append(String(format: "Increase in Confidence %.2f %%", increase)) }
        if let deletion = m.deletion { parts.append(String(format: "deletion AUC %.4f", deletion)) }
        if let insertion = m.insertion { parts.append(String(format: "insertion AUC %.4f", insertion)) }
        return parts.joined(separator: ", ")
    }
}
