import ArgumentParser
import CamwatchCheckpoint
import CamwatchDaemon
import CamwatchImage
import CamwatchNN
import CamwatchTensor
import Foundation

extension Camwatch {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classify images with a checkpoint: top-5 classes with softmax scores.")

        @Argument(help: "PNG images.")
        var images: [String]

        @Option(name: .long, help: "The HDF5 checkpoint.")
        var weights: String

        @OptionGroup var model: ModelOptions
        @OptionGroup var preprocessing: PreprocessingOptions

        @Flag(name: .long, help: "Print JSON with the raw logits on stdout.")
        var json = false

        @Option(name: .long, help: "Compute threads (default: all cores).")
        var threads: Int?

        func run() throws {
            Runtime.configure(threads: threads)
            let loaded = try ModelCatalog.load(weightsPath: weights, options: model)
            let resolved = try preprocessing.resolve(for: loaded)
            try ImageInput.validate(loaded.network, for: resolved, weightsPath: weights)
            let input = try ImageInput.load(images, preprocessing: resolved.preprocessing)
            let logits = loaded.network(input)
            let classes = logits.shape[1]
            var results: [PredictionResult] = []
            for (n, image) in images.enumerated() {
                let row = Array(logits.scalars[(n * classes)..<((n + 1) * classes)])
                let probabilities = Elementwise.softmax(row)
                let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
                let top = ranked.prefix(5).map { RankedClass(class: $0, score: probabilities[$0]) }
                results.append(PredictionResult(image: image, class: ranked[0], score: probabilities[ranked[0]],
                                                top5: top, logits: row))
            }
            Output.warn(resolved.summary)
            if json {
                try Output.printJSON(PredictionReport(results: results))
            } else {
                for result in results {
                    let top = result.top5.map { "\($0.class) (\(String(format: "%.4f", $0.score)))" }.joined(separator: "  ")
                    print("\(result.image): \(top)")
                }
            }
        }
    }
}

struct RankedClass: Codable {
    var `class`: Int
    var score: Float
}

struct PredictionResult: Codable {
    var image: String
    var `class`: Int
    var score: Float
    var top5: [RankedClass]
    var logits: [Float]
}

struct PredictionReport: Codable {
    var results: [PredictionResult]
}
