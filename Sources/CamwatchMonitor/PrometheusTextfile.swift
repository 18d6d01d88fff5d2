/// `camwatch.prom` for node_exporter's textfile collector (docs/architecture.md §9.5).
///
/// Text format 0.0.4 without timestamps (a timestamp makes the collector skip the whole file), every
/// family with `# HELP` and `# TYPE`, labels `job_name` (not `job`, which clashes with the scrape
/// target's label) and `probe`/`state`. Values are the latest:
///
/// - `camwatch_saliency_drift_ratio{job_name,probe}` (gauge): drift (1 − Pearson r) of the last processed
///   checkpoint per probe, and for `probe="all"` the mean over probes;
/// - `camwatch_saliency_drift_max_ratio{job_name}` (gauge): the largest per-probe drift of that checkpoint;
/// - `camwatch_weight_drift_ratio{job_name}` (gauge): ‖w_i − w_{i−1}‖ / ‖w_{i−1}‖ of that checkpoint;
/// - `camwatch_statistics_drift_ratio{job_name}` (gauge): the same over the batch-norm running statistics;
/// - `camwatch_saliency_converged{job_name}` (gauge): 1 when the state is `stable`, else 0;
/// - `camwatch_model_collapsed{job_name}` (gauge): 1 when the state is `collapsed` (the model no longer reads its
///   input), else 0;
/// - `camwatch_convergence_state{job_name,state}` (gauge): 1 for the current state, 0 for the others;
/// - `camwatch_convergence_drift_reference{job_name,signal}` (gauge): the relative rule's reference level
///   of `signal="saliency"` (mean drift, median of 3), `signal="weights"` and `signal="statistics"`;
/// - `camwatch_convergence_drift_level_ratio{job_name,signal}` (gauge): the last checkpoint's drift over that
///   reference (what the rule compares with `settle_ratio` / `weight_settle_ratio`);
/// - `camwatch_convergence_settle_ratio{job_name,signal}` (gauge): those bounds, as configured;
/// - `camwatch_convergence_streak{job_name}` (gauge): consecutive settled checkpoints so far;
/// - `camwatch_checkpoints_processed_total{job_name}` (counter): checkpoints handled, failed ones included;
/// - `camwatch_checkpoints_failed_total{job_name}` (counter): checkpoints that failed;
/// - `camwatch_checkpoints_retrying{job_name}` (gauge): checkpoints waiting in report.json's `retrying` list
///   (camwatch's own reader child failed on them; they are read again later, not failed);
/// - `camwatch_last_checkpoint_timestamp_seconds{job_name}` (gauge): Unix time at which the last
///   checkpoint, of any status, was handled;
/// - `camwatch_scorecam_seconds{job_name}` (gauge): wall time of the last processed checkpoint;
/// - `camwatch_saliency_method_info{job_name,method}` (gauge, always 1): the CAM method the saliency maps are made with;
/// - `camwatch_heatmap_*`: the heatmap metrics (energy on the objects, Average Drop, …), see
///   ``metricFamilies(_:job:)``.
///
/// A family with nothing to report yet (no drift before the second checkpoint, no weight drift) is
/// left out rather than written as 0, since 0 drift would read as "converged".
public enum PrometheusTextfile {
    /// The metrics file's name in the output directory.
    public static let fileName = "camwatch.prom"

