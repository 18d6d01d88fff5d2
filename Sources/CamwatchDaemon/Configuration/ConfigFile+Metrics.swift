import CamwatchMonitor
import CamwatchSaliency
import CamwatchTensor

extension ConfigFile.Metrics {
    /// `metrics:` is a mapping (`textfile_directory`, `heatmap`, `step`) or, for short, the list of heatmap
    /// metrics itself (`metrics: [energy, drop, deletion]`).
    public init(from decoder: any Decoder) throws {
        if let list = try? decoder.singleValueContainer().decode([String].self) {
            heatmap = list
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        textfileDirectory = try c.decodeIfPresent(String.self, forKey: .textfileDirectory)
        step = try c.decodeIfPresent(Int.self, forKey: .step)
        // A list, or one comma-separated string as on the command line.
        if let list = try? c.decodeIfPresent([String].self, forKey: .heatmap) {
            heatmap = list
        } else {
            heatmap = try c.decodeIfPresent(String.self, forKey: .heatmap).map { [$0] }
        }
    }
}

extension MetricSettings {
    /// The settings a config file's `metrics:` section asks for; without `heatmap`, ``standard``.
    /// - Throws: `ConfigurationError` for an unknown metric or a step below 1.
    init(_ section: ConfigFile.Metrics?, path: String?) throws(ConfigurationError) {
        self = .standard
        if let words = section?.heatmap {
            do throws(SaliencyError) {
                metrics = try HeatmapMetric.parseList(words.joined(separator: ","))
            } catch {
                throw ConfigurationError(path: path, key: "metrics.heatmap", .failure(ErrorCause(error)))
            }
        }
        if let step = section?.step {
            guard (1...(1 << 24)).contains(step) else {
                throw ConfigurationError(
                    path: path, key: "metrics.step", .invalid("must be at least 1 (pixels per deletion/insertion step)"))
            }
            self.step = step
        }
    }
}
