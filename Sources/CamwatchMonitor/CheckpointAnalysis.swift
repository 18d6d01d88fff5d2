import CamwatchCheckpoint
public import CamwatchImage
public import CamwatchNN
public import CamwatchSaliency
import CamwatchTensor
import Foundation

/// What Score-CAM said about every probe at one checkpoint.
public struct CheckpointAnalysis: Sendable {
    /// Low-resolution heatmaps by probe id.
    public var heatmaps: [String: HeatmapArchive.Heatmap]
    public var predictions: [String: Report.Prediction]
    /// The target layer's name as resolved in the network.
    public var layer: String
    /// `[H, W]` of the network input the probes were resized to.
    public var inputSize: [Int]
    /// The heatmap metrics (CheckpointAnalysis+Metrics.swift); `nil` when none were asked for or applied.
    public var metrics: Report.CheckpointMetrics? = nil
    /// The signs that the model stopped reading its input; `nil` when there are none.
    public var collapse: CollapseEvidence? = nil
    /// The architecture's name, when the caller knows it (the report's `model.arch`, the model's identity).
    public var architecture: String? = nil

    /// Explains every probe with a CAM method (Score-CAM unless `method` says otherwise).
    ///
    /// - Parameters:
    ///   - network: the checkpoint's network.
    ///   - probes: the probe images; each is explained for its manifest class, else its predicted class.
    ///   - layer: the target layer or module prefix; `nil` for the last conv-like layer.
    ///   - preprocessing: how a probe image becomes the input.
    ///   - options: Score-CAM tuning (batch size and threads also drive IS-CAM and SS-CAM).
    ///   - method: the CAM method; `methodOptions` its samples and seed (IS-CAM, SS-CAM).
    ///   - metrics: the heatmap metrics to compute on each probe's heatmap.
    ///   - isCancelled: polled between probes (the caller may run this on a thread of its own, outside any task).
    ///   - progress: called after each batch of masked inputs with (probe index, channels done, channels to do).
    /// - Throws: `AnalysisError` naming the probe and the reason (unknown layer, class out of range, …);
    ///   `CancellationError` when the task is cancelled between probes.
    public static func run(
        network: Network, probes: ProbeSet, layer: String?, preprocessing: Preprocessing, options: ScoreCAM.Options,
        method: CAMMethod = .scoreCAM, methodOptions: CAMExplainer.Options = .init(),
        metrics settings: MetricSettings = .none, isCancelled: @Sendable () -> Bool = { Task.isCancelled },
        progress: (@Sendable (Int, Int, Int) -> Void)? = nil
    ) throws -> CheckpointAnalysis {
        let scoreCAM: CAMExplainer
        var explainerOptions = methodOptions
        explainerOptions.scoreCAM = options
        do { scoreCAM = try CAMExplainer(method: method, network: network, targetLayer: layer, options: explainerOptions) } catch {
            throw AnalysisError.method(error)
        }
        do { try network.validate(inputHeight: preprocessing.height, inputWidth: preprocessing.width) } catch {
            throw AnalysisError.inputSize(height: preprocessing.height, width: preprocessing.width, error)
        }
        var heatmaps: [String: HeatmapArchive.Heatmap] = [:]
        var predictions: [String: Report.Prediction] = [:]
        var probeMetrics: [String: Report.ProbeMetrics] = [:]
        var logits: [String: [Float]] = [:]
        for (index, probe) in probes.probes.enumerated() {
            if isCancelled() { throw CancellationError() }
            let input = preprocessing.tensor(from: [probe.image])
            let id = probe.description.id
            let map: SaliencyMap
            do {
                map = try scoreCAM.explain(input, classIndex: probe.description.classIndex) { done, total in
                    progress?(index, done, total)
                }
            } catch let error as CancellationError {
                throw error
            } catch {
                throw AnalysisError.probe(id: id, error)
            }
            heatmaps[id] = HeatmapArchive.Heatmap(map)
            do throws(SaliencyError) {
                probeMetrics[id] = try metrics(settings, network: network, input: input, map: map, probe: probe,
                                               options: options)
            } catch {
                throw AnalysisError.metrics(probe: id, error)
            }
            // One plain forward pass (Score-CAM just made hundreds; Grad-CAM one) for what the network predicts.
            let output = network(input).scalars
            logits[id] = output
            let probabilities = Elementwise.softmax(output)
            let predicted = probabilities.indices.max { probabilities[$0] < probabilities[$1] }
            predictions[id] = Report.Prediction(
                classIndex: map.classIndex, score: map.score, predicted: predicted,
                probability: predicted.map { probabilities[$0] })
        }
        let manifestClasses = Set(probes.probes.compactMap(\.description.classIndex))
        return CheckpointAnalysis(
            heatmaps: heatmaps, predictions: predictions, layer: scoreCAM.targetName,
            inputSize: [preprocessing.height, preprocessing.width],
            metrics: probeMetrics.isEmpty ? nil : Report.CheckpointMetrics(
                perProbe: probeMetrics,
                step: settings.metrics.isDisjoint(with: [.deletion, .insertion]) ? nil : settings.step ?? preprocessing.width),
            collapse: CollapseEvidence.evaluate(heatmaps: heatmaps, logits: logits, manifestClasses: manifestClasses))
    }
}

/// A checkpoint could not be analysed; one line.
/// Why analysing a checkpoint failed, with the cause as a value (the daemon records it as the checkpoint's
/// failure).
public enum AnalysisError: Error, CustomStringConvertible {
    /// The CAM method cannot be set up on this network (no such target layer, a layer it cannot handle).
    case method(any Error)
    /// The network does not take input of the preprocessed size.
    case inputSize(height: Int, width: Int, any Error)
    /// Explaining one probe failed.
    case probe(id: String, any Error)
    /// A heatmap metric of one probe failed.
    case metrics(probe: String, SaliencyError)

    public var description: String {
        switch self {
        case .method(let cause): "\(cause)"
        case .inputSize(let height, let width, let cause): "input \(height)x\(width): \(cause)"
        case .probe(let id, let cause): "probe '\(id)': \(cause)"
        case .metrics(let id, let cause): "probe '\(id)': metrics: \(cause)"
        }
    }
}
