import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// The default target is the deepest conv-like layer whose map is at least 7×7 at the input
/// size, on torchvision's resnet18 (zero weights with torchvision's names and shapes: only shapes matter here).
@Suite struct CAMTargetTests {
    struct Listing: Decodable {
        struct Parameter: Decodable {
            var name: String
            var shape: [Int]
            var dtype: String
        }
        var parameters: [Parameter]
    }

    static func resnet18() throws -> Network {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("zoo/resnet18.json")))
        let listing = try JSONDecoder().decode(Listing.self, from: data)
        let tensors = listing.parameters.filter { $0.dtype.hasPrefix("float") }.map { ($0.name, Tensor(shape: $0.shape)) }
        let spec = try #require(ModelZoo.spec(named: "resnet18"))
        return try Network(spec: spec, parameters: Dictionary(uniqueKeysWithValues: tensors))
    }

    @Test("resnet18: layer4 (7×7) at 224 px; layer2 (8×8) at 64 px, where layer3 gives 4×4 and layer4 2×2")
    func defaultFollowsTheInputSize() throws {
        let network = try Self.resnet18()
        let at224 = try network.camTarget(nil, inputHeight: 224, inputWidth: 224)
        #expect(at224.name.hasPrefix("layer4.") && at224.mapHeight == 7 && at224.mapWidth == 7 && at224.warning == nil)
        #expect(at224.index == network.defaultTargetIndex())
        let layer2 = try network.nodeIndex(named: "layer2")
        let at64 = try network.camTarget(nil, inputHeight: 64, inputWidth: 64)
        #expect(at64.index == layer2 && at64.name == network.nodes[layer2].name)
        #expect(at64.mapHeight == 8 && at64.mapWidth == 8 && at64.warning == nil)
        // Not square: both sides must reach 7 (64 px high: layer2's 8 rows; 224 wide alone would allow layer4).
        let wide = try network.camTarget(nil, inputHeight: 64, inputWidth: 224)
        #expect(wide.index == layer2 && wide.mapHeight == 8 && wide.mapWidth == 28)
    }

    @Test("below 7×7 everywhere: the deepest layer, with a warning naming its map size")
    func fallbackWarns() throws {
        let network = try Self.resnet18()
        // 12 px: the stem's convolution already gives 6×6.
        let target = try network.camTarget(nil, inputHeight: 12, inputWidth: 12)
        let deepest = try #require(network.defaultTargetIndex())
        #expect(target.index == deepest && target.mapHeight == 1 && target.mapWidth == 1)
        #expect(target.warning?.hasPrefix(
            "no conv-like layer keeps a 7×7 map at a 12×12 input; the deepest, '\(network.nodes[deepest].name)', gives 1×1") == true,
                "\(target.warning ?? "")")
    }

    @Test("a named layer below 4×4 is warned about, naming the default at that size; 4×4 and up is not")
    func namedCoarseLayerWarns() throws {
        let network = try Self.resnet18()
        let layer4 = try network.camTarget("layer4", inputHeight: 64, inputWidth: 64)
        #expect(layer4.index == (try network.nodeIndex(named: "layer4")) && layer4.mapHeight == 2)
        let layer2 = try network.nodes[network.nodeIndex(named: "layer2")].name
        #expect(layer4.warning == "layer 'layer4' gives a 2×2 map at a 64×64 input: every heatmap is a smooth blend of 4 values; "
            + "the default at this size would be '\(layer2)' (8×8)")
        #expect(try network.camTarget("layer3", inputHeight: 64, inputWidth: 64).warning == nil)
        #expect(throws: SaliencyError.self) { try network.camTarget("layer9", inputHeight: 64, inputWidth: 64) }
        #expect(throws: SaliencyError.self) { try network.camTarget(nil, inputHeight: 0, inputWidth: 64) }
    }
}
