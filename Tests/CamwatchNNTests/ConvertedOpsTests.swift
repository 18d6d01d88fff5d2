import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// The ops that converted torchvision and keras.applications graphs need (layer and group norm, scale, sub,
/// channel shuffle and slice, channel-wise linear, scalar affine, crop, `same` pooling) and the conv and pool
/// variants of Inception, GoogLeNet and ResNeXt (1×7 / 7×1 kernels with asymmetric padding, ceil-mode max
/// pooling, average pooling counting the padding, grouped dilated convolution), all in one net against
/// PyTorch (Scripts/fixtures/make_op_fixtures.py): outputs, a few activations, and autograd gradients
/// at layers and at the input.
///
/// Tolerance: `max |ours − PyTorch| ≤ 1e-4 · max |PyTorch|` per tensor, for outputs and gradients alike.
@Suite struct ConvertedOpsTests {
    static let tolerance: Float = 1e-4

    struct Reference {
        var network: Network
        var input: Tensor
        var file: HDF5File
        var classes: [Int]

        init() throws {
            file = try HDF5File.open(Fixtures.path("nets/opsnet.ref.h5"))
            let checkpoint = try CheckpointLoader.load(path: Fixtures.path("nets/opsnet.h5"))
            network = try Network(spec: try ModelSpec.parse(try #require(checkpoint.modelSpec)), parameters: checkpoint.tensors)
            input = try file.tensor("input")
            guard case .ints(let classes) = try #require(try file.attributes(at: "/")["classes"]) else {
                throw NetworkError("opsnet.ref.h5: attribute 'classes' is not an integer array")
            }
            self.classes = classes
        }
    }

    /// `max |actual − expected| / max |expected|`.
    static func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
        guard actual.shape == expected.shape else { return .infinity }
        let scale = expected.scalars.reduce(0) { max($0, abs($1)) }
        return maxAbsoluteDifference(actual.scalars, expected.scalars) / max(scale, 1e-6)
    }

    @Test func logitsMatchPyTorch() throws {
        let r = try Reference()
        let expected = try r.file.tensor("logits")
        // The logits are O(1), so a relative error of 1e-4 is a real check.
        #expect(expected.scalars.map(abs).max() ?? 0 > 1)
        #expect(Self.relativeError(r.network(r.input), expected) <= Self.tolerance)
        // Folding (scale into channel_linear's convolution, batch norms) and fusing keep the function.
        #expect(Self.relativeError(r.network.optimized()(r.input), expected) <= Self.tolerance)
    }

    @Test func activationsMatchPyTorch() throws {
        let r = try Reference()
        let names = try r.file.members(ofGroup: "act").map(\.name)
        #expect(names.count >= 10)
        let indices = try names.map { try r.network.nodeIndex(named: $0) }
        let captured = r.network.optimized(preserving: Set(indices)).forward(r.input, capturing: indices).captured
        for (name, value) in zip(names, captured) {
            let error = Self.relativeError(value, try r.file.tensor("act/\(name)"))
            #expect(error <= Self.tolerance, "\(name): relative error \(error)")
        }
    }

    /// Every stored layer gradient, and the input gradient (the first convolution's vector-Jacobian product of
    /// its output gradient), against autograd: a wrong backward anywhere in the net shows at the input.
    @Test func gradientsMatchAutograd() throws {
        let r = try Reference()
        let (record, gradients) = r.network.gradients(r.input, classes: r.classes, downTo: 0)
        let names = try r.file.members(ofGroup: "grad").map(\.name)
        #expect(names.count >= 20)
        for name in names {
            let index = try r.network.nodeIndex(named: name)
            let actual = try #require(gradients[index], "no gradient at \(name)")
            let error = Self.relativeError(actual, try r.file.tensor("grad/\(name)"))
            #expect(error <= Self.tolerance, "\(name) (\(r.network.nodes[index].layer.opName)): relative error \(error)")
        }
        let stem = r.network.nodes[0]
        #expect(stem.inputs == [Network.inputIndex] && r.network.nodes.dropFirst().allSatisfy { !$0.inputs.contains(Network.inputIndex) })
        let stemGradient = try #require(gradients[0])
        let stemOutput = try #require(record.values[0])
        let inputGradients = stem.layer.inputGradients(stemGradient, inputs: [r.input], output: stemOutput, wanted: [true])
        let inputGradient = try #require(inputGradients.first ?? nil)
        let error = Self.relativeError(inputGradient, try r.file.tensor("input_grad"))
        #expect(error <= Self.tolerance, "input gradient: relative error \(error)")
    }

