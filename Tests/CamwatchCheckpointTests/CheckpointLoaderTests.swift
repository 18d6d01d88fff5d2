import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// PyTorch state_dicts written by h5py (Scripts/fixtures/make_checkpoint_fixtures.py).
@Suite struct CheckpointLoaderTests {
    struct Expected: Decodable {
        struct Values: Decodable {
            var shape: [Int]
            var values: [Float]
        }
        var tensors: [String: Values]
        var skipped: [String]
    }

    static func expected() throws -> Expected {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/tiny_expected.json")))
        return try JSONDecoder().decode(Expected.self, from: data)
    }

    @Test(arguments: ["tiny_flat", "tiny_nested", "tiny_f16", "tiny_f64"])
    func loadsTheSameTensorsFromEveryLayout(name: String) throws {
        let expected = try Self.expected()
        let path = Fixtures.path("checkpoints/\(name).h5")
        let checkpoint = try CheckpointLoader.load(path: path)
        #expect(checkpoint.path == path)
        #expect(checkpoint.format == "pytorch-state-dict")
        #expect(Set(checkpoint.tensors.keys) == Set(expected.tensors.keys))
        #expect(expected.tensors.count == 10)
        for (key, values) in expected.tensors {
            let tensor = try #require(checkpoint.tensors[key])
            #expect(tensor.shape == values.shape, "\(key)")
            // The fixture's values are float16-representable, so every stored type converts exactly.
            #expect(tensor.scalars == values.values, "\(key)")
        }
        #expect(checkpoint.tensors["conv1.weight"]?.shape == [4, 3, 3, 3])
        #expect(checkpoint.tensors["fc.weight"]?.shape == [3, 2])
        #expect(checkpoint.tensors["bn.num_batches_tracked"] == nil)
        #expect(Array(checkpoint.skipped.keys) == expected.skipped)
        #expect(checkpoint.skipped["meta.class_ids"] == "int64 dataset, not a weight")
        let stored = name == "tiny_f16" ? "float16" : name == "tiny_f64" ? "float64" : "float32"
        #expect(Set(checkpoint.storedTypes.values) == [stored])
        #expect(checkpoint.parameterCount == 108 + 4 + 16 + 8 + 2 + 6 + 3)
    }

    @Test func readsRootAttributes() throws {
        let checkpoint = try CheckpointLoader.load(path: Fixtures.path("checkpoints/tiny_nested.h5"))
        #expect(checkpoint.epoch == 7)
        #expect(checkpoint.step == 700)
        #expect(checkpoint.arch == "tinynet")
        #expect(checkpoint.metrics == ["val_acc": 0.8125, "loss": 0.5])
        #expect(checkpoint.attributes["note"] == .string("written by make_checkpoint_fixtures.py"))
        let spec = try #require(checkpoint.modelSpec)
        let json = try JSONSerialization.jsonObject(with: Data(spec.utf8)) as? [String: Any]
        #expect(json?["name"] as? String == "tinynet")
        #expect(checkpoint.attributeSummary["arch"] == "\"tinynet\"")
        #expect(checkpoint.attributeSummary["epoch"] == "7")
    }

    @Test func formatCanBeForcedByName() throws {
        let path = Fixtures.path("checkpoints/tiny_flat.h5")
        #expect(try CheckpointLoader.load(path: path, format: "pytorch-state-dict").tensors.count == 10)
        let error = try #require(throws: CheckpointError.self) { try CheckpointLoader.load(path: path, format: "onnx") }
        #expect(error.kind == .unsupported)
        #expect(error.description == "\(path): unknown checkpoint format 'onnx' (known: keras, pytorch-state-dict)")
    }
}
