public import CamwatchTensor

/// How one batch runs through a network within a memory budget: the nodes up to a cut in micro-batches,
/// the rest on the whole batch.
///
/// A forward pass frees each value after its last reader, so what a batch holds at once is set by its
/// widest nodes, usually the first, full-resolution ones (vgg16: 26 MB per 224×224 image around its
/// second convolution, 411 MB for a batch of 16). Those run as fast on 2 images as on 16, since one image's
/// plane already makes their matrix products wide. The late nodes are the other way round: small planes
/// and large weights, whose products are only wide across a batch (a dense layer streams all its weights
/// once per pass). So a plan runs the nodes up to a cut in micro-batches that fit the budget, gathers the
/// cut's outputs for the whole batch, and runs the rest at once.
public struct BatchPlan: Sendable, Equatable, CustomStringConvertible {
    /// The node whose output the caller builds, or ``Network/inputIndex`` for the network input.
    public let start: Int
    /// The last node run in micro-batches; the output node when the whole pass runs in them.
    public let cut: Int
    /// Images per micro-batch through nodes `start + 1 ... cut`.
    public let microBatch: Int
    /// Images per pass after the cut.
    public let batch: Int
    /// Per image: the most values held at once up to the cut, after it, and the cut's output.
    let headElements: Int
    let tailElements: Int
    let cutElements: Int

    /// The most activation memory the plan holds at once, in bytes: float32 values as counted by
    /// ``Network/batchPlan(start:inputHeight:inputWidth:batch:memoryBytes:)``.
    public var peakBytes: Int {
        let elements = microBatch >= batch
            ? batch * max(headElements, tailElements)
            : max(microBatch * headElements + batch * cutElements, batch * tailElements)
        return elements * MemoryLayout<Float>.size
    }

    /// The same plan for a smaller batch (a job's last, partial batch): the cut still holds.
    public func resized(to images: Int) -> BatchPlan {
        precondition(images >= 1 && images <= batch, "a plan for \(batch) images resized to \(images)")
        return BatchPlan(start: start, cut: cut, microBatch: min(microBatch, images), batch: images,
                         headElements: headElements, tailElements: tailElements, cutElements: cutElements)
    }

    public var description: String {
        "batch \(batch), micro-batches of \(microBatch) through node \(cut), \(peakBytes >> 20) MiB of activations"
    }
}

extension Network {
    /// The nodes `c` after `start` that no later node bypasses (every node after `c` reads only `c` and
    /// nodes after it), in order: where a forward pass can be cut in two. The output node is not one.
    public func cuts(after start: Int) -> [Int] {
        var earliestRead = Int.max  // the smallest index read by any node after the one being looked at
        var cuts: [Int] = []
        for index in stride(from: outputIndex - 1, to: start, by: -1) {
            earliestRead = nodes[index + 1].inputs.reduce(earliestRead, min)
            if earliestRead >= index { cuts.append(index) }
        }
        return cuts.reversed()
    }

    /// The elements one image holds while each node runs, from node `start`'s output on: the values still
    /// to be read plus the node's own output (its inputs count until the node has run), which is new storage
    /// unless the layer passes its input on (``Layer/outputStorage``). Index `i` is node `i`'s; nodes up to
    /// `start` hold 0.
    func liveElements(shapes: [[Int]], inputShape: [Int], start: Int) -> [Int] {
        func elements(_ node: Int) -> Int {
            (node == Self.inputIndex ? inputShape : shapes[node]).dropFirst().reduce(1, *)
        }
        let readers = lastReaders()
        let startLastUse = ((start + 1)...outputIndex).last { nodes[$0].inputs.contains(start) } ?? start
        /// The last reader of a value read after `start` (`start` itself, or a node after it).
        func lastUse(_ source: Int) -> Int { source == start ? startLastUse : readers[source] }
        var held: [Int: Int] = [start: elements(start)]
        var live = [Int](repeating: 0, count: nodes.count)
        for index in (start + 1)...outputIndex {
            let node = nodes[index]
            let reusesInput: Bool
            switch node.layer.outputStorage {
            case .input: reusesInput = true
            case .inputWhenLastReader: reusesInput = node.inputs.first.map { lastUse($0) == index } ?? false
            case .new: reusesInput = false
            }
            live[index] = held.values.reduce(0, +) + (reusesInput ? 0 : elements(index))
            for source in node.inputs where lastUse(source) == index { held[source] = nil }
            if readers[index] > index { held[index] = elements(index) }
        }
        return live
    }

