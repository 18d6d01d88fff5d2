import CamwatchNN
import CamwatchTensor
import Testing

@Suite struct ModelSpecTests {
    static let json = """
        {"name": "tiny", "layers": [
          {"name": "conv", "op": "conv2d", "out_channels": 2, "kernel": [3, 1], "padding": [1, 0, 0, 0], "bias": false},
          {"name": "act", "op": "leaky_relu", "negative_slope": 0.2},
          {"name": "pool", "op": "global_avgpool"},
          {"name": "flat", "op": "flatten"},
          {"name": "fc", "op": "linear"}
        ]}
        """

    static let yaml = """
        name: tiny
        layers:
          - {name: conv, op: conv2d, out_channels: 2, kernel: [3, 1], padding: [1, 0, 0, 0], bias: false}
          - name: act
            op: leaky_relu
            negative_slope: 0.2
          - {name: pool, op: global_avgpool}
          - {name: flat, op: flatten}
          - {name: fc, op: linear}
        """

    @Test func jsonAndYAMLDescribeTheSameModel() throws {
        let a = try ModelSpec.parse(Self.json)
        let b = try ModelSpec.parse(Self.yaml)
        #expect(a == b)
        #expect(a.layers[0].padding == .explicit(top: 1, bottom: 0, left: 0, right: 0))
        #expect(a.layers[0].kernel == IntPair(3, 1))
        #expect(try ModelSpec.parse(a.jsonString()) == a)
    }

    @Test func sizesLeftOpenComeFromTheWeights() throws {
        let spec = try ModelSpec.parse(Self.json)
        let parameters = ["conv.weight": Tensor(shape: [2, 3, 3, 1], repeating: 0.1),
                          "fc.weight": Tensor(shape: [4, 2], repeating: 1), "fc.bias": Tensor(shape: [4])]
        let network = try Network(spec: spec, parameters: parameters)
        let shapes = try network.shapes(inputHeight: 5, inputWidth: 6)
        #expect(shapes[0] == [1, 2, 4, 6])
        #expect(shapes.last == [1, 4])
        let output = network(Tensor(shape: [1, 3, 5, 6], repeating: 1))
        // The 3×1 kernel over 3 channels of ones gives 0.9, or 0.6 on the row that reads the top padding:
        // mean over 4×6 = (0.6·6 + 0.9·18) / 24 = 0.825 per channel; fc sums both channels.
        #expect(abs(output.scalars[0] - 1.65) < 1e-5)
    }

    @Test(arguments: [
        (#"{"name": "x", "layers": [{"name": "a", "op": "warp"}]}"#, "unknown op 'warp'"),
        (#"{"name": "x", "layers": [{"name": "a", "op": "relu", "inputs": ["b"]}]}"#, "reads 'b'"),
        (#"{"name": "x", "layers": [{"op": "relu"}]}"#, "missing key 'name'"),
        (#"{"name": "x", "layers": [{"name": "a", "op": "conv2d", "padding": "half"}]}"#, "padding 'half'"),
        (#"{"name": "x", "layers": [{"name": "a", "op": "maxpool"}]}"#, "needs 'kernel'"),
    ])
    func badSpecsSayWhatIsWrong(text: String, expected: String) throws {
        let error = try #require(throws: NetworkError.self) {
            _ = try Network(spec: try ModelSpec.parse(text), parameters: [:])
        }
        #expect(error.message.contains(expected), "\(error.message)")
    }
}
