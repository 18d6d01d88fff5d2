import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// One tiny network per torchvision CNN family, built from the family's own torchvision blocks and saved by
/// camwatch_torch.save_checkpoint (Scripts/fixtures/make_family_fixtures.py): bound through its `camwatch_model`
/// spec the way the daemon binds a checkpoint, its logits against PyTorch's and its Grad-CAM and Score-CAM
/// heatmaps against pytorch-grad-cam's at the module the fixture names. The zoo's binding tests check that the
/// full-size torchvision models bind; these check that every family's blocks compute what PyTorch computes.
@Suite struct FamilyFixtureTests {
    static let families = ["resnet", "densenet", "efficientnet", "convnext", "regnet", "mobilenet_v3", "mnasnet",
                           "shufflenet_v2", "squeezenet", "googlenet", "inception_v3"]

    struct Case {
        var reference: HDF5File
        var network: Network
        var input: Tensor
        var target: String
        var classIndex: Int

        init(_ family: String) throws {
            let path = Fixtures.path("families/\(family).h5")
            let checkpoint = try CheckpointLoader.load(path: path)
            let bound = try ArchitectureSource.automatic.network(for: checkpoint, path: path)
            #expect(bound.source == "its camwatch_model attribute")
            network = bound.network
            reference = try HDF5File.open(Fixtures.path("families/\(family).ref.h5"))
            let attributes = try reference.attributes(at: "/")
            let x = try reference.readFloats(at: "input")
            input = Tensor(shape: x.shape, scalars: x.values)
            target = try #require(attributes["target_layer"]?.stringValue)
            classIndex = Int(try #require(attributes["class"]?.intValue))
        }

        func values(_ dataset: String) throws -> [Float] { try reference.readFloats(at: dataset).values }
    }

    @Test(arguments: families)
    func logitsMatchPyTorch(family: String) throws {
        let c = try Case(family)
        let logits = c.network.forward(c.input).output
        let expected = try c.values("logits")
        #expect(logits.shape == [1, expected.count])
        let scale = expected.map(abs).max() ?? 0
        #expect(scale > 0)
        #expect(maxAbsoluteDifference(logits.scalars, expected) <= 1e-4 * scale, "\(family)")
    }

    @Test(arguments: families)
    func gradCAMMatchesPytorchGradCAM(family: String) throws {
        let c = try Case(family)
        let map = try GradientCAM(network: c.network, targetLayer: c.target, variant: .gradCAM)
            .explain(c.input, classIndex: c.classIndex)
        let expected = try c.values("gradcam")
        #expect(pearson(map.values, expected) >= 0.999, "\(family)")
        #expect(maxAbsoluteDifference(map.values, expected) <= 1e-3, "\(family)")
    }

    @Test(arguments: families)
    func scoreCAMMatchesPytorchGradCAM(family: String) throws {
        let c = try Case(family)
        let map = try ScoreCAM(network: c.network, targetLayer: c.target).explain(c.input, classIndex: c.classIndex)
        let expected = try c.values("scorecam")
        #expect(pearson(map.values, expected) >= 0.999, "\(family)")
        #expect(maxAbsoluteDifference(map.values, expected) <= 1e-3, "\(family)")
    }
}
