extension PrometheusTextfile {
    /// One metric family: name, type, help text, samples.
    typealias Family = (name: String, type: String, help: String, samples: [(labels: String, value: String)])

    /// The heatmap metrics of the last processed checkpoint that has them, per probe and `probe="all"` for
    /// the mean (gauges):
    ///
    /// - `camwatch_heatmap_energy_ratio{job_name,probe}`: share of heatmap energy inside the probe's box;
    /// - `camwatch_heatmap_average_drop_percent{job_name}` and `camwatch_heatmap_increase_in_confidence_percent{job_name}`;
    /// - `camwatch_heatmap_confidence_drop_ratio{job_name,probe}`: `max(0, Y − O) / Y` of each probe;
    /// - `camwatch_heatmap_deletion_auc{job_name,probe}`, `camwatch_heatmap_insertion_auc{job_name,probe}`.
    ///
    /// A metric no probe has is left out.
    static func metricFamilies(_ report: Report, job: String) -> [Family] {
        guard let (_, metrics) = report.latestMetrics else { return [] }
        let listed = report.probes.map(\.id)
        let ordered = listed.filter { metrics.perProbe[$0] != nil }
            + metrics.perProbe.keys.filter { !listed.contains($0) }.sorted()
        func perProbe(_ mean: Double?, _ value: (Report.ProbeMetrics) -> Double?) -> [(labels: String, value: String)] {
            guard let mean else { return [] }
            var samples = [(labels: "\(job),probe=\"all\"", value: format(mean))]
            for probe in ordered {
                guard let entry = metrics.perProbe[probe], let v = value(entry) else { continue }
                samples.append((labels: "\(job),probe=\"\(escapeLabel(probe))\"", value: format(v)))
            }
            return samples
        }
        let meanDrop = metrics.averageDrop.map { $0 / 100 }
        return [
            ("camwatch_heatmap_energy_ratio", "gauge",
             "Energy-based pointing game: share of the heatmap's sum inside the probe's bbox; probe=\"all\" is the mean.",
             perProbe(metrics.energy, \.energy)),
            ("camwatch_heatmap_average_drop_percent", "gauge",
             "Average Drop %: mean over probes of max(0, Y - O) / Y, Y and O the class probability on the probe and on probe x heatmap.",
             metrics.averageDrop.map { [(labels: job, value: format($0))] } ?? []),
            ("camwatch_heatmap_increase_in_confidence_percent", "gauge",
             "Increase in Confidence %: share of probes whose class probability rises on probe x heatmap.",
             metrics.increaseInConfidence.map { [(labels: job, value: format($0))] } ?? []),
            ("camwatch_heatmap_confidence_drop_ratio", "gauge",
             "max(0, Y - O) / Y per probe; probe=\"all\" is the mean (Average Drop / 100).",
             perProbe(meanDrop, \.drop)),
            ("camwatch_heatmap_deletion_auc", "gauge",
             "Deletion AUC: class probability as the most salient pixels are zeroed (lower is better).",
             perProbe(metrics.deletion, \.deletion)),
            ("camwatch_heatmap_insertion_auc", "gauge",
             "Insertion AUC: class probability as the most salient pixels return into a blurred probe (higher is better).",
             perProbe(metrics.insertion, \.insertion)),
        ]
    }
}
