import CamwatchImage
import CamwatchTestSupport
import Foundation
import Testing

/// Colormaps against OpenCV's `COLORMAP_JET` and matplotlib's Turbo and Viridis tables.
@Suite struct ColormapTests {
    static let references: [String: [Int]] = {
        let url = URL(fileURLWithPath: Fixtures.path("images/colormaps.json"))
        guard let data = try? Data(contentsOf: url),
            let decoded = try? JSONDecoder().decode([String: [Int]].self, from: data)
        else { return [:] }
        return decoded
    }()

    @Test(arguments: [(Colormap.jet, 1, 1), (.turbo, 2, 768), (.viridis, 1, 768)])
    func matchesPublishedTable(colormap: Colormap, maxError: Int, maxMismatches: Int) throws {
        let reference = try #require(Self.references[colormap.rawValue])
        let table = colormap.lookupTable.map(Int.init)
        #expect(table.count == 768)
        #expect(reference.count == 768)
        let errors = zip(table, reference).map { abs($0 - $1) }
        #expect((errors.max() ?? 99) <= maxError)
        #expect(errors.filter { $0 != 0 }.count <= maxMismatches)
    }

    @Test func jetEndpointsAndLookup() {
        #expect(Colormap.jet.color(at: 0) == SIMD3(0, 0, 128))
        #expect(Colormap.jet.color(at: 1) == SIMD3(128, 0, 0))
        #expect(Colormap.jet.color(at: 0.5) == SIMD3(130, 255, 126))  // entry 128
        #expect(Colormap.jet.color(at: -3) == Colormap.jet.color(at: 0))
        #expect(Colormap.jet.color(at: 7) == Colormap.jet.color(at: 1))
        #expect(Colormap.jet.color(at: .nan) == Colormap.jet.color(at: 0))
        #expect(Colormap.viridis.color(at: 0) == SIMD3(68, 1, 84))
        #expect(Colormap.viridis.color(at: 1) == SIMD3(253, 231, 37))
        #expect(Colormap.jet.apply([0, 1]) == [0, 0, 128, 128, 0, 0])
        #expect(Colormap(named: "Turbo") == .turbo)
        #expect(Colormap(named: "hot") == nil)
    }

    @Test func overlayBlendsAndResizes() throws {
        let gray = RGBImage(width: 4, height: 2, pixels: [Float](repeating: 100, count: 24))
        // Same size, alpha 0.5: (jet(0) + 100) / 2 everywhere.
        let flat = HeatmapOverlay.render(
            heatmap: [Float](repeating: 0, count: 8), width: 4, height: 2, over: gray, colormap: .jet, alpha: 0.5)
        #expect(flat.count == 32)
        #expect(Array(flat.prefix(4)) == [50, 50, 114, 255])
        // A 1×2 heatmap [0, 1] stretched over 4×2 pixels: left columns cold, right columns hot.
        let stretched = HeatmapOverlay.render(
            heatmap: [0, 1], width: 2, height: 1, over: gray, colormap: .jet, alpha: 1)
        #expect(Array(stretched[0..<4]) == [0, 0, 128, 255])  // x = 0 samples the left value
        #expect(Array(stretched[12..<16]) == [128, 0, 0, 255])  // x = 3 samples the right value
        #expect(Array(stretched[16..<20]) == Array(stretched[0..<4]))  // second row repeats
        // alpha 0 leaves the image untouched.
        let none = HeatmapOverlay.render(heatmap: [1], width: 1, height: 1, over: gray, colormap: .turbo, alpha: 0)
        #expect(none.enumerated().allSatisfy { $0.offset % 4 == 3 ? $0.element == 255 : $0.element == 100 })
    }
}