    /// Renders the metrics for `report`.
    /// - Parameter jobName: the `job_name` label value (the training job / service instance name).
    public static func render(_ report: Report, jobName: String) -> String {
        let job = "job_name=\"\(escapeLabel(jobName))\""
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            guard !samples.isEmpty else { return }
            out += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(type)\n"
            for sample in samples { out += "\(name){\(sample.labels)} \(sample.value)\n" }
        }
        let processed = report.lastProcessed
        if let drift = processed?.drift {
            var samples = [(labels: "\(job),probe=\"all\"", value: format(drift.mean))]
            // Report order first, then any probe the report no longer lists, so the file is stable.
            let listed = report.probes.map(\.id)
            let ordered =
                listed.filter { drift.perProbe[$0] != nil }
                + drift.perProbe.keys.filter { !listed.contains($0) }.sorted()
            for probe in ordered {
                guard let metrics = drift.perProbe[probe] else { continue }
                samples.append((labels: "\(job),probe=\"\(escapeLabel(probe))\"", value: format(metrics.drift)))
            }
            family(
                "camwatch_saliency_drift_ratio", "gauge",
                "Saliency drift (1 - Pearson r) between the last two processed checkpoints, per probe; "
                    + "probe=\"all\" is the mean.",
                samples)
            family(
                "camwatch_saliency_drift_max_ratio", "gauge",
                "Largest per-probe saliency drift between the last two processed checkpoints.",
                [(labels: job, value: format(drift.max))])
        }
        for metric in metricFamilies(report, job: job) { family(metric.name, metric.type, metric.help, metric.samples) }
        if let weightDrift = processed?.weightDrift {
            family(
                "camwatch_weight_drift_ratio", "gauge",
                "Relative weight change ||w_i - w_(i-1)|| / ||w_(i-1)|| between the last two processed checkpoints.",
                [(labels: job, value: format(weightDrift))])
        }
        if let statisticsDrift = processed?.statisticsDrift {
            family(
                "camwatch_statistics_drift_ratio", "gauge",
                "Relative change of the batch-norm running statistics between the last two processed checkpoints.",
                [(labels: job, value: format(statisticsDrift))])
        }
        let state = report.convergence.state
        family(
            "camwatch_saliency_converged", "gauge",
            "1 when the saliency maps have stopped changing (state stable), else 0.",
            [(labels: job, value: state == .stable ? "1" : "0")])
        family(
            "camwatch_model_collapsed", "gauge",
            "1 when the model no longer reads its input (state collapsed: constant heatmaps, or the same output "
                + "for every probe), else 0.",
            [(labels: job, value: state == .collapsed ? "1" : "0")])
        family(
            "camwatch_convergence_state", "gauge", "Convergence state of the run, one-hot.",
            ConvergenceState.allCases.map {
                (labels: "\(job),state=\"\($0.rawValue)\"", value: $0 == state ? "1" : "0")
            })
        let tracker = report.convergence
        if tracker.mode == .relative {
            let signals: [(name: String, level: DriftLevel, ratio: Double?, bound: Double)] = [
                ("saliency", tracker.saliency, tracker.reading?.driftRatio, tracker.rule.settleRatio),
                ("weights", tracker.weights, tracker.reading?.weightRatio, tracker.rule.weightSettleRatio),
            ] + (tracker.statistics.reference == nil ? [] : [
                ("statistics", tracker.statistics, tracker.reading?.statisticsRatio, tracker.rule.weightSettleRatio),
            ])
            family(
                "camwatch_convergence_drift_reference", "gauge",
                "Reference level of the relative convergence rule: the highest median of 3 consecutive drifts.",
                signals.compactMap { s in
                    s.level.reference.map { (labels: "\(job),signal=\"\(s.name)\"", value: format($0)) }
                })
            family(
                "camwatch_convergence_drift_level_ratio", "gauge",
                "The last checkpoint's drift over its reference level; settled below the settle ratio.",
                signals.compactMap { s in s.ratio.map { (labels: "\(job),signal=\"\(s.name)\"", value: format($0)) } })
            family(
                "camwatch_convergence_settle_ratio", "gauge",
                "Configured bound of the drift level ratio below which a checkpoint counts as settled.",
                signals.map { s in (labels: "\(job),signal=\"\(s.name)\"", value: format(s.bound)) })
        }
        if tracker.processed >= 2 {
            family(
                "camwatch_convergence_streak", "gauge", "Consecutive settled checkpoints up to the last one.",
                [(labels: job, value: "\(tracker.streak)")])
        }
        family(
            "camwatch_checkpoints_processed_total", "counter", "Checkpoints handled, failed ones included.",
            [(labels: job, value: "\(report.checkpoints.count)")])
        family(
            "camwatch_checkpoints_failed_total", "counter", "Checkpoints that could not be processed.",
            [(labels: job, value: "\(report.checkpoints.filter { $0.status == .failed }.count)")])
        family(
            "camwatch_checkpoints_retrying", "gauge",
            "Checkpoints camwatch's own reader failed on (killed, crashed), waiting to be read again.",
            [(labels: job, value: "\((report.retrying ?? []).count)")])
        if let last = report.checkpoints.last {
            family(
                "camwatch_last_checkpoint_timestamp_seconds", "gauge",
                "Unix time at which the last checkpoint was handled.", [(labels: job, value: format(last.processedAt))])
        }
        if let processed {
            family(
                "camwatch_scorecam_seconds", "gauge",
                "Wall time spent on the last processed checkpoint (loading and Score-CAM over all probes).",
                [(labels: job, value: format(processed.seconds))])
        }
        family(
            "camwatch_saliency_method_info", "gauge", "The CAM method the saliency maps are made with (always 1).",
            [(labels: "\(job),method=\"\(escapeLabel(report.model.methodKey))\"", value: "1")])
        return out
    }

    /// Writes `render(report, jobName:)` to `directory/camwatch.prom` atomically (temporary name not
    /// ending in `.prom`, `fsync`, rename), so the collector never reads half a file.
    /// - Throws: `MonitorError` (`.io`).
    /// - Parameter fileName: the file's name; another name serves a shared node_exporter textfile directory
    ///   (`camwatch-<job>.prom`).
    public static func write(
        _ report: Report, jobName: String, directory: String, fileName: String = fileName
    ) throws(MonitorError) {
        let path = (directory.hasSuffix("/") ? directory : directory + "/") + fileName
        try AtomicFile.replace(path, with: Array(render(report, jobName: jobName).utf8))
    }

    /// A label value with `\`, `"` and newline escaped.
    ///
    /// Scalars, not characters: `"\r\n"` is one `Character` and would hide its newline.
    static func escapeLabel(_ value: String) -> String {
        var result = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// HELP text with `\` and newline escaped.
    static func escapeHelp(_ value: String) -> String {
        var result = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// A sample value as Prometheus parses it: Go float syntax, `NaN`, `+Inf`, `-Inf`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        // Swift's shortest round-trip form ("0.042", "1e-05", "1700000000.0") is valid Go float syntax.
        return "\(value)"
    }
}
