import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchNN
@testable import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// The heatmap metrics against references run on the same nets, inputs and heatmaps
/// (Scripts/fixtures/make_metric_fixtures.py): straight numpy/PyTorch transcriptions of each formula,
/// pytorch-grad-cam's `CamMultImageConfidenceChange`, and the Score-CAM authors' energy pointing game.
@Suite struct FaithfulnessReferenceTests {
    static let cases = ScoreCAMReferenceTests.cases

    struct Case {
        var reference: HDF5File
        var network: Network
        var input: Tensor
        var heatmap: [Float]
        var classIndex: Int
        var box: BoundingBox

        init(_ name: String) throws {
            reference = try HDF5File.open(Fixtures.path("metrics/\(name).h5"))
            let scoreCAM = try ScoreCAMReferenceTests.Case(name)
            network = scoreCAM.network
            input = scoreCAM.input
            heatmap = try scoreCAM.values("heatmap")
            classIndex = Int(try #require(try reference.attributes(at: "/")["class"]?.intValue))
            box = try #require(BoundingBox(try reference.readFloats(at: "bbox").values.map(Double.init)))
        }

        func scalar(_ name: String) throws -> Double { Double(try reference.readFloats(at: name).values[0]) }
        func values(_ name: String) throws -> [Float] { try reference.readFloats(at: name).values }
        var width: Int { input.shape[3] }
        var height: Int { input.shape[2] }
    }

    @Test(arguments: cases)
    func energyMatchesTheFormulaAndTheAuthorsPointingGame(name: String) throws {
        let c = try Case(name)
        let energy = try #require(Faithfulness.energy(heatmap: c.heatmap, width: c.width, height: c.height, box: c.box))
        #expect(abs(energy - (try c.scalar("energy"))) <= 1e-4)
        #expect(abs(energy - (try c.scalar("energy_authors"))) <= 1e-4)
    }

    @Test(arguments: cases)
    func confidenceChangeMatchesPytorchGradCAM(name: String) throws {
        let c = try Case(name)
        let change = try Faithfulness.confidenceChange(
            network: c.network, input: c.input, heatmap: c.heatmap, classIndex: c.classIndex)
        #expect(abs(Double(change.original) - (try c.scalar("y"))) <= 1e-4)
        #expect(abs(Double(change.explanation) - (try c.scalar("pgc_o"))) <= 1e-4)
        #expect(abs(Double(change.explanation - change.original) - (try c.scalar("pgc_diff"))) <= 1e-4)
        #expect(abs(change.drop - (try c.scalar("drop"))) <= 1e-4)
        #expect(change.increased == (try c.scalar("increase") == 1))
    }

    @Test(arguments: cases)
    func deletionAndInsertionCurvesMatchTheTranscription(name: String) throws {
        let c = try Case(name)
        let deletion = try Faithfulness.causalCurve(
            .deletion, network: c.network, input: c.input, heatmap: c.heatmap, classIndex: c.classIndex, batchSize: 5,
            threads: 2)
        #expect(deletion.scores.count == c.height + 1)
        #expect(maxAbsoluteDifference(deletion.scores, try c.values("deletion")) <= 1e-4)
        #expect(abs(deletion.area - (try c.scalar("deletion_auc"))) <= 1e-4)
        let insertion = try Faithfulness.causalCurve(
            .insertion, network: c.network, input: c.input, heatmap: c.heatmap, classIndex: c.classIndex)
        #expect(maxAbsoluteDifference(insertion.scores, try c.values("insertion")) <= 1e-4)
        #expect(abs(insertion.area - (try c.scalar("insertion_auc"))) <= 1e-4)
        // A step that does not divide H·W: the last step is partial, the x axis still evenly spaced.
        let partial = try Faithfulness.causalCurve(
            .deletion, network: c.network, input: c.input, heatmap: c.heatmap, classIndex: c.classIndex, step: 7)
        #expect(partial.scores.count == (c.width * c.height + 6) / 7 + 1)
        #expect(maxAbsoluteDifference(partial.scores, try c.values("deletion_step7")) <= 1e-4)
        #expect(abs(partial.area - (try c.scalar("deletion_step7_auc"))) <= 1e-4)
    }

