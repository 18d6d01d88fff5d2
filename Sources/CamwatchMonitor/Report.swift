public import CamwatchCheckpoint
public import CamwatchHDF5
import CamwatchTensor
import Foundation

/// The run's `report.json` (docs/architecture.md §7): model, probes, one entry per checkpoint, convergence.
///
/// JSON keys are snake_case; every object's keys are written in sorted order (stable across runs and
/// platforms, friendly to diffs), optional fields are written as explicit `null`, and non-finite
/// numbers (a `val_loss` of NaN) as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
public struct Report: Sendable, Equatable, Codable {
    /// The schema this camwatch writes; a report with a higher version is refused, not overwritten.
    /// 2: `convergence.rule` (relative or absolute), the levels and each entry's `convergence` reading;
    /// version 1 reports are read as judged by the absolute rule.
    /// 3: the `collapsed` and `diverged` states, each entry's `collapse` evidence and `diverged` flag, `statistics_drift` (batch-norm running
    /// statistics), `model` (architecture and parameter fingerprint) and `new_model` (why a new segment began).
    public static let currentSchemaVersion = 3

    public var schemaVersion: Int
    public var model: Model
    public var probes: [Probe]
    /// Every checkpoint handled, in processing order.
    public var checkpoints: [CheckpointEntry]
    /// The convergence state machine, stored whole so a restart resumes it.
    public var convergence: ConvergenceTracker
    /// The checkpoint directory this report follows; `nil` in reports written before it was recorded (the next
    /// run adopts them).
    @ExplicitNull public var run: Run?
    /// Checkpoints camwatch's own reader failed on, to be read again (`[]` when none; `nil` in reports from
    /// before it existed). They are not in `checkpoints`: there is no verdict on them yet.
    @ExplicitNull public var retrying: [RetryingCheckpoint]?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case model, probes, checkpoints, convergence, run, retrying
    }

    /// Creates an empty report for a new run.
    public init(
        model: Model, probes: [Probe], checkpoints: [CheckpointEntry] = [],
        convergence: ConvergenceTracker = ConvergenceTracker(), schemaVersion: Int = Report.currentSchemaVersion,
        run: Run? = nil
    ) {
        self.schemaVersion = schemaVersion
        self.run = run
        self.model = model
        self.probes = probes
        self.checkpoints = checkpoints
        self.convergence = convergence
        self.retrying = []
    }

    /// The entry with this checkpoint id, if any.
    public func entry(id: String) -> CheckpointEntry? { checkpoints.first { $0.id == id } }

    /// The last entry with status `ok`: the checkpoint the next drift is measured against.
    public var lastProcessed: CheckpointEntry? { checkpoints.last { $0.status == .ok } }

    /// The first checkpoint of the run of processed checkpoints with signs of collapse that ends at the last
    /// processed one; `nil` when the last processed checkpoint shows none.
    public var collapseStart: CheckpointEntry? {
        let processed = checkpoints.filter { $0.status == .ok }
        guard processed.last?.collapse != nil else { return nil }
        let healthy = processed.lastIndex { $0.collapse == nil }
        return processed[healthy.map { $0 + 1 } ?? 0]
    }

    /// Judges the whole run again under `rule`, from the drifts already in the report (no alert fires for
    /// the transitions of the past): every entry's `state` and `convergence` reading, and the tracker.
    public mutating func rejudge(with rule: ConvergenceRule) {
        var tracker = ConvergenceTracker(rule: rule)
        for index in checkpoints.indices {
            let entry = checkpoints[index]
            _ = tracker.update(
                checkpoint: entry.label, status: entry.status, drift: entry.drift?.mean, weightDrift: entry.weightDrift,
                statisticsDrift: entry.statisticsDrift, statisticsTrend: entry.statisticsTrend,
                collapsed: entry.collapse != nil, newSegment: entry.newModel != nil, diverged: entry.diverged == true)
            checkpoints[index].state = tracker.state
            checkpoints[index].convergence =
                entry.status == .ok && entry.drift != nil && entry.collapse == nil ? tracker.reading : nil
        }
        convergence = tracker
        schemaVersion = Self.currentSchemaVersion
    }

    /// Adds an entry, or replaces the one with the same id in place (keeping processing order).
    public mutating func record(_ entry: CheckpointEntry) {
        if let index = checkpoints.firstIndex(where: { $0.id == entry.id }) {
            checkpoints[index] = entry
        } else {
            checkpoints.append(entry)
        }
    }

    /// The report as UTF-8 JSON, pretty-printed with sorted keys, ending in a newline.
    /// - Throws: `MonitorError` when a value cannot be encoded (not expected: non-finite numbers are
    ///   written as strings).
    public func jsonBytes() throws(MonitorError) -> [UInt8] {
        do {
            return Array(try Self.encoder().encode(self)) + [0x0A]
        } catch {
            throw MonitorError(.corrupt, context: "cannot encode the report", cause: ErrorCause(error))
        }
    }

    /// Decodes a report from JSON.
    ///
    /// - Parameter path: the file the bytes came from, for the error message.
    /// - Throws: `MonitorError`: `.corrupt` naming what is wrong and where (`checkpoints[3].status`),
    ///   `.unsupportedVersion` for a report from a newer camwatch.
    public static func decode(_ bytes: [UInt8], path: String? = nil) throws(MonitorError) -> Report {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let data = Data(bytes)
        // The version first, so a newer schema is reported as such and not as damage.
        struct Version: Decodable {
            var schemaVersion: Int
            enum CodingKeys: String, CodingKey { case schemaVersion = "schema_version" }
        }
        do {
            let version = try decoder.decode(Version.self, from: data).schemaVersion
            guard version <= currentSchemaVersion else {
                throw MonitorError(
                    .unsupportedVersion, path: path,
                    reason: "report schema_version \(version) is newer than this camwatch's \(currentSchemaVersion)")
            }
            return try decoder.decode(Report.self, from: data)
        } catch let error as MonitorError {
            throw error
        } catch let error as DecodingError {
            throw MonitorError(.corrupt, path: path, reason: describe(error))
        } catch {
            throw MonitorError(.corrupt, path: path, context: "cannot read the report", cause: ErrorCause(error))
        }
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    /// A `DecodingError` in one line: what and where, e.g. `missing key 'status' at checkpoints[2]`.
    static func describe(_ error: DecodingError) -> String {
        func location(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return text.isEmpty ? "the top level" : text
        }
        switch error {
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
                return "not valid JSON" + (underlying.map { " (\($0))" } ?? "")
            }
            return "bad value at \(location(context.codingPath)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(location(context.codingPath))"
        case .typeMismatch(let type, let context):
            return "expected \(type) at \(location(context.codingPath))"
        case .valueNotFound(let type, let context):
            return "null where \(type) is required at \(location(context.codingPath))"
        @unknown default:
            return "cannot decode the report"
        }
    }
}

