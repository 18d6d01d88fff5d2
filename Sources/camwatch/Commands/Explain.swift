import ArgumentParser
import CamwatchCheckpoint
import CamwatchDaemon
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation

extension Camwatch {
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compute CAM heatmaps (Score-CAM by default) for images and write them over the images as PNG.")

        @Argument(help: "PNG images.")
        var images: [String]

        @Option(name: .long, help: "The HDF5 checkpoint.")
        var weights: String

        @OptionGroup var model: ModelOptions
        @OptionGroup var preprocessing: PreprocessingOptions

        @Option(name: .long, help: "Target layer name or module prefix (default: the deepest conv-like layer with a map of at least 7×7 at the input size).")
        var layer: String?

        @Option(name: .customLong("class"), help: "Class index to explain (default: the predicted class).")
        var classIndex: Int?

        @Option(name: .long, help: "CAM method: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
        var method: CAMMethod = .scoreCAM

        @Option(name: .long, help: "IS-CAM / SS-CAM masked inputs per channel (default: torch-cam's, 10 / 35).")
        var samples: Int?

        @Option(name: .long, help: "SS-CAM noise seed.")
        var seed: UInt64 = 0

        @Option(name: .long, help: "Directory for <image>-<method>.png files (default: the current directory; with --json, none).")
        var out: String?

        @Flag(name: .long, help: "Print JSON with each heatmap on stdout (and write no PNG unless --out is given).")
        var json = false

        @Option(name: .long, help: "Colormap: jet, turbo or viridis.")
        var colormap = HeatmapOverlay.defaultColormap

        @Option(name: .long, help: "Heatmap opacity over the image, 0...1.")
        var alpha = HeatmapOverlay.defaultAlpha

        @Option(name: .long, help: "Channel weighting: logit-softmax (pytorch-grad-cam) or probability (the authors' code).")
        var weighting: ScoreCAM.Weighting = .logitSoftmax

        @Option(name: .long, help: "Use only the N channels with the largest spatial std (Faster Score-CAM).")
        var topChannels: Int?

        @Option(name: .long, help: "Masked inputs per forward pass.")
        var batchSize: Int = 16

        @Option(name: .long, help: ArgumentHelp(
            "MiB of activations each thread's batch may hold; wider layers run in smaller batches, same result.",
            valueName: "MiB"))
        var activationMemory: Int = ScoreCAM.Options.defaultActivationMemory >> 20

        @Option(name: .long, help: "Compute threads (default: all cores).")
        var threads: Int?

        @Flag(name: .long, help: "No progress on stderr.")
        var quiet = false

        @OptionGroup var metricOptions: ExplainMetricOptions

        func validate() throws {
            guard (0...1).contains(alpha) else { throw ValidationError("--alpha must be in 0...1") }
            if let topChannels, topChannels < 1 { throw ValidationError("--top-channels must be at least 1") }
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
            guard (1...(1 << 20)).contains(activationMemory) else {
                throw ValidationError("--activation-memory must be 1...\(1 << 20) MiB")
            }
            if let samples, samples < 1 { throw ValidationError("--samples must be at least 1") }
        }

        func run() throws {
            Runtime.configure(threads: threads)
            let loaded = try ModelCatalog.load(weightsPath: weights, options: model)
            let resolved = try preprocessing.resolve(for: loaded)
            let prep = resolved.preprocessing
            try ImageInput.validate(loaded.network, for: resolved, weightsPath: weights)
            let options = ScoreCAM.Options(weighting: weighting,
                                           topChannels: topChannels, batchSize: batchSize,
                                           threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                                           activationMemory: activationMemory << 20)
            let explainer: CAMExplainer
            do {
                let target = try loaded.network.camTarget(layer, inputHeight: prep.height, inputWidth: prep.width)
                if let warning = target.warning { Output.warn("\(weights): \(warning)") }
                explainer = try CAMExplainer(method: method, network: loaded.network, targetLayer: target.name,
                                             options: .init(scoreCAM: options, samples: samples, seed: seed))
            } catch {
                throw CLIError("\(weights): \(error)")
            }
            // With --json the heatmaps go to stdout; PNGs only when a directory is named.
            let pngDirectory = out ?? (json ? nil : ".")
            if let pngDirectory { try Files.ensureDirectory(pngDirectory) }
            var results: [HeatmapResult] = []
            for path in images {
                let image: RGBImage
                do { image = try PNGDecoder.decode(path: path) } catch { throw CLIError("\(error)") }
                let input = prep.tensor(from: [image])
                let progress = ProgressLine(label: URL(fileURLWithPath: path).lastPathComponent,
                                            enabled: !quiet && Runtime.stderrIsTerminal)
                let map: SaliencyMap
                do {
                    map = try explainer.explain(input, classIndex: classIndex) { done, total in progress.update(done, total) }
                } catch { throw CLIError("\(path): \(error)") }
                progress.finish()
                let metrics = try metricOptions.compute(network: loaded.network, input: input, map: map, image: image,
                                                        options: options, path: path)
                if map.isConstant {
                    Output.warn("\(path): the \(method.displayName) heatmap is constant (nothing raises class \(map.classIndex)); written as all zeros")
                }
                if let pngDirectory {
                    let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                    let destination = URL(fileURLWithPath: pngDirectory).appendingPathComponent("\(stem)-\(method.rawValue).png").path
                    let rgba = HeatmapOverlay.render(heatmap: map.values, width: map.width, height: map.height, over: image,
                                                     colormap: colormap, alpha: alpha)
                    do { try PNGEncoder.writeRGBA8(path: destination, width: image.width, height: image.height, pixels: rgba) } catch {
                        throw CLIError("\(error)")
                    }
                    if !json { print("\(path): class \(map.classIndex), layer \(explainer.targetName), \(method.displayName) → \(destination)") }
                }
                if let metrics, !json { print("\(path): \(ExplainMetricOptions.describe(metrics))") }
                results.append(HeatmapResult(image: path, class: map.classIndex, method: method.rawValue,
                                             layer: explainer.targetName, width: map.width, height: map.height,
                                             constant: map.isConstant, heatmap: map.values, metrics: metrics))
            }
            // Keyed by image path: per_probe of the summary names each image.
            let perImage = Dictionary(
                results.compactMap { r in r.metrics.map { (r.image, $0) } }, uniquingKeysWith: { first, _ in first })
            let summary = perImage.isEmpty
                ? nil : Report.CheckpointMetrics(perProbe: perImage, step: metricOptions.stepUsed(width: prep.width))
            Output.warn(resolved.summary)
            if json { try Output.printJSON(HeatmapReport(results: results, metrics: summary)) }
            if let summary, !json, results.count > 1 {
                print("mean over \(results.count) images: \(ExplainMetricOptions.describe(summary))")
            }
        }
    }
}

struct HeatmapResult: Codable {
    var image: String
    var `class`: Int
    var method: String
    var layer: String
    var width: Int
    var height: Int
    var constant: Bool
    var heatmap: [Float]
    var metrics: Report.ProbeMetrics?
}

struct HeatmapReport: Codable {
    var results: [HeatmapResult]
    /// The means over the images (`--metrics`).
    var metrics: Report.CheckpointMetrics?
}

/// A self-overwriting progress line on stderr: channels done / total and the rate.
struct ProgressLine: Sendable {
    let label: String
    let enabled: Bool
    let start = Date()

    init(label: String, enabled: Bool) {
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int, _ total: Int) {
        guard enabled else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        FileHandle.standardError.write(Data("\r\(label): \(done)/\(total) channels, \(String(format: "%.0f", rate))/s   ".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

enum Files {
    static func ensureDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CLIError("\(path): not a directory") }
            return
        }
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw CLIError("\(path): cannot create the directory (\(error.localizedDescription))")
        }
    }
}
