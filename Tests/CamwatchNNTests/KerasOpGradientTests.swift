import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// The vector-Jacobian products of the ops only Keras models use (exact gelu, Keras's ReLU options, the
/// channels-last reshape) against PyTorch autograd (Scripts/fixtures/make_keras_op_gradients.py), so the
/// gradient CAM methods work on Keras models too. Tolerance: 1e-4 of the largest reference value.
@Suite struct KerasOpGradientTests {
    struct Fixture: Decodable {
        struct ReLUCase: Decodable {
            var negative_slope: Float
            var threshold: Float
            var max_value: Float?
            var gradient: [Float]
        }
        struct ReshapeCase: Decodable {
            var target: [Int]
            var output_gradient: [Float]
            var output_shape: [Int]
            var gradient: [Float]
        }
        struct Reshapes: Decodable {
            var input_shape: [Int]
            var cases: [ReshapeCase]
        }
        var x: [Float]
        var g: [Float]
        var gelu: [Float]
        var keras_relu: [ReLUCase]
        var reshape: Reshapes
    }

    static func fixture() throws -> Fixture {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("methods/keras_op_gradients.json")))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    static func close(_ actual: [Float], _ expected: [Float]) -> Bool {
        let scale = expected.map(abs).max() ?? 0
        return actual.count == expected.count && maxAbsoluteDifference(actual, expected) <= 1e-4 * max(scale, 1e-6)
    }

    func gradient(_ activation: Activation, _ f: Fixture) -> [Float] {
        var y = f.x
        activation.apply(to: &y)
        let input = Tensor(shape: [f.x.count], scalars: f.x)
        return activation.inputGradient(Tensor(shape: [f.g.count], scalars: f.g), input: input,
                                        output: Tensor(shape: [y.count], scalars: y)).scalars
    }

    @Test func geluMatchesAutograd() throws {
        let f = try Self.fixture()
        let ours = gradient(.gelu, f)
        #expect(Self.close(ours, f.gelu), "max |d| \(maxAbsoluteDifference(ours, f.gelu))")
    }

    @Test func kerasReLUMatchesAutogradForEachOption() throws {
        let f = try Self.fixture()
        for c in f.keras_relu {
            let ours = gradient(.kerasReLU(negativeSlope: c.negative_slope, threshold: c.threshold, maxValue: c.max_value), f)
            #expect(Self.close(ours, c.gradient),
                    "slope \(c.negative_slope) threshold \(c.threshold) max \(String(describing: c.max_value)): max |d| \(maxAbsoluteDifference(ours, c.gradient))")
        }
    }

    @Test func channelsLastReshapeMatchesAutograd() throws {
        let f = try Self.fixture()
        let shape = f.reshape.input_shape
        let x = Tensor(shape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
        for c in f.reshape.cases {
            let layer = Layer.reshapeChannelsLast(c.target)
            let output = layer([x])
            #expect(output.shape == c.output_shape)
            let ours = layer.inputGradients(Tensor(shape: c.output_shape, scalars: c.output_gradient), inputs: [x],
                                            output: output, wanted: [true])
            let gradient = try #require(ours.first ?? nil)
            #expect(gradient.shape == shape)
            #expect(Self.close(gradient.scalars, c.gradient), "target \(c.target)")
        }
    }
}