extension Report {
    /// The network the heatmaps come from.
    public struct Model: Sendable, Equatable, Codable {
        /// The zoo architecture (`resnet18`), or `nil` for a model spec file.
        @ExplicitNull public var arch: String?
        /// The Score-CAM target layer.
        public var layer: String
        /// The network's input `[height, width]`: the resolution heatmaps are compared at.
        public var inputSize: [Int]
        /// The CAM method's name (`gradcam`, see ``CAMMethod``); `nil` in reports from before methods
        /// could be chosen, which were all Score-CAM.
        public var method: String?

        enum CodingKeys: String, CodingKey {
            case arch, layer, method
            case inputSize = "input_size"
        }

        public init(arch: String?, layer: String, inputSize: [Int], method: String? = nil) {
            self.arch = arch
            self.layer = layer
            self.inputSize = inputSize
            self.method = method
        }
    }

    /// One probe image.
    public struct Probe: Sendable, Equatable, Codable {
        public var id: String
        /// The image file, as given in the probe directory.
        public var file: String
        /// The target class; `nil` explains whatever class the network predicts at each checkpoint.
        @ExplicitNull public var classIndex: Int?
        @ExplicitNull public var label: String?
        /// `[x0, y0, x1, y1]` in image pixels.
        @ExplicitNull public var bbox: [Double]?
        /// The ``Fingerprint`` of the image file's bytes: a probe whose image changed under the same id
        /// cannot be compared with its earlier heatmaps. `nil` in reports from before it was recorded.
        @ExplicitNull public var digest: String?