    /// As Grad-CAM runs: optimized with the target preserved, reverse mode down to the target only.
    @Test(arguments: ["stem_norm", "block.mul", "shuffle.shuffle", "gn2", "centered", "ks.sub", "kp.avg", "kp.crop"])
    func targetGradientMatchesOnTheOptimizedNetwork(layer: String) throws {
        let r = try Reference()
        let index = try r.network.nodeIndex(named: layer)
        let (_, gradients) = r.network.optimized(preserving: [index]).gradients(r.input, classes: r.classes, downTo: index)
        let error = Self.relativeError(try #require(gradients[index]), try r.file.tensor("grad/\(layer)"))
        #expect(error <= Self.tolerance, "\(layer): relative error \(error)")
    }

    @Test func newOpsAreCAMTargets() throws {
        let r = try Reference()
        let candidates = Set(r.network.candidateTargetNames())
        for name in ["stem_norm", "block.mul", "block.pwconv2", "shuffle.chunk", "shuffle.shuffle", "gn", "centered",
                     "ks.div", "ks.sub", "kp.crop"] {
            #expect(candidates.contains(name), "\(name)")
        }
        // Vectors after global pooling are not.
        #expect(!candidates.contains("head.ln") && !candidates.contains("head.norm"))
        // Cropping and padding are geometry, never the default target.
        let defaultTarget = try #require(r.network.defaultTargetIndex())
        #expect(r.network.nodes[defaultTarget].name == "ks.sub")
    }

    @Test func newKeysRoundTripThroughJSON() throws {
        let text = #"""
            {"name": "k", "layers": [
              {"name": "s", "op": "scale", "parameter": "p"},
              {"name": "l", "op": "slice", "start": 1, "end": 2},
              {"name": "a", "op": "scalar_affine", "multiplier": -0.5, "offset": 1},
              {"name": "c", "op": "crop", "cropping": [1, 0, 2, 0]}]}
            """#
        let spec = try ModelSpec.parse(text)
        #expect(try ModelSpec.parse(spec.jsonString()) == spec)
        #expect(spec.layers.map(\.op) == [.scale, .slice, .scalarAffine, .crop])
        #expect(spec.layers[0].parameter == "p" && spec.layers[1].start == 1 && spec.layers[1].end == 2)
        #expect(spec.layers[2].multiplier == -0.5 && spec.layers[2].offset == 1 && spec.layers[3].cropping == [1, 0, 2, 0])
    }

    // MARK: - Refusals: one line naming the layer

    static func ramp(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Float($0 % 7) / 7 })
    }

    /// A spec on a 3-channel input around one layer: text, tensors, and what the error must say.
    @Test(arguments: [
        (#"{"op": "layernorm"}"#, ["x.weight": [4]], "'x.weight' expected [3], got [4]"),
        (#"{"op": "groupnorm"}"#, [:], "layer 'x' (groupnorm) needs 'groups'"),
        (#"{"op": "groupnorm", "groups": 2}"#, [:], "layer 'x' (groupnorm): 3 channels do not split into 2 groups"),
        (#"{"op": "groupnorm", "groups": 3}"#, ["x.bias": [3, 1]], "'x.bias' expected [3], got [3, 1]"),
        (#"{"op": "scale"}"#, ["x.weight": [3, 2]], "'x.weight' expected 3 values"),
        (#"{"op": "scale"}"#, ["x.weight": [1, 3, 2]], "'x.weight' expected 3 values"),
        (#"{"op": "scale", "parameter": "gamma"}"#, [:], "missing tensor: 'gamma'"),
        (#"{"op": "sub", "inputs": ["input", "input", "input"]}"#, [:], "layer 'x' (sub) needs exactly two inputs"),
        (#"{"op": "channel_shuffle", "groups": 2}"#, [:], "layer 'x' (channel_shuffle): 3 channels do not split into 2 groups"),
        (#"{"op": "channel_shuffle"}"#, [:], "layer 'x' (channel_shuffle) needs 'groups'"),
        (#"{"op": "slice", "start": 1}"#, [:], "layer 'x' (slice) needs 'start' and 'end'"),
        (#"{"op": "slice", "start": 2, "end": 2}"#, [:], "layer 'x' slice start = 2 is not before end = 2"),
        (#"{"op": "slice", "start": -1, "end": 2}"#, [:], "layer 'x' start = -1 is outside 0...16777216"),
        (#"{"op": "slice", "start": 1, "end": 4}"#, [:], "layer 'x' (slice): channels 1..<4 are not within the input's 3"),
        (#"{"op": "channel_linear"}"#, ["x.weight": [4, 5]], "'x.weight' expected [?, 3], got [4, 5]"),
        (#"{"op": "channel_linear", "bias": true}"#, ["x.weight": [4, 3]], "missing tensor: 'x.bias' (expected [4])"),
        (#"{"op": "crop"}"#, [:], "layer 'x' (crop) needs 'cropping' [top, bottom, left, right]"),
        (#"{"op": "crop", "cropping": [1, 1, 1]}"#, [:], "layer 'x' cropping = [1, 1, 1] is not [top, bottom, left, right]"),
        (#"{"op": "crop", "cropping": [0, 0, -1, 0]}"#, [:], "layer 'x' cropping = -1 is outside 0...4096"),
        (#"{"op": "maxpool", "kernel": 3, "padding": "same", "ceil_mode": true}"#, [:],
         "layer 'x' (maxpool): padding 'same' takes neither ceil_mode nor count_include_pad true"),
        (#"{"op": "avgpool", "kernel": 3, "padding": "same", "count_include_pad": true}"#, [:],
         "layer 'x' (avgpool): padding 'same' takes neither ceil_mode nor count_include_pad true"),
    ] as [(String, [String: [Int]], String)])
    func badKeysAndShapesAreRefusedInOneLine(layer: String, tensors: [String: [Int]], expected: String) throws {
        let text = #"{"name": "t", "input_channels": 3, "layers": [{"name": "x", "#  + layer.dropFirst() + "]}"
        let parameters = tensors.mapValues { Self.ramp($0) }
        let error = try #require(throws: NetworkError.self) { _ = try Network(spec: try ModelSpec.parse(text), parameters: parameters) }
        #expect(error.message.contains(expected), "\(error.message)")
        #expect(!error.message.contains("\n"))
    }

    @Test func nonFiniteScalarAffineIsRefused() throws {
        for key in ["multiplier", "offset"] {
            let text = "name: t\nlayers:\n  - {name: x, op: scalar_affine, \(key): .nan}\n"
            let error = try #require(throws: NetworkError.self) { _ = try ModelSpec.parse(text) }
            #expect(error.message.contains("layer 'x' \(key) = nan is not finite"), "\(error.message)")
        }
    }

    /// Sizes that only the input decides are checked by `shapes`, naming the layer.
    @Test(arguments: [
        (#"{"op": "crop", "cropping": [3, 2, 0, 0]}"#, "input too small: layer 'x' (crop) would output [1, 3, 0, 6]"),
        (#"{"op": "slice", "start": 0, "end": 2, "inputs": ["f"]}"#, ""),
    ])
    func inputDependentSizesAreChecked(layer: String, expected: String) throws {
        let prefix = layer.contains(#""inputs": ["f"]"#) ? #"{"name": "f", "op": "flatten"}, "# : ""
        let text = #"{"name": "t", "input_channels": 3, "layers": ["# + prefix + #"{"name": "x", "# + layer.dropFirst() + "]}"
        let network = try Network(spec: try ModelSpec.parse(text), parameters: [:])
        if expected.isEmpty {
            // A slice of a flattened vector of unknown length binds, and runs on one long enough.
            #expect(try network.shapes(inputHeight: 5, inputWidth: 6).last == [1, 2])
            #expect(network(Self.ramp([1, 3, 5, 6])).scalars == Array(Self.ramp([1, 3, 5, 6]).scalars.prefix(2)))
        } else {
            let error = try #require(throws: NetworkError.self) { _ = try network.shapes(inputHeight: 5, inputWidth: 6) }
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }
}

extension HDF5File {
    /// The float dataset at `path` as a tensor of its shape.
    fileprivate func tensor(_ path: String) throws -> Tensor {
        let array = try readFloats(at: path)
        return Tensor(shape: array.shape, scalars: array.values)
    }
}
