import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// torchvision's parameter listing for one architecture (Tests/Fixtures/zoo, made by
/// Scripts/fixtures/make_zoo_listings.py).
struct ZooListing: Decodable {
    struct Parameter: Decodable {
        var name: String
        var shape: [Int]
        var dtype: String
    }
    var arch: String
    var parameters: [Parameter]
    var layers: [[String]]

    /// Leaf modules that compute nothing at inference, which a traced spec leaves out.
    static let inferenceNoOps: Set<String> = ["Dropout", "Dropout2d", "Identity", "StochasticDepth", "Permute"]

    /// Scalars of the float tensors.
    var parameterCount: Int { parameters.filter { $0.dtype.hasPrefix("float") }.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    static func load(_ arch: String) throws -> ZooListing {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("zoo/\(arch).json")))
        return try JSONDecoder().decode(ZooListing.self, from: data)
    }

    /// Zero tensors with torchvision's names and shapes (integer counters left out, as loaders do).
    func zeroParameters(replacing replacements: [String: [Int]] = [:]) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for p in parameters where p.dtype.hasPrefix("float") {
            result[p.name] = Tensor(shape: replacements[p.name] ?? p.shape)
        }
        return result
    }
}

@Suite struct ModelZooTests {
    /// Binding allocates every tensor; regnet_y_128gf's 645 million parameters (2.6 GB of zeros) are left to
    /// Scripts/zoo/check_torchvision.py.
    static let testedNames = ModelZoo.names.filter { $0 != "regnet_y_128gf" }

    @Test func theZooHasEveryTorchvisionCNN() {
        #expect(ModelZoo.names.count == 68)
        for family in ["alexnet", "convnext_tiny", "densenet121", "efficientnet_b7", "efficientnet_v2_l", "googlenet",
                       "inception_v3", "mnasnet1_3", "mobilenet_v3_small", "regnet_x_400mf", "regnet_y_128gf",
                       "resnext101_64x4d", "shufflenet_v2_x2_0", "squeezenet1_1", "vgg19_bn", "wide_resnet101_2"] {
            #expect(ModelZoo.names.contains(family), "\(family)")
        }
        #expect(!ModelZoo.names.contains { $0.hasPrefix("vit_") || $0.hasPrefix("swin_") })
    }

    @Test func misspelledNamesGetSuggestions() {
        #expect(ModelZoo.suggestions(for: "ResNet-18").first == "resnet18")
        #expect(ModelZoo.suggestions(for: "efficientnetb0").first == "efficientnet_b0")
        #expect(ModelZoo.suggestions(for: "convnext_tiy").first == "convnext_tiny")
        #expect(ModelZoo.suggestions(for: "transformer9000").isEmpty)
    }

    @Test(arguments: testedNames)
    func parameterNamesAndShapesAreTorchvisions(arch: String) throws {
        let listing = try ZooListing.load(arch)
        let spec = try #require(ModelZoo.spec(named: arch))
        // Binding fails on any missing, unexpected or mis-shaped tensor, so success means an exact match.
        let network = try Network(spec: spec, parameters: listing.zeroParameters())
        let size = spec.inputSize?.height ?? 224
        let shapes = try network.shapes(inputHeight: size, inputWidth: size)
        #expect(shapes[network.outputIndex] == [1, 1000])
        // Every torchvision leaf module that computes something is a layer of ours under the same name.
        let ours = Set(network.nodes.map(\.name))
        let missing = listing.layers.filter { !ZooListing.inferenceNoOps.contains($0[1]) && !ours.contains($0[0]) }
        #expect(missing.isEmpty, "layers torchvision has and we lack: \(missing)")
    }

    @Test(arguments: testedNames)
    func numberOfClassesComesFromTheWeights(arch: String) throws {
        let listing = try ZooListing.load(arch)
        let spec = try #require(ModelZoo.spec(named: arch))
        // The classifier: a Linear, or SqueezeNet's final 1×1 convolution.
        let head = try #require(listing.parameters.last { $0.name.hasSuffix(".weight") })
        let biasName = head.name.replacingOccurrences(of: ".weight", with: ".bias")
        let parameters = listing.zeroParameters(replacing: [head.name: [7] + head.shape.dropFirst(), biasName: [7]])
        let network = try Network(spec: spec, parameters: parameters)
        #expect(try network.shapes(inputHeight: 224, inputWidth: 224)[network.outputIndex] == [1, 7])
    }

    @Test func misshapenTensorIsNamedWithBothShapes() throws {
        let listing = try ZooListing.load("resnet18")
        let spec = try #require(ModelZoo.spec(named: "resnet18"))
        var parameters = listing.zeroParameters(replacing: ["layer2.0.conv1.weight": [128, 64, 5, 5]])
        parameters.removeValue(forKey: "layer3.1.bn2.running_var")
        parameters["extra.weight"] = Tensor(shape: [3])
        let error = try #require(throws: NetworkError.self) { try Network(spec: spec, parameters: parameters) }
        #expect(error.message.contains("'layer2.0.conv1.weight' expected [128, 64, 3, 3], got [128, 64, 5, 5]"))
        #expect(error.message.contains("'layer3.1.bn2.running_var' (expected [256])"))
        #expect(error.message.contains("'extra.weight' [3]"))
        #expect(!error.message.contains("\n"))
    }

    @Test func weightsOfAnotherArchitectureAreRejected() throws {
        let listing = try ZooListing.load("vgg11")
        let spec = try #require(ModelZoo.spec(named: "resnet18"))
        #expect(throws: NetworkError.self) { try Network(spec: spec, parameters: listing.zeroParameters()) }
    }

    @Test func defaultTargetsAreTheLastConvLikeLayers() throws {
        let expected = ["resnet18": "layer4.1.relu_1", "vgg16": "features.29", "mobilenet_v2": "features.18.2",
                        "alexnet": "features.11", "convnext_tiny": "features.7.2.add", "efficientnet_b0": "features.8.2",
                        "shufflenet_v2_x1_0": "conv5.2"]
        for (arch, target) in expected {
            let listing = try ZooListing.load(arch)
            let network = try Network(spec: try #require(ModelZoo.spec(named: arch)), parameters: listing.zeroParameters())
            let index = try #require(network.defaultTargetIndex())
            #expect(network.nodes[index].name == target, "\(arch)")
            let module = ["resnet18": "layer4", "convnext_tiny": "features", "efficientnet_b0": "features",
                          "shufflenet_v2_x1_0": "conv5"][arch] ?? target
            #expect(try network.nodeIndex(named: module) == index)
        }
    }
}
