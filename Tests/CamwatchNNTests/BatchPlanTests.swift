import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// Running a batch in micro-batches up to a cut (``BatchPlan``): the same logits as the whole batch at once,
/// within the memory asked for.
@Suite struct BatchPlanTests {
    static func batch(of images: Int, like input: Tensor) -> Tensor {
        var generator = SplitMix64(seed: 7)
        let count = images * input.scalarCount / input.shape[0]
        return Tensor(shape: [images] + input.shape.dropFirst(),
                      scalars: (0..<count).map { _ in Float.random(in: -1...1, using: &generator) })
    }

    @Test(arguments: ["plain", "residual", "residual_nested", "depthwise"])
    func cutsAreTheNodesNothingLaterBypasses(net: String) throws {
        let network = try ReferenceNetworkTests.network(net)
        let cuts = network.cuts(after: Network.inputIndex)
        let expected = (0..<network.outputIndex).filter { c in
            network.nodes[(c + 1)...].allSatisfy { $0.inputs.allSatisfy { $0 >= c } }
        }
        #expect(cuts == expected)
        #expect(!cuts.isEmpty)
        if net.hasPrefix("residual") {
            // The nodes inside a residual block are bypassed by its shortcut.
            #expect(cuts.count < network.outputIndex)
        }
    }

    @Test(arguments: ["plain", "residual", "residual_nested", "depthwise"])
    func microBatchesGiveTheWholeBatchsLogits(net: String) throws {
        let (reference, _, _) = try ReferenceNetworkTests.reference(net)
        let network = try ReferenceNetworkTests.network(net).optimized()
        let input = Self.batch(of: 7, like: reference)
        let (height, width) = (input.shape[2], input.shape[3])
        let whole = network(input)
        let perImage = try network.batchPlan(inputHeight: height, inputWidth: width, batch: 1, memoryBytes: Int.max)
            .peakBytes
        // Budgets from under one image to just under the whole batch: every kind of plan.
        var kinds = Set<String>()
        for budget in [0, perImage, 2 * perImage, 3 * perImage, 7 * perImage - 1] {
            let plan = try network.batchPlan(inputHeight: height, inputWidth: width, batch: 7, memoryBytes: budget)
            #expect(plan.microBatch < 7, "\(plan)")
            // Within the budget, unless not even one image fits (one at a time is the floor).
            #expect(plan.peakBytes <= budget || plan.microBatch == 1, "\(plan) for \(budget) bytes")
            if budget >= 2 * perImage { #expect(plan.peakBytes <= budget, "\(plan) for \(budget) bytes") }
            kinds.insert(plan.cut == network.outputIndex ? "micro-batches throughout" : "split")
            var built: [Range<Int>] = []
            let logits = network.forward(plan: plan) { slots in
                built.append(slots)
                return input.batchItems(slots)
            }
            // The caller's inputs are asked for one micro-batch at a time, in order, covering the batch once.
            #expect(built.allSatisfy { $0.count <= plan.microBatch })
            #expect(built.flatMap { Array($0) } == Array(0..<7))
            #expect(logits.shape == whole.shape)
            // Products over fewer images may sum in another order: float rounding only.
            let scale = max(1, whole.scalars.map(abs).max() ?? 1)
            #expect(maxAbsoluteDifference(logits.scalars, whole.scalars) <= 1e-5 * scale, "\(plan)")
        }
        #expect(kinds.contains("split"), "no budget cut \(net) in two")
    }

    @Test func theWholeBatchRunsAtOnceWhenItFits() throws {
        let (reference, _, _) = try ReferenceNetworkTests.reference("residual")
        let network = try ReferenceNetworkTests.network("residual")
        let plan = try network.batchPlan(inputHeight: reference.shape[2], inputWidth: reference.shape[3], batch: 16,
                                         memoryBytes: 1 << 30)
        #expect(plan.cut == network.outputIndex && plan.microBatch == 16)
        let one = try network.batchPlan(inputHeight: reference.shape[2], inputWidth: reference.shape[3], batch: 1,
                                        memoryBytes: 1 << 30)
        #expect(plan.peakBytes == 16 * one.peakBytes)
    }

    @Test func aPlanCanStartAtACut() throws {
        let (reference, _, _) = try ReferenceNetworkTests.reference("plain")
        let network = try ReferenceNetworkTests.network("plain").optimized()
        let input = Self.batch(of: 5, like: reference)
        let start = try #require(network.cuts(after: Network.inputIndex).first)
        let (whole, captured) = network.forward(input, capturing: [start])
        let plan = try network.batchPlan(start: start, inputHeight: input.shape[2], inputWidth: input.shape[3],
                                         batch: 5, memoryBytes: 0)
        #expect(plan.start == start && plan.microBatch == 1)
        let logits = network.forward(plan: plan) { captured[0].batchItems($0) }
        #expect(maxAbsoluteDifference(logits.scalars, whole.scalars) <= 1e-5 * max(1, whole.scalars.map(abs).max() ?? 1))
    }

    /// torchvision's architectures at 224×224 (zero weights: only shapes matter), batch 16, 64 MiB: resnet18
    /// runs whole batches; resnet50 holds more than that per batch at full resolution, so its first
    /// layers run in micro-batches and the rest, from a cut on, on the whole batch.
    @Test(arguments: [("resnet18", false), ("resnet50", true)])
    func torchvisionArchitecturesAt64MiB(arch: String, splits: Bool) throws {
        let listing = try ZooListing.load(arch)
        let spec = try #require(ModelZoo.spec(named: arch))
        let network = try Network(spec: spec, parameters: listing.zeroParameters()).optimized(winograd: false)
        let plan = try network.batchPlan(inputHeight: 224, inputWidth: 224, batch: 16, memoryBytes: 64 << 20)
        #expect(plan.peakBytes <= 64 << 20, "\(plan)")
        if splits {
            #expect(plan.cut < network.outputIndex && plan.microBatch < 16, "\(plan)")
            // Everything dense runs on the whole batch: its weights are streamed once per 16 images.
            let dense = network.nodes.indices.filter { if case .linear = network.nodes[$0].layer { true } else { false } }
            #expect(dense.allSatisfy { $0 > plan.cut })
        } else {
            #expect(plan.cut == network.outputIndex && plan.microBatch == 16, "\(plan)")
        }
    }
}
