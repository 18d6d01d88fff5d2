import ArgumentParser
import CamwatchCheckpoint
import CamwatchDaemon
import CamwatchImage
import CamwatchNN
import CamwatchTensor
import Dispatch
import Foundation
import Synchronization

extension Camwatch {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Micro-benchmarks for Benchmarks/ scripts.", subcommands: [Machine.self, Forward.self, Sgemm.self, CAM.self])
    }
}

extension Camwatch.Bench {
    struct Forward: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time forward passes of a network on a random batch.",
            discussion: """
                With --workers W, W batches run at once, each on its own core with single-threaded BLAS (how
                Score-CAM scores its masked inputs); each sample is then the wall time of one round of W batches.
                With --layers, the time of every layer kind (and the slowest layers) over the timed passes is
                printed on stderr.
                """)

        @Option(name: .long, help: "The HDF5 checkpoint.")
        var weights: String

        @OptionGroup var model: ModelOptions

        @Option(name: .long, help: "Batch size.")
        var batch: Int = 16

        @Option(name: .long, help: "Input height and width (default: the checkpoint's input_size attribute, else the model spec's, else \(Preprocessing.defaultInputSize)).")
        var inputSize: Int?

        @Option(name: .customLong("repeat"), help: "Timed repetitions after one warm-up pass.")
        var repetitions: Int = 5

        @Option(name: .long, help: "Compute threads (default: all cores).")
        var threads: Int?

        @Option(name: .long, help: "Batches run at once, each with single-threaded BLAS (default: 1).")
        var workers: Int = 1

        @Flag(name: .long, help: "Time every layer (stderr).")
        var layers = false

        @Flag(name: .long, help: "Measure process CPU time instead of wall time (steadier on a shared machine).")
        var cpuTime = false

        @Flag(name: .long, help: "Print {\"seconds\": [...]} on stdout.")
        var json = false

        func validate() throws {
            guard batch >= 1, (inputSize ?? 1) >= 1, repetitions >= 1 else {
                throw ValidationError("--batch, --input-size and --repeat must be at least 1")
            }
            guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        }

        func run() throws {
            Runtime.configure(threads: workers > 1 ? 1 : threads)
            let loaded = try ModelCatalog.load(weightsPath: weights, options: model)
            let network = loaded.network.optimized()
            // The size by the rule every command follows; the values themselves are random.
            let resolved: ResolvedPreprocessing
            do {
                resolved = try PreprocessingResolver.resolve(
                    flags: PreprocessingValues(inputSize: inputSize), checkpoint: loaded.checkpoint, spec: loaded.spec)
            } catch { throw CLIError("\(error)") }
            let (height, width) = (resolved.preprocessing.height, resolved.preprocessing.width)
            do { try network.validate(inputHeight: height, inputWidth: width) } catch {
                throw CLIError("\(weights): \(error) (input \(height)×\(width) from \(resolved.sizeSource))")
            }
            var generator = SplitMix64(seed: 42)
            let count = batch * network.inputChannels * height * width
            let input = Tensor(shape: [batch, network.inputChannels, height, width],
                               scalars: (0..<count).map { _ in Float(generator.nextUnit() * 2 - 1) })
            let clock = cpuTime ? Clock.processCPU : Clock.wall
            let profile = LayerProfile(network: network, clock: cpuTime ? Clock.threadCPU : Clock.wall)
            let pass: @Sendable () -> Void = { [layers, workers] in
                if layers && workers == 1 { profile.forward(input) } else { _ = network(input) }
            }
            Self.round(workers: workers, pass)
            profile.reset()
            var seconds: [Double] = []
            for _ in 0..<repetitions {
                let start = clock.seconds()
                Self.round(workers: workers, pass)
                seconds.append(clock.seconds() - start)
            }
            if layers { profile.report(passes: repetitions) }
            Output.warn("input: \(height)×\(width) (\(resolved.size.rawValue)), random values")
            if json {
                try Output.printJSON(["seconds": seconds])
            } else {
                let sorted = seconds.sorted()
                let median = String(format: "%.3f", sorted[sorted.count / 2]), least = String(format: "%.3f", sorted[0])
                print("forward \(workers) × batch \(batch) at \(height)x\(width): "
                    + "median \(median) s, min \(least) s")
            }
        }

        /// One forward pass per worker, all at once.
        static func round(workers: Int, _ pass: @Sendable () -> Void) {
            if workers == 1 { pass() } else { DispatchQueue.concurrentPerform(iterations: workers) { _ in pass() } }
        }
    }

    struct Sgemm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure this machine's single-precision matrix product rate (OpenBLAS sgemm), GFLOP/s.",
            discussion: """
                Times square products of --size (2·n³ flops each). With --workers W, W products run at once, each
                with single-threaded BLAS (Score-CAM's arrangement); otherwise one product with --threads BLAS
                threads. Prints the best rate over the repetitions.
                """)

        @Option(name: .long, help: "Matrix size n (n×n times n×n).")
        var size: Int = 1024

        @Option(name: .customLong("repeat"), help: "Timed repetitions after one warm-up product.")
        var repetitions: Int = 5

        @Option(name: .long, help: "BLAS threads for one product (default: all cores).")
        var threads: Int?

        @Option(name: .long, help: "Products run at once, each with single-threaded BLAS (default: 1).")
        var workers: Int = 1

        @Flag(name: .long, help: "Print {\"gflops\": best, \"samples\": [...]} on stdout.")
        var json = false

        func validate() throws {
            guard size >= 16, repetitions >= 1, workers >= 1 else {
                throw ValidationError("--size must be at least 16, --repeat and --workers at least 1")
            }
        }

        func run() throws {
            Runtime.configure(threads: workers > 1 ? 1 : threads)
            let n = size
            var generator = SplitMix64(seed: 7)
            let a = (0..<(n * n)).map { _ in Float(generator.nextUnit() - 0.5) }
            let b = (0..<(n * n)).map { _ in Float(generator.nextUnit() - 0.5) }
            let product: @Sendable () -> Void = {
                var c = [Float](repeating: 0, count: n * n)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            MatrixMultiply.gemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n,
                                                b: pb.baseAddress!, ldb: n, c: pc.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            Forward.round(workers: workers, product)
            var rates: [Double] = []
            for _ in 0..<repetitions {
                let start = DispatchTime.now().uptimeNanoseconds
                Forward.round(workers: workers, product)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                rates.append(Double(workers) * 2 * Double(n) * Double(n) * Double(n) / seconds / 1e9)
            }
            let best = rates.max() ?? 0
            if json {
                try Output.printJSON(SgemmReport(gflops: best, samples: rates, size: n, workers: workers,
                                                 blasThreads: ComputeThreads.blasThreads))
            } else {
                print("sgemm \(n)³, \(workers) worker(s) × \(ComputeThreads.blasThreads) BLAS thread(s): "
                    + "best \(String(format: "%.1f", best)) GFLOP/s")
            }
        }
    }
}

