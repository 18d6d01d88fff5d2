import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// Small networks that together use every op, saved by PyTorch with h5py, evaluated by PyTorch
/// (Scripts/fixtures/make_nn_fixtures.py). Our logits must match PyTorch's to 1e-3 absolute.
@Suite struct ReferenceNetworkTests {
    static let tolerance: Float = 1e-3

    static func reference(_ net: String) throws -> (input: Tensor, logits: Tensor, file: HDF5File) {
        let file = try HDF5File.open(Fixtures.path("nets/\(net).ref.h5"))
        let input = try file.readFloats(at: "input")
        let logits = try file.readFloats(at: "logits")
        return (Tensor(shape: input.shape, scalars: input.values), Tensor(shape: logits.shape, scalars: logits.values), file)
    }

    static func network(_ net: String) throws -> Network {
        let checkpoint = try CheckpointLoader.load(path: Fixtures.path("nets/\(net).h5"))
        let spec = try ModelSpec.parse(try #require(checkpoint.modelSpec))
        return try Network(spec: spec, parameters: checkpoint.tensors)
    }

    @Test(arguments: ["plain", "residual", "residual_nested", "depthwise", "plain_f16", "plain_f64"])
    func logitsMatchPyTorch(net: String) throws {
        let (input, expected, _) = try Self.reference(net)
        let network = try Self.network(net)
        let plain = network(input)
        let folded = network.optimized()(input)
        #expect(plain.shape == expected.shape)
        #expect(maxAbsoluteDifference(plain.scalars, expected.scalars) <= Self.tolerance)
        #expect(maxAbsoluteDifference(folded.scalars, expected.scalars) <= Self.tolerance)
        // The logits are not trivially small, so agreement to 1e-3 is meaningful.
        #expect((expected.scalars.map(abs).max() ?? 0) > 0.05)
    }

    @Test(arguments: ["plain", "residual", "depthwise"])
    func intermediateActivationsMatchPyTorch(net: String) throws {
        let (input, _, file) = try Self.reference(net)
        let network = try Self.network(net)
        let names = try file.datasetPaths().filter { $0.hasPrefix("act/") }.map { String($0.dropFirst(4)) }
        #expect(!names.isEmpty)
        let indices = try names.map { try network.nodeIndex(named: $0) }
        // Capturing a layer keeps its own (unfolded) output, even with batch norms folded elsewhere.
        let captured = network.optimized(preserving: Set(indices)).forward(input, capturing: indices).captured
        for (name, value) in zip(names, captured) {
            let expected = try file.readFloats(at: "act/\(name)")
            #expect(value.shape == expected.shape, "\(name)")
            let scale = max(1, expected.values.map(abs).max() ?? 1)
            #expect(maxAbsoluteDifference(value.scalars, expected.values) <= Self.tolerance * scale, "\(name)")
        }
    }

    @Test func misshapenTensorInACheckpointIsNamed() throws {
        let checkpoint = try CheckpointLoader.load(path: Fixtures.path("nets/mismatch.h5"))
        let spec = try ModelSpec.parse(try #require(checkpoint.modelSpec))
        let error = try #require(throws: NetworkError.self) { try Network(spec: spec, parameters: checkpoint.tensors) }
        #expect(error.message.contains("shape mismatch"))
        #expect(error.message.contains("'conv3.weight' expected [16, 8, 3, 3], got [16, 16, 3, 3]"))
    }
}
