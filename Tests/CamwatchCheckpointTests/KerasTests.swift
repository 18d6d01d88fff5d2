@testable import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// Checkpoints written by Keras 3 (TensorFlow and PyTorch backends) and tf-keras (Scripts/fixtures/make_keras_fixtures.py), against the logits
/// Keras computed for the same inputs.
@Suite struct KerasTests {
    /// A fixture's input (channels-first) and Keras's logits before the final softmax.
    struct Reference {
        var input: Tensor
        var logits: Tensor
    }

    static func reference(_ stem: String) throws -> Reference {
        let file = try CheckpointLoader.load(path: Fixtures.path("keras/\(stem).ref.h5"), format: "pytorch-state-dict")
        let input = try #require(file.tensors["input"])
        let logits = try #require(file.tensors["logits"])
        return Reference(input: channelsFirst(input), logits: logits)
    }

    /// `[N, H, W, C]` → `[N, C, H, W]`.
    static func channelsFirst(_ x: Tensor) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = [Float](repeating: 0, count: x.scalarCount)
        for i in 0..<n {
            for y in 0..<h {
                for xx in 0..<w {
                    for ch in 0..<c { out[((i * c + ch) * h + y) * w + xx] = x.scalars[((i * h + y) * w + xx) * c + ch] }
                }
            }
        }
        return Tensor(shape: [n, c, h, w], scalars: out)
    }

    static func network(_ file: String, model: String? = nil) throws -> (Network, Checkpoint, ModelSpec) {
        let path = Fixtures.path("keras/\(file)")
        let checkpoint = try CheckpointLoader.load(path: path)
        let source: ArchitectureSource = model.map { .specFile(Fixtures.path("keras/\($0)")) } ?? .automatic
        let bound = try source.network(for: checkpoint, path: path)
        return (bound.network, checkpoint, bound.spec)
    }

    /// Every element within 1e-4 of the reference, relative to the reference's largest magnitude.
    static func expectLogits(_ network: Network, _ reference: Reference, _ label: String) {
        let output = network(reference.input)
        #expect(output.shape == reference.logits.shape, "\(label): shape \(output.shape)")
        guard output.shape == reference.logits.shape else { return }
        let scale = max(reference.logits.scalars.map(abs).max() ?? 1, 1)
        let worst = maxAbsoluteDifference(output.scalars, reference.logits.scalars)
        #expect(worst <= 1e-4 * scale, "\(label): max |Δ| \(worst) against logits up to \(scale)")
    }

    static let cases: [(file: String, format: String, model: String?, reference: String)] = [
        ("functional.keras", "keras", nil, "functional"),
        ("functional.weights.h5", "keras-weights", "functional.json", "functional"),
        ("functional.weights.h5", "keras-weights", "functional.keras", "functional"),
        ("functional.legacy.h5", "keras-h5", nil, "functional"),
        ("sequential.keras", "keras", nil, "sequential"),
        ("sequential.weights.h5", "keras-weights", "sequential.json", "sequential"),
        ("sequential.legacy.h5", "keras-h5", nil, "sequential"),
        ("nested.keras", "keras", nil, "nested"),
        ("nested.weights.h5", "keras-weights", "nested.json", "nested"),
        ("nested.legacy.h5", "keras-h5", nil, "nested"),
        ("transfer.keras", "keras", nil, "transfer"),
        ("transfer.weights.h5", "keras-weights", "transfer.json", "transfer"),
        ("transfer.legacy.h5", "keras-h5", nil, "transfer"),
        ("mobilenetv2.keras", "keras", nil, "mobilenetv2"),
        ("convnext_block.keras", "keras", nil, "convnext_block"),
        ("mobilenetv3_block.keras", "keras", nil, "mobilenetv3_block"),
        ("inception_block.keras", "keras", nil, "inception_block"),
        ("torch_functional.keras", "keras", nil, "torch_functional"),
        ("tfk_functional.h5", "keras-h5", nil, "tfk_functional"),
        ("tfk_functional_weights.h5", "keras-h5-weights", "tfk_functional.json", "tfk_functional"),
        ("tfk_nested.h5", "keras-h5", nil, "tfk_nested"),
        ("tfk_nested.keras", "keras", nil, "tfk_nested"),
        ("tfk_transfer.h5", "keras-h5", nil, "tfk_transfer"),
        ("tfk_transfer_weights.h5", "keras-h5-weights", "tfk_transfer.json", "tfk_transfer"),
        ("tfk_nested_weights.h5", "keras-h5-weights", "tfk_nested.json", "tfk_nested"),
    ]

    @Test(arguments: cases.indices)
    func logitsMatchKeras(_ index: Int) throws {
        let c = Self.cases[index]
        let (network, checkpoint, _) = try Self.network(c.file, model: c.model)
        #expect(checkpoint.format == c.format, "\(c.file)")
        Self.expectLogits(network, try Self.reference(c.reference), c.file)
    }

    @Test func fileCarriesItsArchitecture() throws {
        let (network, checkpoint, spec) = try Self.network("functional.keras")
        #expect(checkpoint.modelSpec != nil)
        #expect(spec.inputSize == IntPair(16, 16))
        #expect(spec.inputChannels == 3)
        // Keras layer names are the node names; the final softmax is left out, the output is the logits.
        let names = network.nodes.map(\.name)
        for name in ["stem_conv", "stem_bn", "dw", "se_excite", "residual", "sep/depthwise", "sep", "last_conv", "last_relu"] {
            #expect(names.contains(name), "missing node \(name) in \(names)")
        }
        #expect(spec.output == "classifier/dense")
        #expect(network.nodes[network.outputIndex].name == "classifier/dense")
        #expect(network.candidateTargetNames().contains("last_conv"))
    }

    @Test func weightsAloneNeedAModel() throws {
        let path = Fixtures.path("keras/functional.weights.h5")
        let checkpoint = try CheckpointLoader.load(path: path)
        #expect(checkpoint.modelSpec == nil)
        let error = #expect(throws: ArchitectureError.self) {
            _ = try ArchitectureSource.zoo("resnet18").network(for: checkpoint, path: path)
        }
        #expect(error?.description.contains("needs its model") == true)
    }

    @Test func modelJSONBesideWeights() throws {
        let directory = try Fixtures.temporaryDirectory("keras-beside")
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("epoch-03.weights.h5").path
        try FileManager.default.copyItem(atPath: Fixtures.path("keras/tfk_functional_weights.h5"), toPath: weights)
        try FileManager.default.copyItem(atPath: Fixtures.path("keras/tfk_functional.json"),
                                         toPath: directory.appendingPathComponent("model.json").path)
        let checkpoint = try CheckpointLoader.load(path: weights)
        let bound = try ArchitectureSource.automatic.network(for: checkpoint, path: weights)
        Self.expectLogits(bound.network, try Self.reference("tfk_functional"), "beside")
    }

    @Test func unsupportedLayerIsOneLineNamingIt() throws {
        let json = """
            {"class_name": "Sequential", "config": {"name": "s", "layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}},
              {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": [3, 3], "padding": "same"}},
              {"class_name": "LSTM", "config": {"name": "memory", "units": 4}}]}}
            """
        let error = #expect(throws: KerasError.self) { _ = try KerasModel(json: json) }
        #expect(error?.description == "layer 'memory' (LSTM) is not a layer camwatch can build")
    }

    @Test func kerasTwoHardSigmoidIsRefused() throws {
        let json = """
            {"class_name": "Sequential", "config": {"name": "s", "layers": [
              {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8, 8, 3], "name": "in"}},
              {"class_name": "Activation", "config": {"name": "gate", "activation": "hard_sigmoid"}}]}}
            """
        let error = #expect(throws: KerasError.self) { _ = try KerasModel(json: json) }
        #expect(error?.description.hasPrefix("layer 'gate' (Activation) uses Keras 2's hard_sigmoid") == true)
    }

    @Test func epochComesFromTheCheckpointName() throws {
        let keras = try CheckpointLoader.load(path: Fixtures.path("keras/live/keras/epoch-02.keras"))
        #expect(keras.epoch == 2)
        let legacy = try CheckpointLoader.load(path: Fixtures.path("keras/live/legacy/epoch-03.h5"))
        #expect(legacy.epoch == 3)
        #expect(try CheckpointLoader.load(path: Fixtures.path("keras/functional.keras")).epoch == nil)
    }

    @Test func grayscaleModelIsRefusedInWords() throws {
        // An MNIST-style Keras model takes one channel; probes are RGB. Binding it must be an error, not a trap later.
        let json = """
            {"class_name": "Sequential", "config": {"name": "mnist", "layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1], "name": "in"}},
              {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": [3, 3]}}]}}
            """
        let spec = try KerasModel(json: json).spec
        #expect(spec.inputChannels == 1)
        let checkpoint = Checkpoint(path: "mnist.h5", format: "keras-h5", tensors: [:],
                                    attributes: ["camwatch_model": .string(spec.jsonString())])
        let error = #expect(throws: ArchitectureError.self) {
            _ = try ArchitectureSource.automatic.network(for: checkpoint, path: "mnist.h5")
        }
        #expect(error?.description.hasPrefix("mnist.h5: the model takes 1 input channels; camwatch feeds RGB images") == true)
    }

    /// A Sequential config of `count` ReLU layers, each `{"class_name": "Activation", …}`.
    static func sequential(layers count: Int) -> String {
        let input = #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}"#
        let layers = (0..<count).map {
            #"{"class_name": "Activation", "config": {"name": "a\#($0)", "activation": "relu"}}"#
        }
        return #"{"class_name": "Sequential", "config": {"name": "s", "layers": ["#
            + ([input] + layers).joined(separator: ", ") + "]}}"
    }

    @Test("a config past 10,000 layers or 2^18 JSON containers is refused before it is parsed")
    func oversizedConfigsAreRefused() throws {
        let many = #expect(throws: KerasError.self) { _ = try KerasModel(json: Self.sequential(layers: 10_000)) }
        #expect(many?.description == "the Keras model config lists more than 10000 layers")
        // Layers of nested models count too; names that merely contain "layers" do not.
        let nested = #"{"class_name": "Functional", "config": {"layers": [{"class_name": "Functional", "config": {"#
            + #""name": "layers", "layers": [{}, {}, {}]}}, {"config": {"not_layers": [{}, {}]}}]}}"#
        #expect(KerasConfigSize(counting: nested).layers == 5)
        #expect(KerasConfigSize(counting: #"{"a": "\"layers\": [{}]", "layers": [{"x": "[{"}, {}]}"#).layers == 2)
        // One layer holding a quarter million empty objects: few layers, still a parser's worth of memory.
        let junk = #"{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "InputLayer", "#
            + #""config": {"junk": ["# + Array(repeating: "{}", count: 1 << 18).joined(separator: ",") + "]}}]}}"
        let containers = #expect(throws: KerasError.self) { _ = try KerasModel(json: junk) }
        #expect(containers?.description == "the Keras model config holds more than 262144 JSON objects and arrays")
        // Within the limits, the check costs nothing a real config notices.
        #expect(KerasConfigSize(counting: Self.sequential(layers: 9_999)).problem == nil)
    }

    @Test("a legacy .h5 whose model_config lists 40,000 layers fails in one line naming the file, before parsing it")
    func legacyFileWithHugeConfig() throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-keras-layers")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("huge_config.h5").path
        let script = """
            import h5py, json, sys
            layer = {"class_name": "Activation", "config": {"activation": "relu"}}
            layers = [dict(layer, config=dict(layer["config"], name=f"a{i}")) for i in range(40000)]
            config = {"class_name": "Sequential", "config": {"name": "s", "layers": layers}}
            with h5py.File(sys.argv[1], "w") as f:
                f.attrs["model_config"] = json.dumps(config)
                f.create_group("model_weights")
                f["model_weights/dense/kernel"] = [[0.0]]
            """
        let run = try ExternalTools.run("/usr/bin/python3", ["-c", script, path])
        try #require(run.status == 0, "\(run.stderr)")
        let started = ContinuousClock.now
        let error = try #require(throws: CheckpointError.self) { _ = try CheckpointLoader.load(path: path) }
        #expect(error.description == "\(path): Keras model: the Keras model config lists more than 10000 layers")
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    /// Numbers a hostile config may hold where Keras has sizes: each is one error, never an overflow trap or a
    /// huge allocation.
    @Test(arguments: [
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "Reshape", "config": {"name": "r", "target_shape": [1099511627776, 1099511627776, -1]}}"#,
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "ZeroPadding2D", "config": {"name": "z", "padding": 4611686018427387904}}"#,
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "DepthwiseConv2D", "config": {"name": "d", "kernel_size": 3, "depth_multiplier": 1073741824}}"#,
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 1000000000], "name": "in"}}, {"class_name": "Rescaling", "config": {"name": "s", "scale": 2}}"#,
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 9223372036854775807, 8, 3], "name": "in"}}, {"class_name": "Flatten", "config": {"name": "f"}}"#,
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "strides": -2}}"#,
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "Conv2D", "config": {"name": "c", "filters": 0, "kernel_size": 3}}"#,
        #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "Rescaling", "config": {"name": "s", "scale": 1e300}}"#,
    ])
    func hostileSizesAreErrors(_ layers: String) {
        let json = #"{"class_name": "Sequential", "config": {"name": "h", "layers": ["# + layers + "]}}"
        #expect(throws: (any Error).self) {
            let model = try KerasModel(json: json)
            try model.spec.validate()
        }
    }
}
