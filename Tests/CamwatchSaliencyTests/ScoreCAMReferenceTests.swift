import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
@testable import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// Score-CAM against pytorch-grad-cam's `ScoreCAM` on the same weights and input
/// (Scripts/fixtures/make_scorecam_fixtures.py): plain conv stack, residual and depthwise networks,
/// two target layers each, argmax and explicit classes.
@Suite struct ScoreCAMReferenceTests {
    static let cases = ["plain_relu2", "plain_act4", "residual_layer1", "residual_layer2", "depthwise_block1",
                        "depthwise_head_act"]

    struct Case {
        var file: HDF5File
        var network: Network
        var input: Tensor
        var target: String
        var classIndex: Int?
        var topN: Int

        init(_ name: String) throws {
            file = try HDF5File.open(Fixtures.path("scorecam/\(name).h5"))
            let attributes = try file.attributes(at: "/")
            let weights = try #require(attributes["weights"]?.stringValue)
            let checkpoint = try CheckpointLoader.load(path: Fixtures.path(weights))
            network = try Network(spec: try ModelSpec.parse(try #require(checkpoint.modelSpec)), parameters: checkpoint.tensors)
            let x = try file.readFloats(at: "input")
            input = Tensor(shape: x.shape, scalars: x.values)
            target = try #require(attributes["target_layer"]?.stringValue)
            let isArgmax = attributes["class_is_argmax"]?.intValue == 1
            classIndex = isArgmax ? nil : Int(try #require(attributes["class"]?.intValue))
            topN = Int(try #require(attributes["top_n"]?.intValue))
        }

        func values(_ dataset: String) throws -> [Float] { try file.readFloats(at: dataset).values }
    }

    @Test(arguments: cases)
    func heatmapMatchesPytorchGradCAM(name: String) throws {
        let c = try Case(name)
        let map = try ScoreCAM(network: c.network, targetLayer: c.target).explain(c.input, classIndex: c.classIndex)
        let expected = try c.values("heatmap")
        #expect(pearson(map.values, expected) >= 0.999)
        #expect(maxAbsoluteDifference(map.values, expected) <= 1e-3)
        // The intermediate quantities agree too: masked-input logits and channel weights.
        #expect(maxAbsoluteDifference(map.channelScores, try c.values("scores")) <= 1e-3)
        #expect(maxAbsoluteDifference(map.channelWeights, try c.values("weights")) <= 1e-4)
        #expect(map.values.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test(arguments: cases)
    func probabilityWeightingMatchesTheAuthorsFormula(name: String) throws {
        let c = try Case(name)
        let options = ScoreCAM.Options(weighting: .probability)
        let map = try ScoreCAM(network: c.network, targetLayer: c.target, options: options).explain(c.input, classIndex: c.classIndex)
        #expect(pearson(map.values, try c.values("heatmap_probability")) >= 0.999)
        #expect(maxAbsoluteDifference(map.channelWeights, try c.values("weights_probability")) <= 1e-4)
    }

    @Test(arguments: cases)
    func topChannelsFollowTfKerasVisRule(name: String) throws {
        let c = try Case(name)
        let options = ScoreCAM.Options(topChannels: c.topN)
        let map = try ScoreCAM(network: c.network, targetLayer: c.target, options: options).explain(c.input, classIndex: c.classIndex)
        let expected = try c.file.readIntegers(at: "top_channels").values.map(Int.init)
        #expect(map.scoredChannels == expected)
        #expect(pearson(map.values, try c.values("heatmap_top")) >= 0.999)
    }

    @Test func constantChannelsShareOneForwardPassAndKeepTheirScore() throws {
        let c = try Case("plain_relu2")
        let activations = try c.values("activations")
        let plane = activations.count / 16
        let constant = (0..<16).filter { k in
            let slice = activations[(k * plane)..<((k + 1) * plane)]
            return slice.min() == slice.max()
        }
        #expect(constant.count == 2)
        let map = try ScoreCAM(network: c.network, targetLayer: c.target).explain(c.input)
        let scores = try c.values("scores")
        for k in constant { #expect(abs(map.channelScores[k] - scores[k]) <= 1e-3) }
        #expect(map.channelScores[constant[0]] == map.channelScores[constant[1]])
    }

    @Test func batchSizeAndThreadsDoNotChangeTheResult() throws {
        let c = try Case("residual_layer2")
        let one = try ScoreCAM(network: c.network, targetLayer: c.target, options: .init(batchSize: 1)).explain(c.input)
        let many = try ScoreCAM(network: c.network, targetLayer: c.target, options: .init(batchSize: 7, threads: 2)).explain(c.input)
        #expect(maxAbsoluteDifference(one.values, many.values) <= 1e-5)
    }

    /// A budget under one image's activations makes every batch run one image at a time (``BatchPlan``):
    /// the same heatmap, with and without the first-layer shortcut, and for IS-CAM.
    @Test(arguments: ["residual_layer2", "plain_relu2"])
    func activationMemoryDoesNotChangeTheResult(name: String) throws {
        let c = try Case(name)
        for basis in [true, false] {
            let whole = try ScoreCAM(network: c.network, targetLayer: c.target,
                                     options: .init(batchSize: 7, firstLayerBasis: basis)).explain(c.input)
            let tight = try ScoreCAM(network: c.network, targetLayer: c.target,
                                     options: .init(batchSize: 7, threads: 2, firstLayerBasis: basis, activationMemory: 0))
                .explain(c.input)
            #expect(maxAbsoluteDifference(whole.values, tight.values) <= 1e-5)
            #expect(maxAbsoluteDifference(whole.channelScores, tight.channelScores)
                <= 1e-5 * max(1, whole.channelScores.map(abs).max() ?? 1))
        }
        let isCAM = try SmoothedScoreCAM(network: c.network, targetLayer: c.target, variant: .integrated, samples: 2,
                                         batchSize: 7).explain(c.input)
        let tightIS = try SmoothedScoreCAM(network: c.network, targetLayer: c.target, variant: .integrated, samples: 2,
                                           batchSize: 7, activationMemory: 0).explain(c.input)
        #expect(maxAbsoluteDifference(isCAM.values, tightIS.values) <= 1e-5)
    }
}

@Suite struct ScoreCAMErrorTests {
    static func plain() throws -> (Network, Tensor) {
        let c = try ScoreCAMReferenceTests.Case("plain_act4")
        return (c.network, c.input)
    }

    @Test func anInputTheNetworkCannotPlanForKeepsTheNetworksError() throws {
        let (network, _) = try Self.plain()
        let error = try #require(throws: SaliencyError.self) {
            _ = try network.scoringPlan(height: 0, width: 8, batch: 1, memoryBytes: 1 << 20)
        }
        let cause = try #require(error.cause)
        #expect(cause.message.contains("input size 0×8 is outside"))
        #expect(error.description == cause.description && error.message == cause.message)
        #expect(SaliencyError("the network outputs non-finite logits").cause == nil)
    }

    @Test func unknownLayerListsTheCandidates() throws {
        let (network, _) = try Self.plain()
        let error = try #require(throws: SaliencyError.self) { try ScoreCAM(network: network, targetLayer: "layer9") }
        #expect(error.message.contains("no layer named 'layer9'"))
        #expect(error.message.contains("act4") && error.message.contains("conv1"))
    }

    @Test func nonSpatialLayerIsRejected() throws {
        let (network, _) = try Self.plain()
        let error = try #require(throws: SaliencyError.self) { try ScoreCAM(network: network, targetLayer: "fc1") }
        #expect(error.message.contains("no spatial output"))
    }

    @Test func classOutOfRangeIsRejected() throws {
        let (network, input) = try Self.plain()
        let error = try #require(throws: SaliencyError.self) { try ScoreCAM(network: network).explain(input, classIndex: 10) }
        #expect(error.message.contains("class 10 is out of range: the model has 10 classes"))
    }

    @Test func allZeroActivationsGiveAConstantHeatmapNotNaN() throws {
        let spec = try ModelSpec.parse("""
            {"name": "dead", "layers": [
              {"name": "conv", "op": "conv2d", "out_channels": 2, "kernel": 3, "padding": 1},
              {"name": "relu", "op": "relu"},
              {"name": "pool", "op": "global_avgpool"}, {"name": "flat", "op": "flatten"}, {"name": "fc", "op": "linear"}]}
            """)
        let parameters = ["conv.weight": Tensor(shape: [2, 3, 3, 3]), "conv.bias": Tensor(shape: [2], repeating: -1),
                          "fc.weight": Tensor(shape: [3, 2], repeating: 1), "fc.bias": Tensor(shape: [3])]
        let network = try Network(spec: spec, parameters: parameters)
        let map = try ScoreCAM(network: network).explain(Tensor(shape: [1, 3, 8, 8], repeating: 0.5))
        #expect(map.isConstant)
        #expect(map.values.allSatisfy { $0 == 0 })
    }
}

/// The first-layer shortcut against convolving the masked inputs.
@Suite struct FirstLayerBasisTests {
    /// A ResNet-style stem (7×7/2 convolution, batch norm, ReLU, 3×3/2 max pooling), random weights.
    static func stem() throws -> Network {
        let spec = try ModelSpec.parse("""
            {"name": "stem", "input_channels": 3, "layers": [
              {"name": "conv1", "op": "conv2d", "out_channels": 8, "kernel": 7, "stride": 2, "padding": 3, "bias": false},
              {"name": "bn1", "op": "batchnorm"}, {"name": "relu", "op": "relu"},
              {"name": "maxpool", "op": "maxpool", "kernel": 3, "stride": 2, "padding": 1},
              {"name": "conv2", "op": "conv2d", "out_channels": 8, "kernel": 3, "padding": 1}, {"name": "relu2", "op": "relu"},
              {"name": "pool", "op": "adaptive_avgpool", "output_size": [1, 1]}, {"name": "flat", "op": "flatten"},
              {"name": "fc", "op": "linear", "out_features": 5}]}
            """)
        var generator = SplitMix64(seed: 11)
        func random(_ shape: [Int], _ range: ClosedRange<Float>) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &generator) })
        }
        return try Network(spec: spec, parameters: [
            "conv1.weight": random([8, 3, 7, 7], -0.2...0.2), "bn1.weight": random([8], 0.5...1.5),
            "bn1.bias": random([8], -0.3...0.3), "bn1.running_mean": random([8], -0.1...0.1),
            "bn1.running_var": random([8], 0.5...1.5), "conv2.weight": random([8, 8, 3, 3], -0.3...0.3),
            "conv2.bias": random([8], -0.1...0.1), "fc.weight": random([5, 8], -1...1), "fc.bias": random([5], -0.1...0.1),
        ])
    }

