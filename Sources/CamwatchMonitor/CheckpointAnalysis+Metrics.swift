import CamwatchImage
import CamwatchNN
public import CamwatchSaliency
import CamwatchTensor

/// Which heatmap metrics a run computes at every checkpoint (`metrics:` in the config).
public struct MetricSettings: Sendable, Equatable {
    /// The metrics; `energy` applies to the probes with a `bbox` only.
    public var metrics: Set<HeatmapMetric>
    /// Pixels per deletion/insertion step; `nil` is the input width.
    public var step: Int?

    public init(metrics: Set<HeatmapMetric>, step: Int? = nil) {
        self.metrics = metrics
        self.step = step
    }

    /// The default: the energy pointing game where probes have a box, and Average Drop / Increase in
    /// Confidence (one extra forward pass per probe). Deletion and insertion cost `H·W/step + 1` forward
    /// passes each per probe and are opt-in.
    public static let standard = MetricSettings(metrics: [.energy, .drop])
    public static let none = MetricSettings(metrics: [])
}

extension CheckpointAnalysis {
    /// One probe's metrics on its Score-CAM heatmap, or `nil` when none applies (only `energy` asked for and
    /// the probe has no box).
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`, the probe as the network saw it.
    ///   - map: its heatmap at input resolution.
    ///   - probe: the probe; its `bbox` is in image pixels and is scaled to the input like the image.
    /// - Throws: ``SaliencyError`` for non-finite network outputs.
    static func metrics(
        _ settings: MetricSettings, network: Network, input: Tensor, map: SaliencyMap, probe: ProbeSet.Probe,
        options: ScoreCAM.Options
    ) throws(SaliencyError) -> Report.ProbeMetrics? {
        let box = probe.description.bbox.flatMap(BoundingBox.init)?.scaled(
            fromWidth: probe.fileWidth, height: probe.fileHeight, toWidth: map.width, height: map.height)
        var wanted = settings.metrics
        if box == nil { wanted.remove(.energy) }
        guard !wanted.isEmpty else { return nil }
        let computed = try HeatmapMetrics.compute(
            wanted, network: network, input: input, map: map, box: box, step: settings.step,
            batchSize: options.batchSize, threads: options.threads)
        let area = box.map { Faithfulness.coverage(of: $0, width: map.width, height: map.height) }
        return Report.ProbeMetrics(computed, boxArea: wanted.contains(.energy) ? area : nil)
    }
}