    @Test func blurIsRISEsKernelWithZeroPadding() throws {
        let c = try Case("depthwise_block1")
        let kernel = try c.values("blur_kernel")
        #expect(maxAbsoluteDifference(Faithfulness.blurKernel.map(Float.init), kernel) <= 1e-7)
        #expect(maxAbsoluteDifference(Faithfulness.blurred(c.input).scalars, try c.values("blurred")) <= 1e-5)
    }

    @Test func scaledBoxCoversThePixelsWhoseCentresItHolds() throws {
        // A 4×4 probe's box [1, 1, 3, 3) stretched to an 8×8 input covers columns and rows 2...5.
        let box = BoundingBox(x0: 1, y0: 1, x1: 3, y1: 3).scaled(fromWidth: 4, height: 4, toWidth: 8, height: 8)
        var heatmap = [Float](repeating: 0, count: 64)
        for y in 2...5 { for x in 2...5 { heatmap[y * 8 + x] = 1 } }
        #expect(Faithfulness.energy(heatmap: heatmap, width: 8, height: 8, box: box) == 1)
        heatmap[1 * 8 + 2] = 1  // row 1 is outside
        heatmap[2 * 8 + 6] = 2  // column 6 is outside
        #expect(Faithfulness.energy(heatmap: heatmap, width: 8, height: 8, box: box) == 16.0 / 19.0)
        // x and y are not swapped: a box over the top-right quarter of a map that is heavy there.
        var corner = [Float](repeating: 0, count: 64)
        corner[0 * 8 + 7] = 1
        let topRight = BoundingBox(x0: 4, y0: 0, x1: 8, y1: 4)
        #expect(Faithfulness.energy(heatmap: corner, width: 8, height: 8, box: topRight) == 1)
    }

    @Test func undefinedEnergyIsNilNotNaN() {
        let zeros = [Float](repeating: 0, count: 16)
        #expect(Faithfulness.energy(heatmap: zeros, width: 4, height: 4, box: BoundingBox(x0: 0, y0: 0, x1: 2, y1: 2)) == nil)
        // A box between pixel centres (or outside the image) holds no pixel.
        let ones = [Float](repeating: 1, count: 16)
        #expect(Faithfulness.energy(heatmap: ones, width: 4, height: 4, box: BoundingBox(x0: 1.6, y0: 0, x1: 2.4, y1: 4)) == nil)
        #expect(Faithfulness.energy(heatmap: ones, width: 4, height: 4, box: BoundingBox(x0: 10, y0: 10, x1: 20, y1: 20)) == nil)
    }

    @Test func areaIsTheTrapezoidRuleOnTheUnitInterval() {
        #expect(Faithfulness.area([1, 1, 1]) == 1)
        #expect(Faithfulness.area([1, 0]) == 0.5)
        #expect(abs(Faithfulness.area([0, 1, 0, 1]) - 0.5) < 1e-12)
        #expect(Faithfulness.causalPasses(height: 224, width: 224, step: nil) == 225)
        #expect(Faithfulness.causalPasses(height: 5, width: 5, step: 7) == 5)
    }

    @Test func salientOrderPutsTheLaterPixelFirstAmongTies() {
        #expect(Faithfulness.salientOrder([0.5, 0, 1, 0, 0.5]) == [2, 4, 0, 3, 1])
    }

    @Test func metricListsParseAndRefuseUnknownWords() throws {
        #expect(try HeatmapMetric.parseList("energy, drop,deletion") == [.energy, .drop, .deletion])
        #expect(try HeatmapMetric.parseList("increase") == [.drop])
        #expect(try HeatmapMetric.parseList("none").isEmpty)
        #expect(throws: SaliencyError.self) { try HeatmapMetric.parseList("energy,pointing") }
    }
}