extension Camwatch.Bench {
    struct Machine: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cpu",
            abstract: "Print the CPU, its vector instructions, the BLAS kernels and camwatch's own kernels in use.",
            discussion: """
                The BLAS core is the one this process runs after camwatch's start-up check, which restarts the
                process with OPENBLAS_CORETYPE when the library picked kernels narrower than the CPU's vectors.
                """)

        @Flag(name: .long, help: "Print one JSON object on stdout.")
        var json = false

        func run() throws {
            let cpu = CPUDescription.current()
            let report = MachineReport(
                cpu: cpu?.model ?? "unknown", vendor: cpu?.vendor ?? "unknown",
                vectors: cpu?.vectorLevel.description ?? "unknown", blasCore: BLASCore.current,
                blasCoreVectors: BLASCore.vectorLevel(ofCore: BLASCore.current)?.description ?? "unknown",
                blasConfiguration: BLASCore.configuration, kernels: KernelLevel.best.description,
                cores: ProcessInfo.processInfo.activeProcessorCount, note: Runtime.blasNote)
            if json {
                try Output.printJSON(report)
            } else {
                print("CPU: \(report.cpu) (\(report.vendor), \(report.cores) cores), vectors \(report.vectors)")
                print("BLAS: \(report.blasConfiguration); core \(report.blasCore) (\(report.blasCoreVectors))")
                print("camwatch kernels: \(report.kernels)")
                if let note = report.note { print("note: \(note)") }
            }
        }
    }
}