    /// The plan for a batch of `batch` images of `inputHeight × inputWidth`, starting from node `start`'s output,
    /// whose values stay within `memoryBytes` at every node.
    ///
    /// The whole batch runs at once when it fits. Otherwise the earliest cut after which the whole batch
    /// fits, with room for the gathered cut outputs and at least one image before it, splits the pass; the
    /// micro-batch is what the budget leaves. With no such cut every node runs in micro-batches (at least 1
    /// image: the budget is a target, and one image over it still runs).
    ///
    /// - Parameters:
    ///   - start: a cut, or ``inputIndex``.
    ///   - memoryBytes: the activations one batch may hold at once (float32 values; kernel workspaces, a few
    ///     MiB, are not counted).
    /// - Throws: ``NetworkError`` when the input does not flow through the network (``shapes(inputHeight:inputWidth:batch:)``).
    public func batchPlan(
        start: Int = Network.inputIndex, inputHeight: Int, inputWidth: Int, batch: Int, memoryBytes: Int
    ) throws(NetworkError) -> BatchPlan {
        precondition(batch >= 1, "a batch of \(batch) images")
        precondition(start == Self.inputIndex || cuts(after: start - 1).first == start, "node \(start) is not a cut")
        let shapes = try shapes(inputHeight: inputHeight, inputWidth: inputWidth)
        let live = liveElements(shapes: shapes, inputShape: [1, inputChannels, inputHeight, inputWidth], start: start)
        let budget = max(0, memoryBytes) / MemoryLayout<Float>.size
        let peak = live[(start + 1)...].max() ?? 0
        if batch * peak <= budget {
            return BatchPlan(start: start, cut: outputIndex, microBatch: batch, batch: batch, headElements: peak,
                             tailElements: 0, cutElements: 0)
        }
        for cut in cuts(after: start) {
            let tailPeak = live[(cut + 1)...outputIndex].max() ?? 0
            guard batch * tailPeak <= budget else { continue }
            let cutElements = shapes[cut].dropFirst().reduce(1, *)
            let headPeak = live[(start + 1)...cut].max() ?? 0
            let micro = (budget - batch * cutElements) / max(1, headPeak)
            if micro >= 1 {
                return BatchPlan(start: start, cut: cut, microBatch: min(micro, batch), batch: batch,
                                 headElements: headPeak, tailElements: tailPeak, cutElements: cutElements)
            }
        }
        let outputElements = shapes[outputIndex].dropFirst().reduce(1, *)
        let micro = max(0, budget - batch * outputElements) / max(1, peak)
        return BatchPlan(start: start, cut: outputIndex, microBatch: max(1, min(batch, micro)), batch: batch,
                         headElements: peak, tailElements: 0, cutElements: outputElements)
    }

    /// Runs one batch by `plan`: nodes `plan.start + 1 ... plan.cut` in micro-batches, the rest at once.
    ///
    /// - Parameter startValue: node `plan.start`'s output (or the network input) for the images in a range
    ///   of `0 ..< plan.batch`; built per micro-batch, so the caller never holds the whole batch's.
    /// - Returns: the output node's value for the whole batch.
    public func forward(plan: BatchPlan, startValue: (Range<Int>) -> Tensor) -> Tensor {
        if plan.microBatch >= plan.batch {
            return forward(from: plan.start, value: startValue(0..<plan.batch), through: outputIndex)
        }
        var gathered: [Float] = []
        var shape: [Int] = []
        for first in stride(from: 0, to: plan.batch, by: plan.microBatch) {
            let part = forward(from: plan.start, value: startValue(first..<min(first + plan.microBatch, plan.batch)),
                               through: plan.cut)
            if gathered.isEmpty {
                shape = [plan.batch] + part.shape.dropFirst()
                gathered.reserveCapacity(shape.reduce(1, *))
            }
            gathered.append(contentsOf: part.scalars)
        }
        let value = Tensor(shape: shape, scalars: gathered)
        return plan.cut == outputIndex ? value : forward(from: plan.cut, value: value, through: outputIndex)
    }
}

extension Layer {
    /// Where a layer's output lives, for counting memory (``Network/batchPlan(start:inputHeight:inputWidth:batch:memoryBytes:)``).
    enum OutputStorage {
        /// The first input's storage: a view of the same values (identity, flatten).
        case input
        /// The first input's storage when the forward pass hands over its last reference (elementwise layers).
        case inputWhenLastReader
        /// Newly allocated.
        case new
    }

    var outputStorage: OutputStorage {
        switch self {
        case .identity, .flatten: .input
        case .batchNorm, .activation, .add, .layerNorm, .groupNorm, .scalarAffine: .inputWhenLastReader
        default: .new
        }
    }
}
