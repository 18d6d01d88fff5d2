import ArgumentParser
import CamwatchNN
import CamwatchTensor
import Foundation

extension Camwatch {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Micro-benchmarks for Benchmarks/ scripts.", subcommands: [Forward.self])
    }
}

extension Camwatch.Bench {
    struct Forward: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time forward passes of a network on a random batch.")

        @Option(name: .long, help: "The HDF5 checkpoint.")
        var weights: String

        @OptionGroup var model: ModelOptions

        @Option(name: .long, help: "Batch size.")
        var batch: Int = 16

        @Option(name: .long, help: "Input height and width.")
        var inputSize: Int = 224

        @Option(name: .customLong("repeat"), help: "Timed repetitions after one warm-up pass.")
        var repetitions: Int = 5

        @Option(name: .long, help: "Compute threads (default: all cores).")
        var threads: Int?

        @Flag(name: .long, help: "Print {\"seconds\": [...]} on stdout.")
        var json = false

        func run() throws {
            Runtime.configure(threads: threads)
            let loaded = try ModelCatalog.load(weightsPath: weights, options: model)
            let network = loaded.network.optimized()
            do { try network.validate(inputHeight: inputSize, inputWidth: inputSize) } catch { throw CLIError("\(weights): \(error)") }
            var generator = SplitMix64(seed: 42)
            let count = batch * network.inputChannels * inputSize * inputSize
            let input = Tensor(shape: [batch, network.inputChannels, inputSize, inputSize],
                               scalars: (0..<count).map { _ in Float(generator.nextUnit() * 2 - 1) })
            _ = network(input)
            var seconds: [Double] = []
            for _ in 0..<max(1, repetitions) {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = network(input)
                seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            if json {
                try Output.printJSON(["seconds": seconds])
            } else {
                let sorted = seconds.sorted()
                print("forward batch \(batch) at \(inputSize)x\(inputSize): median \(String(format: "%.3f", sorted[sorted.count / 2])) s")
            }
        }
    }
}

/// A small seeded generator so benchmark inputs are the same every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