    /// The stem's max pooling is built with the first convolution's output, plane by plane: the same values as
    /// pooling the convolution of each masked input, and the same heatmap as Score-CAM without the shortcut.
    @Test func theMaxPoolingAfterTheFirstConvolutionIsBuiltWithIt() throws {
        let network = try Self.stem()
        var generator = SplitMix64(seed: 3)
        let input = Tensor(shape: [1, 3, 48, 48], scalars: (0..<(3 * 48 * 48)).map { _ in Float.random(in: -2...2, using: &generator) })
        let scoreCAM = try ScoreCAM(network: network, targetLayer: "relu2")
        let basis = try #require(FirstLayerBasis(network: scoreCAM.network, input: input, mapHeight: 12, mapWidth: 12,
                                                 costShare: .infinity))
        #expect(basis.node == (try network.nodeIndex(named: "maxpool")))
        let coefficients = (0..<(2 * 144)).map { _ in Float.random(in: 0...1, using: &generator) }
        var masked = [Float]()
        for slot in 0..<2 {
            let map = Tensor(shape: [12, 12], scalars: Array(coefficients[(slot * 144)..<((slot + 1) * 144)]))
            let mask = Resize.bilinear(map, height: 48, width: 48, alignCorners: true).scalars
            for channel in 0..<3 {
                for p in 0..<(48 * 48) { masked.append(input.scalars[channel * 48 * 48 + p] * mask[p]) }
            }
        }
        let expected = scoreCAM.network.forward(Tensor(shape: [2, 3, 48, 48], scalars: masked), capturing: [basis.node])
            .captured[0]
        let ours = basis.output(coefficients: coefficients, batch: 2)
        #expect(ours.shape == expected.shape && ours.shape == [2, 8, 12, 12])
        let scale = max(1, expected.scalars.map(abs).max() ?? 1)
        #expect(maxAbsoluteDifference(ours.scalars, expected.scalars) <= 1e-5 * scale)
        let shortcut = try scoreCAM.explain(input)
        let direct = try ScoreCAM(network: network, targetLayer: "relu2", options: .init(firstLayerBasis: false))
            .explain(input)
        #expect(maxAbsoluteDifference(shortcut.channelScores, direct.channelScores) <= 1e-5)
        #expect(maxAbsoluteDifference(shortcut.values, direct.values) <= 1e-5)
    }

    @Test(arguments: ["plain_relu2", "residual_layer1", "depthwise_block1"])
    func weightedResponsesEqualTheConvolutionOfTheMaskedInput(name: String) throws {
        let c = try ScoreCAMReferenceTests.Case(name)
        let network = try ScoreCAM(network: c.network, targetLayer: c.target).network
        let (height, width) = (c.input.shape[2], c.input.shape[3])
        let (h, w) = (height / 4, width / 4)
        let basis = try #require(FirstLayerBasis(network: network, input: c.input, mapHeight: h, mapWidth: w,
                                                 costShare: .infinity))
        // Two masks: random coefficients in [0, 1], and all zero (the constant-channel mask).
        var state: UInt64 = 5
        let coefficients = (0..<(h * w)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        } + [Float](repeating: 0, count: h * w)
        let channels = c.input.shape[1]
        var masked = [Float]()
        for slot in 0..<2 {
            let map = Tensor(shape: [h, w], scalars: Array(coefficients[(slot * h * w)..<((slot + 1) * h * w)]))
            let mask = Resize.bilinear(map, height: height, width: width, alignCorners: true).scalars
            for channel in 0..<channels {
                for p in 0..<(height * width) { masked.append(c.input.scalars[channel * height * width + p] * mask[p]) }
            }
        }
        let batch = Tensor(shape: [2, channels, height, width], scalars: masked)
        // The first convolution's output, or the max pooling's that alone reads it (the residual net's stem).
        let expected = network.forward(batch, capturing: [basis.node]).captured[0]
        let ours = basis.output(coefficients: coefficients, batch: 2)
        #expect(ours.shape == expected.shape)
        let scale = max(1, expected.scalars.map(abs).max() ?? 1)
        #expect(maxAbsoluteDifference(ours.scalars, expected.scalars) <= 1e-5 * scale)
        // The rest of the network from that value gives the logits of the masked inputs.
        let logits = network.forward(after: basis.node, value: ours)
        #expect(maxAbsoluteDifference(logits.scalars, network(batch).scalars) <= 1e-4 * scale)
    }
}
