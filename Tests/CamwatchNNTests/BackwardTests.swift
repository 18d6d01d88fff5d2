import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// Reverse mode against PyTorch autograd (Scripts/fixtures/make_method_fixtures.py): the gradient of one
/// class score with respect to every layer's output of the three fixture nets, which between them use
/// every op of the engine (conv with groups, depthwise, dilation, TF `same`; batch norm after a conv and
/// not; every activation; max/avg/adaptive/global pools; add, mul with broadcast, concat, flatten, linear,
/// zeropad, softmax).
@Suite struct BackwardTests {
    static let nets = ["plain", "residual", "depthwise"]

    struct Case {
        var network: Network
        var input: Tensor
        var classIndex: Int
        /// Layer name → reference gradient.
        var gradients: [String: [Float]]

        init(_ net: String) throws {
            let file = try HDF5File.open(Fixtures.path("methods/gradients_\(net).h5"))
            let attributes = try file.attributes(at: "/")
            let checkpoint = try CheckpointLoader.load(path: Fixtures.path(try #require(attributes["weights"]?.stringValue)))
            network = try Network(spec: try ModelSpec.parse(try #require(checkpoint.modelSpec)), parameters: checkpoint.tensors)
            let x = try file.readFloats(at: "input")
            input = Tensor(shape: x.shape, scalars: x.values)
            classIndex = Int(try #require(attributes["class"]?.intValue))
            gradients = [:]
            for member in try file.members(ofGroup: "grad") {
                gradients[member.name] = try file.readFloats(at: "grad/\(member.name)").values
            }
        }
    }

    /// `max |actual − expected| ≤ 1e-4 · max |expected|` (all-zero references must come out all zero, up
    /// to 1e-9).
    static func relativeError(_ actual: [Float], _ expected: [Float]) -> Float {
        let scale = expected.reduce(0) { max($0, abs($1)) }
        return maxAbsoluteDifference(actual, expected) / max(scale, 1e-5)
    }

    @Test(arguments: nets)
    func everyLayerGradientMatchesAutograd(net: String) throws {
        let c = try Case(net)
        let (_, gradients) = c.network.gradients(c.input, classes: [c.classIndex], downTo: 0)
        #expect(c.gradients.count >= c.network.nodes.count - 2)
        for (index, node) in c.network.nodes.enumerated() {
            guard let expected = c.gradients[node.name] else { continue }
            let actual = try #require(gradients[index], "no gradient at \(node.name)")
            #expect(actual.scalarCount == expected.count, "\(node.name)")
            guard actual.scalarCount == expected.count else { continue }
            #expect(Self.relativeError(actual.scalars, expected) <= 1e-4, "\(net).\(node.name) (\(node.layer.opName))")
        }
    }

    /// With the layer as the target, batch norms are folded into convolutions and activations fused
    /// everywhere else (as Grad-CAM runs), and the target's gradient still matches.
    @Test(arguments: nets)
    func targetGradientMatchesOnTheOptimizedNetwork(net: String) throws {
        let c = try Case(net)
        for (index, node) in c.network.nodes.enumerated() where index < c.network.outputIndex {
            guard let expected = c.gradients[node.name] else { continue }
            let optimized = c.network.optimized(preserving: [index])
            let (_, gradients) = optimized.gradients(c.input, classes: [c.classIndex], downTo: index)
            let actual = try #require(gradients[index], "no gradient at \(node.name)")
            #expect(Self.relativeError(actual.scalars, expected) <= 1e-4, "\(net).\(node.name) (\(node.layer.opName))")
        }
    }

    /// The fixtures exercise what they claim: the optimized networks fold and fuse something.
    @Test func optimizedNetworksFoldAndFuse() throws {
        let c = try Case("depthwise")
        let optimized = c.network.optimized()
        let fused = optimized.nodes.filter { if case .conv2d(let conv) = $0.layer { conv.activation != nil } else { false } }
        #expect(fused.contains { if case .conv2d(let conv) = $0.layer { conv.activation?.gradientNeedsInput == false } else { false } })
    }

    /// A batch seeds each image with its own class, as the sum of per-image scores.
    @Test func batchGradientsAreThePerImageGradients() throws {
        let c = try Case("residual")
        let batch = Tensor.concatenatingBatches([c.input, c.input])
        let other = (c.classIndex + 1) % 7
        let together = c.network.gradients(batch, classes: [c.classIndex, other], downTo: 0)
        let first = c.network.gradients(c.input, classes: [c.classIndex], downTo: 0)
        let second = c.network.gradients(c.input, classes: [other], downTo: 0)
        let index = try c.network.nodeIndex(named: "layer1")
        let both = try #require(together.gradients[index]).scalars
        let expected = try #require(first.gradients[index]).scalars + (try #require(second.gradients[index])).scalars
        #expect(maxAbsoluteDifference(both, expected) <= 1e-6)
    }

    /// Activation derivatives at and around the kinks follow PyTorch (ReLU 0 at 0, ReLU6 0 at 6, leaky slope
    /// at 0, the hard functions 0 at ±3 except hardswish at +3).
    @Test func activationDerivativesAtTheKinks() {
        let x: [Float] = [-4, -3, -1, 0, 1, 3, 6, 7]
        let ones = Tensor(shape: [8], repeating: 1)
        func derivative(_ activation: Activation) -> [Float] {
            let input = Tensor(shape: [8], scalars: x)
            return activation.inputGradient(ones, input: input, output: activation(input)).scalars
        }
        #expect(derivative(.relu) == [0, 0, 0, 0, 1, 1, 1, 1])
        #expect(derivative(.relu6) == [0, 0, 0, 0, 1, 1, 0, 0])
        #expect(derivative(.leakyReLU(negativeSlope: 0.2)) == [0.2, 0.2, 0.2, 0.2, 1, 1, 1, 1])
        #expect(derivative(.hardsigmoid).map { $0 * 6 } == [0, 0, 1, 1, 1, 0, 0, 0])
        #expect(isClose(derivative(.hardswish), [0, -0.5, 1.0 / 6, 0.5, 5.0 / 6, 1.5, 1, 1], atol: 1e-6))
    }

    /// Max pooling routes a tie to the first maximum in the window.
    @Test func maxPoolTieGoesToTheFirstMaximum() {
        let input = Tensor(shape: [1, 1, 2, 2], scalars: [5, 5, 5, 5])
        let gradient = Pooling.maxGradient(Tensor(shape: [1, 1, 1, 1], scalars: [1]), input: input,
                                           geometry: WindowGeometry(kernel: (2, 2), stride: (2, 2)))
        #expect(gradient.scalars == [1, 0, 0, 0])
    }
}
