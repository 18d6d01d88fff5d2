import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// Score-CAM on Keras checkpoints against references computed on the Keras model itself
/// (Scripts/fixtures/make_keras_fixtures.py): pytorch-grad-cam's semantics transcribed over Keras model calls,
/// and tf-keras-vis's `Scorecam` for `--weighting probability`.
@Suite struct KerasScoreCAMTests {
    struct Case {
        var network: Network
        var input: Tensor
        var layer: String
        var classIndex: Int
        var references: [String: Tensor]
    }

    static func load(_ model: String, reference: String) throws -> Case {
        let path = Fixtures.path("keras/\(model)")
        let checkpoint = try CheckpointLoader.load(path: path)
        let network = try ArchitectureSource.automatic.network(for: checkpoint, path: path).network
        let file = try CheckpointLoader.load(path: Fixtures.path("keras/\(reference)"), format: "pytorch-state-dict")
        let nhwc = try #require(file.tensors["input"])
        let (h, w, c) = (nhwc.shape[1], nhwc.shape[2], nhwc.shape[3])
        var nchw = [Float](repeating: 0, count: nhwc.scalarCount)
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c { nchw[(ch * h + y) * w + x] = nhwc.scalars[(y * w + x) * c + ch] }
            }
        }
        return Case(network: network, input: Tensor(shape: [1, c, h, w], scalars: nchw),
                    layer: try #require(file.attributes["layer"]?.stringValue),
                    classIndex: try #require(file.attributes["class"]?.intValue), references: file.tensors)
    }

    @Test(arguments: [("functional.keras", "scorecam_functional.h5"), ("tfk_functional.h5", "scorecam_tfk_functional.h5")])
    func pytorchGradCAMSemanticsOnTheKerasModel(_ model: String, _ reference: String) throws {
        let c = try Self.load(model, reference: reference)
        let map = try ScoreCAM(network: c.network, targetLayer: c.layer).explain(c.input, classIndex: c.classIndex)
        let low = try #require(c.references["pgc_heatmap_lowres"])
        let high = try #require(c.references["pgc_heatmap"])
        #expect(map.lowResolution.shape == low.shape)
        #expect(pearson(map.lowResolution.scalars, low.scalars) >= 0.999)
        #expect(maxAbsoluteDifference(map.lowResolution.scalars, low.scalars) <= 1e-3)
        #expect(pearson(map.values, high.scalars) >= 0.999)
    }

    @Test func probabilityWeightingEqualsTfKerasVis() throws {
        let c = try Self.load("tfk_functional.h5", reference: "scorecam_tfk_functional.h5")
        let options = ScoreCAM.Options(weighting: .probability)
        let map = try ScoreCAM(network: c.network, targetLayer: c.layer, options: options)
            .explain(c.input, classIndex: c.classIndex)
        let reference = try #require(c.references["tfkv_heatmap_lowres"])
        #expect(map.lowResolution.shape == reference.shape)
        #expect(pearson(map.lowResolution.scalars, reference.scalars) >= 0.999)
    }
}
