import ArgumentParser
import CamwatchCheckpoint
import CamwatchDaemon
import CamwatchImage
import CamwatchSaliency
import CamwatchTensor
import Foundation

extension Camwatch.Bench {
    struct CAM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cam",
            abstract: "Time one CAM method on one image inside the process (as a peer's call is timed).",
            discussion: """
                Each sample is the wall time of preparing the method for the network (batch-norm folding,
                Winograd filters) and explaining the image (with --prepare-once: explaining only); one untimed
                call first. Benchmarks/scorecam_bench.py
                --method uses it beside pytorch-grad-cam's call of the same method.
                """)

        @Argument(help: "A PNG image at the network's input size.")
        var image: String

        @Option(name: .long, help: "The HDF5 checkpoint.")
        var weights: String

        @OptionGroup var model: ModelOptions
        @OptionGroup var preprocessing: PreprocessingOptions

        @Option(name: .long, help: "CAM method: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
        var method: CAMMethod = .gradCAM

        @Option(name: .long, help: "Target layer name or module prefix.")
        var layer: String?

        @Option(name: .customLong("class"), help: "Class index to explain (default: the predicted class).")
        var classIndex: Int?

        @Option(name: .customLong("repeat"), help: "Timed repetitions after one warm-up call.")
        var repetitions: Int = 5

        @Option(name: .long, help: "Compute threads (default: all cores).")
        var threads: Int?

        @Flag(name: .long, help: "Prepare the method once, outside the timed calls (as the watcher does per checkpoint).")
        var prepareOnce = false

        func validate() throws {
            guard repetitions >= 1 else { throw ValidationError("--repeat must be at least 1") }
        }

        func run() throws {
            Runtime.configure(threads: threads)
            let loaded = try ModelCatalog.load(weightsPath: weights, options: model)
            let resolved = try preprocessing.resolve(for: loaded)
            let prep = resolved.preprocessing
            try ImageInput.validate(loaded.network, for: resolved, weightsPath: weights)
            let decoded: RGBImage
            do { decoded = try PNGDecoder.decode(path: image) } catch { throw CLIError("\(error)") }
            let input = prep.tensor(from: [decoded])
            let options = CAMExplainer.Options(scoreCAM: ScoreCAM.Options(
                threads: threads ?? ProcessInfo.processInfo.activeProcessorCount))
            let target: CAMTarget
            do { target = try loaded.network.camTarget(layer, inputHeight: prep.height, inputWidth: prep.width) } catch {
                throw CLIError("\(weights): \(error)")
            }
            if let warning = target.warning { Output.warn("\(weights): \(warning)") }
            func prepare() throws -> CAMExplainer {
                do { return try CAMExplainer(method: method, network: loaded.network, targetLayer: target.name, options: options) } catch {
                    throw CLIError("\(weights): \(error)")
                }
            }
            let prepared = prepareOnce ? try prepare() : nil
            func call() throws -> SaliencyMap {
                let explainer = try prepared ?? prepare()
                do { return try explainer.explain(input, classIndex: classIndex) } catch { throw CLIError("\(image): \(error)") }
            }
            var map = try call()
            var seconds: [Double] = []
            for _ in 0..<repetitions {
                let start = Clock.wall.seconds()
                map = try call()
                seconds.append(Clock.wall.seconds() - start)
            }
            Output.warn(resolved.summary)
            try Output.printJSON(CAMBenchReport(method: method.rawValue, seconds: seconds, width: map.width,
                                                height: map.height, heatmap: map.values))
        }
    }
}

struct CAMBenchReport: Codable {
    var method: String
    var seconds: [Double]
    var width: Int
    var height: Int
    var heatmap: [Float]
}