struct MachineReport: Codable {
    var cpu: String
    var vendor: String
    var vectors: String
    var blasCore: String
    var blasCoreVectors: String
    var blasConfiguration: String
    /// The width of camwatch's own vector kernels (``KernelLevel/best``).
    var kernels: String
    var cores: Int
    var note: String?
}

struct SgemmReport: Codable {
    var gflops: Double
    var samples: [Double]
    var size: Int
    var workers: Int
    var blasThreads: Int
}

/// Per-layer wall times of forward passes, summed by layer kind and by node.
final class LayerProfile: Sendable {
    let network: Network
    let clock: Clock
    private let totals: Mutex<[Double]>

    init(network: Network, clock: Clock) {
        self.network = network
        self.clock = clock
        totals = Mutex([Double](repeating: 0, count: network.nodes.count))
    }

    /// A forward pass that evaluates the nodes one by one with a clock around each.
    func forward(_ input: Tensor) {
        let nodes = network.nodes
        var lastUse = [Int](repeating: -1, count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for source in node.inputs where source >= 0 { lastUse[source] = index }
        }
        var values = [Tensor?](repeating: nil, count: nodes.count)
        var seconds = [Double](repeating: 0, count: nodes.count)
        for index in 0...network.outputIndex {
            let node = nodes[index]
            let arguments = node.inputs.map { $0 == Network.inputIndex ? input : (values[$0] ?? input) }
            for source in node.inputs where source >= 0 && lastUse[source] == index { values[source] = nil }
            let start = clock.seconds()
            let value = node.layer(arguments)
            seconds[index] = clock.seconds() - start
            if lastUse[index] > index { values[index] = value }
        }
        totals.withLock { t in for i in t.indices { t[i] += seconds[i] } }
    }

    func reset() { totals.withLock { t in for i in t.indices { t[i] = 0 } } }

    /// Prints time per pass by layer kind, then the ten slowest nodes, on stderr.
    func report(passes: Int) {
        let t = totals.withLock { $0 }
        let all = t.reduce(0, +)
        guard all > 0 else { return }
        var byKind: [String: Double] = [:]
        for (index, node) in network.nodes.enumerated() {
            var kind = node.layer.opName
            if case .conv2d(let conv) = node.layer {
                let g = conv.geometry
                let path = conv.groups > 1 && conv.groups == conv.weight.shape[0] ? "depthwise"
                    : conv.groups > 1 ? "grouped" : conv.winograd != nil ? "winograd" : g.isPointwise ? "1x1" : "im2col"
                kind = "conv \(g.kernelHeight)x\(g.kernelWidth)/\(g.strideHeight) \(path)"
            }
            byKind[kind, default: 0] += t[index]
        }
        var lines = ["per pass: \(String(format: "%.1f", all / Double(passes) * 1000)) ms in layers"]
        for (kind, value) in byKind.sorted(by: { $0.value > $1.value }) where value > 0 {
            lines.append("  " + Self.padded(kind) + String(format: " %8.2f ms  %5.1f %%", value / Double(passes) * 1000,
                                                                 value / all * 100))
        }
        lines.append("slowest layers:")
        for index in t.indices.sorted(by: { t[$0] > t[$1] }).prefix(10) {
            lines.append("  " + Self.padded(network.nodes[index].name)
                + String(format: " %8.2f ms", t[index] / Double(passes) * 1000))
        }
        Output.warn(lines.joined(separator: "\n"))
    }

    static func padded(_ text: String) -> String {
        text.count >= 28 ? text : text + String(repeating: " ", count: 28 - text.count)
    }
}

/// Wall time, or CPU time of the process or the calling thread.
enum Clock: Sendable {
    case wall, processCPU, threadCPU

    func seconds() -> Double {
        var t = timespec()
        switch self {
        case .wall: clock_gettime(CLOCK_MONOTONIC, &t)
        case .processCPU: clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        case .threadCPU: clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        }
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

extension SplitMix64 {
    /// A uniform double in [0, 1), for benchmark inputs that are the same every run.
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