        enum CodingKeys: String, CodingKey {
            case id, file, label, bbox, digest
            case classIndex = "class"
        }

        public init(
            id: String, file: String, classIndex: Int? = nil, label: String? = nil, bbox: [Double]? = nil,
            digest: String? = nil
        ) {
            self.digest = digest
            self.id = id
            self.file = file
            self.classIndex = classIndex
            self.label = label
            self.bbox = bbox
        }
    }

    /// What the network said about one probe at one checkpoint.
    public struct Prediction: Sendable, Equatable, Codable {
        /// The class explained: the probe's target class, or the argmax when it has none.
        public var classIndex: Int
        /// That class's raw logit on the unmasked probe (`SaliencyMap.score`).
        public var score: Float
        /// The class the network predicts (argmax), which may differ from the class explained.
        public var predicted: Int?
        /// The softmax probability of the predicted class.
        public var probability: Float?

        enum CodingKeys: String, CodingKey {
            case classIndex = "class"
            case score, predicted, probability
        }

        public init(classIndex: Int, score: Float, predicted: Int? = nil, probability: Float? = nil) {
            self.classIndex = classIndex
            self.score = score
            self.predicted = predicted
            self.probability = probability
        }
    }

    /// A checkpoint attribute as the report keeps it: a number or a string.
    public enum AttributeValue: Sendable, Hashable, Codable, CustomStringConvertible {
        case number(Double)
        case string(String)

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let number = try? c.decode(Double.self) {
                self = .number(number)
            } else {
                self = .string(try c.decode(String.self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let value): try c.encode(value)
            case .string(let value): try c.encode(value)
            }
        }

        /// The number, if it is one.
        public var number: Double? {
            if case .number(let value) = self { value } else { nil }
        }

        /// Numbers in the shortest form that reads back exactly, integers without `.0`.
        public var description: String {
            switch self {
            case .number(let value):
                if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
                return "\(value)"
            case .string(let value): return value
            }
        }
    }

    /// One checkpoint in the report, processed or failed.
    public struct CheckpointEntry: Sendable, Equatable, Codable {
        /// The file name.
        public var name: String
        /// The identity string (inode, mtime, size, or a hash): a rewritten `last.h5` is a new entry.
        public var id: String
        @ExplicitNull public var step: Int?
        @ExplicitNull public var epoch: Int?
        public var status: CheckpointStatus
        /// Why the checkpoint failed, one line naming the file; `nil` when `ok`.
        @ExplicitNull public var error: String?
        /// `true` when it failed because its weights hold NaN or infinity (training diverged); else `nil`.
        @ExplicitNull public var diverged: Bool?
        /// Wall time spent on the checkpoint: loading, and Score-CAM over every probe.
        public var seconds: Double
        /// When processing finished, Unix seconds.
        public var processedAt: Double
        /// What the network said about each probe, by probe id; empty when failed.
        public var predictions: [String: Prediction]
        /// Heatmap drift against the previous processed checkpoint; `nil` for the first, and when failed.
        @ExplicitNull public var drift: CheckpointDrift?
        /// `‖w_i − w_{i−1}‖ / ‖w_{i−1}‖` against the previous processed checkpoint; `nil` for the first.
        @ExplicitNull public var weightDrift: Double?
        /// The same over the batch-norm running statistics; `nil` for the first, and for networks without any.
        @ExplicitNull public var statisticsDrift: Double?
        /// How this change of the statistics relates to the one before (trend or noise); `nil` when unknown.
        @ExplicitNull public var statisticsTrend: StatisticsTrend?
        /// The signs that the model stopped reading its input; `nil` when there are none.
        @ExplicitNull public var collapse: CollapseEvidence?
        /// Which model the checkpoint is (architecture and parameter shapes); `nil` when failed.
        @ExplicitNull public var model: ModelIdentity?
        /// Why this checkpoint starts a new segment — another model than the previous processed checkpoint
        /// (`architecture resnet18 → resnet34`); drift is not measured across it. `nil` otherwise.
        @ExplicitNull public var newModel: String?
        /// The convergence state after this checkpoint.
        public var state: ConvergenceState
        /// What the convergence rule saw at this checkpoint (ratios to the reference levels, settled or not);
        /// `nil` for the first, failed ones, and reports written before it was recorded.
        @ExplicitNull public var convergence: ConvergenceReading?
        /// The checkpoint's own scalar root attributes (`epoch`, `step`, `val_acc`, `lr` …).
        public var attributes: [String: AttributeValue]
        /// The heatmap metrics (Report+Metrics.swift); `nil` when none were computed.
        @ExplicitNull public var metrics: CheckpointMetrics?

