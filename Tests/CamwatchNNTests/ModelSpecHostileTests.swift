import CamwatchCheckpoint
import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// A checkpoint's `camwatch_model` attribute is untrusted input bound inside the daemon (docs/reliability.md): every
/// damaged spec must bind or throw, never trap. A trap kills the test process, which is the failure signal
/// of the sweeps below; they also check that both outcomes occur, so they cannot pass vacuously.
@Suite struct ModelSpecHostileTests {
    /// The sample checkpoint's own spec and weights (Checkpoints/epoch-001.h5).
    static func sample() throws -> (text: String, tensors: [String: Tensor]) {
        let checkpoint = try CheckpointLoader.load(path: Fixtures.packageRoot.appendingPathComponent("Checkpoints/epoch-001.h5").path)
        return (try #require(checkpoint.modelSpec), checkpoint.tensors)
    }

    /// A small spec with the ops and keys the sample lacks: padding layer, strided, grouped, dilated and
    /// `same`-padded convolutions, both poolings with padding and ceil mode, a broadcast product, concat,
    /// add, the ops of converted graphs (layer and group norm, scale, channel shuffle and slice, channel-wise
    /// linear, scalar affine, sub, `same` pooling, crop), adaptive pooling, flatten and linear.
    static let wide = """
        {"name": "wide", "input_channels": 3, "input_size": [12, 10], "output": "fc", "layers": [
          {"name": "pad", "op": "zeropad", "padding": [1, 0, 2, 1]},
          {"name": "c1", "op": "conv2d", "out_channels": 4, "kernel": 3, "stride": [1, 2], "padding": 1, "dilation": 1},
          {"name": "c2", "op": "conv2d", "out_channels": 4, "kernel": 3, "padding": "same", "groups": 2, "dilation": 2},
          {"name": "bn", "op": "batchnorm", "eps": 0.001},
          {"name": "act", "op": "leaky_relu", "negative_slope": 0.1},
          {"name": "mp", "op": "maxpool", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": true},
          {"name": "ap", "op": "avgpool", "kernel": [2, 1], "stride": 1, "padding": [1, 0], "count_include_pad": false,
           "inputs": ["act"]},
          {"name": "g", "op": "global_avgpool", "inputs": ["mp"]},
          {"name": "gate", "op": "mul", "inputs": ["mp", "g"]},
          {"name": "cat", "op": "concat", "inputs": ["gate", "mp"]},
          {"name": "sum", "op": "add", "inputs": ["cat", "cat"]},
          {"name": "ln", "op": "layernorm", "eps": 0.000001},
          {"name": "gn", "op": "groupnorm", "groups": 2, "eps": 0.001},
          {"name": "sc", "op": "scale", "parameter": "gamma"},
          {"name": "cs", "op": "channel_shuffle", "groups": 4},
          {"name": "sa", "op": "scalar_affine", "multiplier": 0.5, "offset": 1},
          {"name": "cl", "op": "channel_linear", "out_features": 8},
          {"name": "sl", "op": "slice", "start": 0, "end": 8},
          {"name": "gs", "op": "global_avgpool", "inputs": ["sum"]},
          {"name": "d", "op": "sub", "inputs": ["sl", "gs"]},
          {"name": "ms", "op": "maxpool", "kernel": 2, "stride": 1, "padding": "same"},
          {"name": "as", "op": "avgpool", "kernel": [3, 2], "stride": [1, 2], "padding": "same"},
          {"name": "cr", "op": "crop", "cropping": [1, 0, 0, 1]},
          {"name": "aa", "op": "adaptive_avgpool", "output_size": [2, 3]},
          {"name": "flat", "op": "flatten"},
          {"name": "fc", "op": "linear", "out_features": 5}
        ]}
        """

    static let wideTensors: [String: Tensor] = {
        func ramp(_ shape: [Int]) -> Tensor {
            let count = shape.reduce(1, *)
            return Tensor(shape: shape, scalars: (0..<count).map { Float($0 % 5 - 2) / 8 })
        }
        return [
            "c1.weight": ramp([4, 3, 3, 3]), "c1.bias": ramp([4]), "c2.weight": ramp([4, 2, 3, 3]),
            "bn.weight": ramp([4]), "bn.bias": ramp([4]), "bn.running_mean": ramp([4]),
            "bn.running_var": Tensor(shape: [4], repeating: 0.5), "fc.weight": ramp([5, 48]), "fc.bias": ramp([5]),
            "ln.weight": ramp([8]), "gn.bias": ramp([8]), "gamma": ramp([1, 8, 1, 1]), "cl.weight": ramp([8, 8]),
        ]
    }()

    /// What happened to one spec text.
    enum Outcome: Equatable { case rejected, bound, ran }

    /// Parses, binds and sizes `text` (at its declared input size and at 12×10), and runs the network when
    /// it is small. Every step may throw; none may trap.
    static func exercise(_ text: String, tensors: [String: Tensor]) -> Outcome {
        let network: Network
        do { network = try Network(spec: try ModelSpec.parse(text), parameters: tensors) } catch {
            #expect(!"\(error)".contains("\n"), "a multi-line error: \(error)")
            return .rejected
        }
        if let size = try? ModelSpec.parse(text).inputSize {
            _ = try? network.shapes(inputHeight: size.height, inputWidth: size.width)
        }
        guard network.inputChannels <= 8, let shapes = try? network.shapes(inputHeight: 12, inputWidth: 10),
            shapes.reduce(0, { $0 + $1.reduce(1, *) }) <= 1 << 16
        else { return .bound }
        let count = network.inputChannels * 120
        let input = Tensor(shape: [1, network.inputChannels, 12, 10], scalars: (0..<count).map { Float($0 % 9) / 9 })
        let output = network(input)
        #expect(output.shape == shapes[network.outputIndex])
        return .ran
    }

    /// Values a damaged spec may hold where an integer belongs.
    static var hostileValues: [Any] { [0, -1, -4097, 4097, 65_536, 1 << 31, 1 << 40, Int.max, Int.min, 1e300, 0.5, -0.0] }

    /// Every way to replace one number in a JSON tree: (the tree with the number replaced) for each value.
    static func numericMutations(of tree: Any, values: [Any]) -> [Any] {
        // Booleans are NSNumbers too; replacing one only makes the spec undecodable, which is fine.
        if tree is NSNumber { return values }
        if let array = tree as? [Any] {
            return array.indices.flatMap { index in
                numericMutations(of: array[index], values: values).map { replacement -> Any in
                    var copy = array
                    copy[index] = replacement
                    return copy
                }
            }
        }
        if let object = tree as? [String: Any] {
            return object.keys.sorted().flatMap { key in
                numericMutations(of: object[key] as Any, values: values).map { replacement -> Any in
                    var copy = object
                    copy[key] = replacement
                    return copy
                }
            }
        }
        return []
    }

    static func json(_ tree: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test("each number of a valid spec set to 0, -1, Int.max, 2^40, 1e300, … binds or throws", arguments: [false, true])
    func everyNumberMutated(wide: Bool) throws {
        let (text, tensors) = wide ? (Self.wide, Self.wideTensors) : try Self.sample()
        #expect(Self.exercise(text, tensors: tensors) == .ran, "the unmutated spec runs")
        let tree = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let mutations = Self.numericMutations(of: tree, values: Self.hostileValues)
        #expect(mutations.count > 100)
        var outcomes: [Outcome: Int] = [:]
        for mutation in mutations { outcomes[Self.exercise(try Self.json(mutation), tensors: tensors), default: 0] += 1 }
        #expect(outcomes[.rejected, default: 0] > 0 && outcomes[.ran, default: 0] > 0, "\(outcomes)")
    }

    @Test("each key a layer may take, added with a hostile value to every layer, binds or throws", arguments: [false, true])
    func everyKeyAdded(wide: Bool) throws {
        let (text, tensors) = wide ? (Self.wide, Self.wideTensors) : try Self.sample()
        let tree = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let layers = try #require(tree["layers"] as? [[String: Any]])
        let keys = ["kernel", "stride", "dilation", "groups", "out_channels", "out_features", "output_size", "padding", "eps",
                    "negative_slope", "start", "end", "multiplier", "offset", "cropping"]
        let values: [Any] = [0, -1, Int.max, 1 << 40, 4097, [1, -1], [Int.max, 1], [0, 0, 0, -5], [-1, 1 << 62, 0, 0],
                             Double.greatestFiniteMagnitude]
        var outcomes: [Outcome: Int] = [:]
        for index in layers.indices {
            for key in keys {
                for value in values {
                    var mutated = tree
                    var copy = layers
                    copy[index][key] = value
                    mutated["layers"] = copy
                    outcomes[Self.exercise(try Self.json(mutated), tensors: tensors), default: 0] += 1
                }
            }
        }
        for key in ["input_channels", "input_size"] {
            for value in values {
                var mutated = tree
                mutated[key] = value
                outcomes[Self.exercise(try Self.json(mutated), tensors: tensors), default: 0] += 1
            }
        }
        #expect(outcomes[.rejected, default: 0] > 0 && outcomes[.ran, default: 0] > 0, "\(outcomes)")
    }

    @Test("3000 seeded random bit flips of the JSON text each bind or throw", arguments: [false, true])
    func randomBitFlips(wide: Bool) throws {
        let (text, tensors) = wide ? (Self.wide, Self.wideTensors) : try Self.sample()
        var random = SeededGenerator(seed: wide ? 18 : 1818)
        var outcomes: [Outcome: Int] = [:]
        for _ in 0..<3000 {
            var bytes = Array(text.utf8)
            for _ in 0...(random.next() % 3) {
                let bit = Int(random.next() % UInt64(bytes.count * 8))
                bytes[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
            }
            outcomes[Self.exercise(String(decoding: bytes, as: UTF8.self), tensors: tensors), default: 0] += 1
        }
        #expect(outcomes[.rejected, default: 0] > 0 && outcomes[.ran, default: 0] > 0, "\(outcomes)")
    }

    @Test(arguments: [
        (#"{"name": "x", "layers": [{"name": "c", "op": "conv2d", "kernel": 0}]}"#, "layer 'c' kernel = 0 is outside 1...4096"),
        (#"{"name": "x", "layers": [{"name": "c", "op": "conv2d", "stride": -1}]}"#, "layer 'c' stride = -1 is outside"),
        (#"{"name": "x", "layers": [{"name": "c", "op": "conv2d", "dilation": [1, 0]}]}"#, "layer 'c' dilation = 0"),
        (#"{"name": "x", "layers": [{"name": "c", "op": "conv2d", "groups": 0}]}"#, "layer 'c' groups = 0"),
        (#"{"name": "x", "layers": [{"name": "c", "op": "conv2d", "out_channels": -3}]}"#, "out_channels = -3"),
        (#"{"name": "x", "layers": [{"name": "c", "op": "conv2d", "padding": [0, 0, 0, -1]}]}"#, "padding = -1"),
        (#"{"name": "x", "layers": [{"name": "z", "op": "zeropad", "padding": 9223372036854775807}]}"#, "padding = 9223372036854775807"),
        (#"{"name": "x", "input_size": 0, "layers": [{"name": "r", "op": "relu"}]}"#, "input_size = 0"),
        (#"{"name": "x", "input_channels": 4611686018427387904, "layers": [{"name": "r", "op": "relu"}]}"#, "input_channels"),
        (#"{"name": "x", "layers": [{"name": "a", "op": "adaptive_avgpool", "output_size": 100000}]}"#, "output_size = 100000"),
        (#"{"name": "x", "layers": [{"name": "b", "op": "batchnorm", "eps": -1}]}"#, "eps = -1.0"),
        (#"{"name": "x", "layers": [{"name": "p", "op": "maxpool", "kernel": 2, "padding": 2}]}"#, "padding must be at most half the kernel"),
    ])
    func outOfRangeValuesAreNamed(text: String, expected: String) throws {
        let error = try #require(throws: NetworkError.self) { _ = try Network(spec: try ModelSpec.parse(text), parameters: [:]) }
        #expect(error.message.contains(expected), "\(error.message)")
    }

    @Test("a zero-sized weight tensor is a shape mismatch, not a kernel of 0")
    func emptyWeightDimension() throws {
        let spec = try ModelSpec.parse(#"{"name": "x", "layers": [{"name": "c", "op": "conv2d"}]}"#)
        let error = try #require(throws: NetworkError.self) {
            _ = try Network(spec: spec, parameters: ["c.weight": Tensor(shape: [4, 3, 0, 3])])
        }
        #expect(error.message.contains("shape mismatch") && error.message.contains("[4, 3, 0, 3]"), "\(error.message)")
    }

    @Test("absurd input sizes and activations beyond the memory budget throw from shapes()")
    func shapesWithinBudget() throws {
        let spec = try ModelSpec.parse(#"{"name": "x", "layers": [{"name": "c", "op": "conv2d"}, {"name": "z", "op": "zeropad", "padding": 100}]}"#)
        let network = try Network(spec: spec, parameters: ["c.weight": Tensor(shape: [64, 3, 1, 1], repeating: 1)])
        for (height, width) in [(Int.max, Int.max), (0, 5), (-1, -1), (4097, 1), (1, Int.min)] {
            let error = try #require(throws: NetworkError.self) { _ = try network.shapes(inputHeight: height, inputWidth: width) }
            #expect(error.message.contains("outside 1...4096"), "\(error.message)")
        }
        // 64 × 2048 × 2048 = 2^28 values: at the limit; the padding layer after it goes beyond.
        let error = try #require(throws: NetworkError.self) { _ = try network.shapes(inputHeight: 2048, inputWidth: 2048) }
        #expect(error.message.contains("layer 'z' (zeropad) would output [1, 64, 2248, 2248]"), "\(error.message)")
        #expect(try network.shapes(inputHeight: 64, inputWidth: 64)[1] == [1, 64, 264, 264])
        #expect(throws: NetworkError.self) { _ = try network.shapes(inputHeight: 4, inputWidth: 4, batch: Int.max) }
    }
}
