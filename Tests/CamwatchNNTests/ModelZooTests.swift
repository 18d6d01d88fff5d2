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
    @Test(arguments: ModelZoo.names)
    func parameterNamesAndShapesAreTorchvisions(arch: String) throws {
        let listing = try ZooListing.load(arch)
        let spec = try #require(ModelZoo.spec(named: arch))
        // Binding fails on any missing, unexpected or mis-shaped tensor, so success means an exact match.
        let network = try Network(spec: spec, parameters: listing.zeroParameters())
        let shapes = try network.shapes(inputHeight: 224, inputWidth: 224)
        #expect(shapes[network.outputIndex] == [1, 1000])
        // Every torchvision leaf module is a layer of ours under the same name.
        let ours = Set(network.nodes.map(\.name))
        let missing = listing.layers.map { $0[0] }.filter { !ours.contains($0) }
        #expect(missing.isEmpty, "layers torchvision has and we lack: \(missing)")
    }

    @Test(arguments: ModelZoo.names)
    func numberOfClassesComesFromTheWeights(arch: String) throws {
        let listing = try ZooListing.load(arch)
        let spec = try #require(ModelZoo.spec(named: arch))
        let head = try #require(listing.parameters.last { $0.name.hasSuffix(".weight") && $0.shape.count == 2 })
        let biasName = head.name.replacingOccurrences(of: ".weight", with: ".bias")
        let parameters = listing.zeroParameters(replacing: [head.name: [7, head.shape[1]], biasName: [7]])
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
        let expected = ["resnet18": "layer4.1.relu_out", "vgg16": "features.29", "mobilenet_v2": "features.18.2",
                        "alexnet": "features.11"]
        for (arch, target) in expected {
            let listing = try ZooListing.load(arch)
            let network = try Network(spec: try #require(ModelZoo.spec(named: arch)), parameters: listing.zeroParameters())
            let index = try #require(network.defaultTargetIndex())
            #expect(network.nodes[index].name == target, "\(arch)")
            #expect(try network.nodeIndex(named: arch == "resnet18" ? "layer4" : target) == index)
        }
    }
}