        enum CodingKeys: String, CodingKey {
            case name, id, step, epoch, status, error, seconds, predictions, drift, state, attributes, convergence
            case metrics, collapse, model, diverged
            case processedAt = "processed_at"
            case weightDrift = "weight_drift"
            case statisticsDrift = "statistics_drift"
            case statisticsTrend = "statistics_trend"
            case newModel = "new_model"
        }

        public init(
            name: String, id: String, step: Int? = nil, epoch: Int? = nil, status: CheckpointStatus,
            error: String? = nil, seconds: Double, processedAt: Double, predictions: [String: Prediction] = [:],
            drift: CheckpointDrift? = nil, weightDrift: Double? = nil, state: ConvergenceState,
            convergence: ConvergenceReading? = nil, attributes: [String: AttributeValue] = [:],
            metrics: CheckpointMetrics? = nil, statisticsDrift: Double? = nil, statisticsTrend: StatisticsTrend? = nil,
            collapse: CollapseEvidence? = nil, model: ModelIdentity? = nil, newModel: String? = nil,
            diverged: Bool? = nil
        ) {
            self.diverged = diverged
            self.metrics = metrics
            self.statisticsDrift = statisticsDrift
            self.statisticsTrend = statisticsTrend
            self.collapse = collapse
            self.model = model
            self.newModel = newModel
            self.name = name
            self.id = id
            self.step = step
            self.epoch = epoch
            self.status = status
            self.error = error
            self.seconds = seconds
            self.processedAt = processedAt
            self.predictions = predictions
            self.drift = drift
            self.weightDrift = weightDrift
            self.state = state
            self.convergence = convergence
            self.attributes = attributes
        }

        /// Which checkpoint this entry is, for the convergence tracker and events.
        public var label: CheckpointLabel { CheckpointLabel(id: id, name: name) }

        /// Root attributes that can go longer than this are left out of the report (model descriptions).
        public static let maximumAttributeLength = 200
        /// Root attributes never copied into the report: model descriptions, not facts about training.
        public static let omittedAttributes: Set<String> = [
            "camwatch_model", "model_config", "training_config", "layer_names", "backend", "keras_version",
        ]

        /// The checkpoint attributes worth reporting: scalar numbers, and strings up to
        /// `maximumAttributeLength` characters, except `omittedAttributes`.
        public static func reportedAttributes(
            _ attributes: [String: CheckpointAttribute]
        ) -> [String: AttributeValue] {
            var result: [String: AttributeValue] = [:]
            for (name, value) in attributes where !omittedAttributes.contains(name) {
                switch value {
                case .int(let int): result[name] = .number(Double(int))
                case .double(let double): result[name] = .number(double)
                case .string(let string) where string.count <= maximumAttributeLength: result[name] = .string(string)
                default: continue
                }
            }
            return result
        }
    }
}
