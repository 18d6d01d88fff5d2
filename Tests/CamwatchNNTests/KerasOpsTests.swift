import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// The ops Keras models need: exact GELU, Keras's ReLU, channels-last reshape, a per-channel affine map.
/// (End to end against Keras itself: CamwatchCheckpointTests/KerasTests.)
@Suite struct KerasOpsTests {
    @Test func geluIsExact() {
        // x·Φ(x) from the normal CDF (scipy.stats.norm.cdf): Φ(1) = 0.8413447, Φ(−1) = 0.1586553, Φ(2) = 0.9772499.
        let y = Activation.gelu(Tensor(shape: [4], scalars: [1, -1, 2, 0])).scalars
        #expect(isClose(y, [0.8413447, -0.1586553, 1.9544997, 0], atol: 1e-6))
    }

    @Test func kerasReLUVariants() {
        let x: [Float] = [-2, -0.5, 0.05, 0.2, 3, 8]
        func run(_ a: Activation) -> [Float] { a(Tensor(shape: [x.count], scalars: x)).scalars }
        // max_value only: relu6-like clip.
        #expect(run(.kerasReLU(negativeSlope: 0, threshold: 0, maxValue: 6)) == [0, 0, 0.05, 0.2, 3, 6])
        // threshold: values at or below it become 0 (Keras: x · (x > t)).
        #expect(run(.kerasReLU(negativeSlope: 0, threshold: 0.1, maxValue: nil)) == [0, 0, 0, 0.2, 3, 8])
        // negative_slope with threshold: slope · (x − t) below the threshold.
        let leaky = run(.kerasReLU(negativeSlope: 0.1, threshold: 0.05, maxValue: 4))
        #expect(isClose(leaky, [-0.205, -0.055, 0, 0.2, 3, 4], atol: 1e-6))
    }

    @Test func channelsLastReshapeFollowsKerasOrder() {
        // One item, C = 2, H = 1, W = 3: channels-first [a0 a1 a2 | b0 b1 b2]; Keras's order is a0 b0 a1 b1 a2 b2.
        let x = Tensor(shape: [1, 2, 1, 3], scalars: [0, 1, 2, 10, 11, 12])
        #expect(ChannelsLast.reshape(x, to: [6]).scalars == [0, 10, 1, 11, 2, 12])
        // Regrouped as (h, w, c) = (3, 1, 2), returned channels-first: the same tensor.
        let back = ChannelsLast.reshape(ChannelsLast.reshape(x, to: [6]), to: [1, 3, 2])
        #expect(back.shape == [1, 2, 1, 3] && back.scalars == x.scalars)
        // (1, 2, 3): pixel j gets the next 3 elements as its channels.
        let regrouped = ChannelsLast.reshape(x, to: [1, 2, 3])
        #expect(regrouped.shape == [1, 3, 1, 2])
        #expect(regrouped.scalars == [0, 11, 10, 2, 1, 12])
    }

    @Test func specBindsReshapeAndAffine() throws {
        var affine = LayerSpec(name: "scale", op: .affine)
        affine.inputs = ["input"]
        var flat = LayerSpec(name: "flat", op: .reshape)
        flat.targetShape = [-1]
        let spec = ModelSpec(name: "k", inputChannels: 2, layers: [affine, flat])
        let network = try Network(spec: spec, parameters: [
            "scale.weight": Tensor(shape: [2], scalars: [2, -1]), "scale.bias": Tensor(shape: [2], scalars: [1, 0]),
        ])
        let y = network(Tensor(shape: [1, 2, 1, 2], scalars: [1, 2, 3, 4]))
        #expect(y.shape == [1, 4])
        #expect(y.scalars == [3, -3, 5, -4])
    }

    @Test(arguments: [[0], [2, 3], [1, -1, 3], [Int.max]])
    func badTargetShapeIsRefused(_ target: [Int]) {
        var layer = LayerSpec(name: "r", op: .reshape)
        layer.targetShape = target
        #expect(throws: NetworkError.self) { try ModelSpec(name: "k", layers: [layer]).validate() }
    }
}
