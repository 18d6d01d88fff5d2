public import CamwatchTensor

/// A network bound to its weights: nodes in evaluation order, each reading earlier nodes' outputs.
///
/// Built from a ``ModelSpec`` and named tensors by ``init(spec:parameters:)``; evaluated with
/// ``forward(_:capturing:)``. Inference only; a value type, safe to share across tasks.
public struct Network: Sendable {
    /// One evaluation step.
    public struct Node: Sendable {
        public var name: String
        public var layer: Layer
        /// Indices of the nodes read; ``Network/inputIndex`` stands for the network input.
        public var inputs: [Int]
    }

    /// The index that stands for the network input in ``Node/inputs``.
    public static let inputIndex = -1

    public let name: String
    public let inputChannels: Int
    public private(set) var nodes: [Node]
    /// The node whose output is the logits.
    public let outputIndex: Int

    /// Evaluates the network.
    ///
    /// - Parameters:
    ///   - input: `[N, inputChannels, H, W]`, already preprocessed.
    ///   - capturing: node indices whose outputs are returned as well (e.g. a Score-CAM target).
    /// - Returns: the output node's value (`[N, classes]` for a classifier) and the captured values,
    ///   in the order asked for.
    /// - Precondition: the input shape passed ``validate(inputHeight:inputWidth:)``.
    public func forward(_ input: Tensor, capturing: [Int] = []) -> (output: Tensor, captured: [Tensor]) {
        let keep = Set(capturing)
        // Each value is released after its last reader, so peak memory stays near the widest layer.
        let lastUse = lastReaders()
        let finalNode = capturing.reduce(outputIndex, max)
        var values = [Tensor?](repeating: nil, count: nodes.count)
        var captured: [Int: Tensor] = [:]
        for index in 0...finalNode {
            let node = nodes[index]
            let arguments = node.inputs.map { $0 == Self.inputIndex ? input : (values[$0] ?? input) }
            // Dropping the last reference before the call lets elementwise layers work in place.
            for source in node.inputs where source >= 0 && lastUse[source] == index { values[source] = nil }
            let value = node.layer(arguments)
            if keep.contains(index) { captured[index] = value }
            if lastUse[index] > index || index == outputIndex { values[index] = value }
        }
        let output = values[outputIndex] ?? captured[outputIndex] ?? input
        return (output, capturing.map { captured[$0] ?? output })
    }

    /// Evaluates the nodes after `index` from that node's output: the rest of a forward pass whose first
    /// steps were computed another way (Score-CAM builds its first convolution's output from precomputed
    /// responses).
    ///
    /// - Parameters:
    ///   - index: a node that no later node bypasses: later nodes read only it and nodes after it.
    ///   - value: node `index`'s output for a batch, e.g. `[N, C, H, W]`.
    /// - Returns: the output node's value.
    public func forward(after index: Int, value: Tensor) -> Tensor {
        precondition(index >= 0 && index < outputIndex, "node \(index) is not before the output")
        return forward(from: index, value: value, through: outputIndex)
    }

    /// Evaluates nodes `start + 1 ... end` from node `start`'s output and returns node `end`'s: one segment
    /// of a forward pass, between two nodes no other node bypasses (``cuts``).
    ///
    /// - Parameters:
    ///   - start: a cut, or ``inputIndex`` with `value` the network input.
    ///   - value: node `start`'s output for a batch.
    ///   - end: a cut after `start`, or ``outputIndex``.
    public func forward(from start: Int, value: Tensor, through end: Int) -> Tensor {
        precondition(start >= Self.inputIndex && start < end && end <= outputIndex,
                     "no segment from node \(start) through node \(end)")
        precondition(nodes[(start + 1)...end].allSatisfy { $0.inputs.allSatisfy { $0 >= start } },
                     "a node after \(start) reads a value from before it")
        let lastUse = lastReaders()
        let startLastUse = ((start + 1)...end).last { nodes[$0].inputs.contains(start) }
        var values = [Tensor?](repeating: nil, count: nodes.count)
        var startValue: Tensor? = value
        for i in (start + 1)...end {
            let node = nodes[i]
            let arguments = node.inputs.map { $0 == start ? startValue! : values[$0]! }
            // Dropping the last reference before the call lets elementwise layers work in place.
            for source in node.inputs where source > start && lastUse[source] == i { values[source] = nil }
            if i == startLastUse { startValue = nil }
            let result = node.layer(arguments)
            if i == end { return result }
            if lastUse[i] > i { values[i] = result }
        }
        preconditionFailure("unreachable: the loop returns at node \(end)")
    }

    /// For each node, the last node that reads its value (−1 when none reads it): where a forward pass may
    /// release it.
    func lastReaders() -> [Int] {
        var last = [Int](repeating: -1, count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for source in node.inputs where source >= 0 { last[source] = index }
        }
        return last
    }

    /// The logits for a batch: ``forward(_:capturing:)`` without captures.
    public func callAsFunction(_ input: Tensor) -> Tensor { forward(input).output }
}

// MARK: - Looking up layers

extension Network {
    /// The node index for a layer name, or for a module prefix (`layer4` = the last node named `layer4.…`).
    ///
    /// - Throws: ``NetworkError`` listing the conv-like layers when nothing matches.
    public func nodeIndex(named name: String) throws(NetworkError) -> Int {
        if let exact = nodes.lastIndex(where: { $0.name == name }) { return exact }
        if let prefixed = nodes.lastIndex(where: { $0.name.hasPrefix(name + ".") }) { return prefixed }
        throw NetworkError("no layer named '\(name)'; candidate layers: \(candidateTargetNames().joined(separator: ", "))")
    }

    /// Names of the conv-like layers with a spatial output, last first (Score-CAM targets).
    public func candidateTargetNames() -> [String] {
        candidateTargetIndices().reversed().map { nodes[$0].name }
    }

    /// The deepest layer a default Score-CAM target may be, whatever the input size: the last of
    /// ``defaultTargetCandidates()``. (Which of them is the default depends on the map size at the input
    /// size: CamwatchSaliency's `camTarget(_:inputHeight:inputWidth:)`.)
    public func defaultTargetIndex() -> Int? { defaultTargetCandidates().last }

    /// The layers a default target is chosen from, in evaluation order: conv-like layers with a spatial
    /// output that are not pooling or padding steps (VGG's `features.29`, not the max pool after it).
    public func defaultTargetCandidates() -> [Int] {
        candidateTargetIndices().filter { index in
            switch nodes[index].layer {
            case .maxPool, .avgPool, .zeroPad, .crop: false
            default: true
            }
        }
    }

    /// Nodes that output `[N, C, H, W]` maps and are conv-like, in evaluation order, up to the output.
    func candidateTargetIndices() -> [Int] {
        var spatial = [Bool](repeating: false, count: nodes.count)
        for (index, node) in nodes.enumerated() {
            switch node.layer {
            // Global pooling leaves 1×1 maps: nothing downstream is a saliency map any more.
            case .linear, .flatten, .reshapeChannelsLast, .globalAvgPool, .globalMaxPool: spatial[index] = false
            // A broadcast product (an SE gate) is as spatial as its widest input.
            default: spatial[index] = node.inputs.contains { $0 == Self.inputIndex || spatial[$0] }
            }
        }
        return nodes.indices.filter { $0 <= outputIndex && spatial[$0] && nodes[$0].layer.isConvLike }
    }
}

// MARK: - Shapes

extension Network {
    /// Every node's output shape for an input of the given size, checking each layer on the way.
    ///
    /// - Returns: one shape per node, `[N, C, H, W]` or `[N, features]` with `N = batch`.
    /// - Throws: ``NetworkError`` when a layer cannot take its input (e.g. a linear layer whose
    ///   weights expect another number of features, or an input smaller than a kernel), when the input
    ///   size is outside 1...``ModelLimits/extent``, or when the outputs for one image exceed the memory
    ///   budget (``ModelLimits/activationElements``, ``ModelLimits/totalActivationElements``).
    public func shapes(inputHeight: Int, inputWidth: Int, batch: Int = 1) throws(NetworkError) -> [[Int]] {
        let extent = 1...ModelLimits.extent
        guard extent.contains(inputHeight), extent.contains(inputWidth) else {
            throw NetworkError("input size \(inputHeight)×\(inputWidth) is outside 1...\(ModelLimits.extent)")
        }
        guard batch >= 1 else { throw NetworkError("batch \(batch) is not positive") }
        var shapes: [[Int]] = []
        let inputShape = [batch, inputChannels, inputHeight, inputWidth]
        // Checked for one image: the batch is the caller's choice, the rest is the spec's.
        guard let inputElements = CheckedSize.product(inputShape.dropFirst()),
            inputElements <= ModelLimits.activationElements, CheckedSize.product(inputShape) != nil
        else {
            throw NetworkError("an input of \(shapeText(inputShape)) is more than \(ModelLimits.activationElements) values per image")
        }
        var total = 0
        for node in nodes {
            let ins = node.inputs.map { $0 == Self.inputIndex ? inputShape : shapes[$0] }
            let shape = try Self.outputShape(of: node, inputs: ins)
            guard let elements = CheckedSize.product(shape.dropFirst()), elements <= ModelLimits.activationElements,
                CheckedSize.product(shape) != nil
            else {
                throw NetworkError("layer '\(node.name)' (\(node.layer.opName)) would output \(shapeText(shape)), more than "
                    + "\(ModelLimits.activationElements) values per image for an input of \(inputHeight)×\(inputWidth)")
            }
            total += elements
            guard total <= ModelLimits.totalActivationElements else {
                throw NetworkError("the layers' outputs up to '\(node.name)' hold more than \(ModelLimits.totalActivationElements) "
                    + "values per image for an input of \(inputHeight)×\(inputWidth)")
            }
            shapes.append(shape)
        }
        return shapes
    }

    /// Checks that an input of this size flows through every layer.
    ///
    /// - Throws: ``NetworkError`` naming the first layer that cannot take its input.
    public func validate(inputHeight: Int, inputWidth: Int) throws(NetworkError) {
        _ = try shapes(inputHeight: inputHeight, inputWidth: inputWidth)
    }

    /// `x` when it is `[N, C, ...]` with `C` the number of per-channel weights (if any) and a multiple of `groups`.
    static func channelGroups(
        _ x: [Int], weights: Int?, groups: Int, layer name: String, op: String
    ) throws(NetworkError) -> [Int] {
        guard x.count >= 2, weights == nil || weights == x[1] else {
            throw NetworkError("layer '\(name)' (\(op)) expects \(weights ?? 0) channels, got \(shapeText(x))")
        }
        guard x[1] % groups == 0 else {
            throw NetworkError("layer '\(name)' (\(op)): \(shapeText(x)) does not split into \(groups) groups")
        }
        return x
    }

    static func outputShape(of node: Node, inputs: [[Int]]) throws(NetworkError) -> [Int] {
        let x = inputs[0]
        func spatial() throws(NetworkError) -> (Int, Int, Int, Int) {
            guard x.count == 4 else {
                throw NetworkError("layer '\(node.name)' (\(node.layer.opName)) needs a [N, C, H, W] input, got \(shapeText(x))")
            }
            return (x[0], x[1], x[2], x[3])
        }
        func positive(_ shape: [Int]) throws(NetworkError) -> [Int] {
            guard shape.allSatisfy({ $0 > 0 }) else {
                throw NetworkError("input too small: layer '\(node.name)' (\(node.layer.opName)) would output \(shapeText(shape))")
            }
            return shape
        }
        let layer = node.layer
        switch layer {
        case .conv2d(let conv):
            let (n, c, h, w) = try spatial()
            let expected = conv.weight.shape[1].multipliedReportingOverflow(by: conv.groups)
            guard !expected.overflow, c == expected.partialValue else {
                throw NetworkError("layer '\(node.name)' expects \(expected.partialValue) input channels, got \(c)")
            }
            let (oh, ow) = conv.geometry(height: h, width: w).outputSize(height: h, width: w)
            return try positive([n, conv.outputChannels, oh, ow])
        case .linear(let linear):
            let features = x.dropFirst().reduce(1, *)
            guard features == linear.weight.shape[1] else {
                throw NetworkError("layer '\(node.name)' expects \(linear.weight.shape[1]) input features, got \(features) "
                    + "from an input of \(shapeText(x)) (is the input size right?)")
            }
            return [x[0], linear.weight.shape[0]]
        case .batchNorm(let bn):
            guard x.count >= 2, x[1] == bn.scale.count else {
                throw NetworkError("layer '\(node.name)' expects \(bn.scale.count) channels, got \(shapeText(x))")
            }
            return x
        case .maxPool(let g, let ceilMode, let same), .avgPool(let g, let ceilMode, _, let same):
            let (n, c, h, w) = try spatial()
            let isMax: Bool
            if case .maxPool = node.layer { isMax = true } else { isMax = false }
            let (oh, ow) = Pooling.outputSize(height: h, width: w, geometry: Layer.window(g, same: same, input: x),
                                              ceilMode: ceilMode, dilated: isMax)
            return try positive([n, c, oh, ow])
        case .adaptiveAvgPool(let oh, let ow):
            let (n, c, _, _) = try spatial()
            return [n, c, oh, ow]
        case .globalAvgPool, .globalMaxPool:
            let (n, c, _, _) = try spatial()
            return [n, c, 1, 1]
        case .flatten:
            return [x[0], x.dropFirst().reduce(1, *)]
        case .reshapeChannelsLast(let target):
            let perItem = x.dropFirst().reduce(1, *)
            if target == [-1] { return [x[0], perItem] }
            guard target.reduce(1, *) == perItem else {
                throw NetworkError("layer '\(node.name)' (reshape) cannot regroup \(shapeText(x)) as \(target) "
                    + "(channels-last; is the input size right?)")
            }
            return target.count == 3 ? [x[0], target[2], target[0], target[1]] : [x[0], perItem]
        case .add:
            guard inputs.allSatisfy({ $0 == x }) else {
                throw NetworkError("layer '\(node.name)' adds different shapes: \(inputs.map(shapeText).joined(separator: ", "))")
            }
            return x
        case .multiply, .subtract:
            let full = inputs.max { $0.reduce(1, *) < $1.reduce(1, *) } ?? x
            for shape in inputs where shape != full {
                guard shape.count == 4, full.count == 4, shape[0] == full[0], shape[1] == full[1], shape[2] == 1,
                    shape[3] == 1
                else {
                    throw NetworkError("layer '\(node.name)' (\(node.layer.opName)) cannot broadcast \(shapeText(shape)) "
                        + "with \(shapeText(full))")
                }
            }
            return full
        case .concat:
            guard inputs.allSatisfy({ $0.count == x.count && $0[0] == x[0] && Array($0.dropFirst(2)) == Array(x.dropFirst(2)) })
            else {
                throw NetworkError("layer '\(node.name)' concatenates mismatched shapes: \(inputs.map(shapeText).joined(separator: ", "))")
            }
            var shape = x
            shape[1] = inputs.reduce(0) { $0 + $1[1] }
            return shape
        case .zeroPad(let t, let b, let l, let r):
            let (n, c, h, w) = try spatial()
            return [n, c, h + t + b, w + l + r]
        case .crop(let t, let b, let l, let r):
            let (n, c, h, w) = try spatial()
            return try positive([n, c, h - t - b, w - l - r])
        case .layerNorm(let norm):
            return try channelGroups(x, weights: norm.affine.weight?.count, groups: 1, layer: node.name, op: "layernorm")
        case .groupNorm(let norm):
            return try channelGroups(x, weights: norm.affine.weight?.count, groups: norm.groups, layer: node.name, op: "groupnorm")
        case .channelShuffle(let groups):
            return try channelGroups(x, weights: nil, groups: groups, layer: node.name, op: "channel_shuffle")
        case .channelSlice(let range):
            guard x.count >= 2, range.upperBound <= x[1] else {
                throw NetworkError("layer '\(node.name)' (slice): channels \(range.lowerBound)..<\(range.upperBound) "
                    + "are not within \(shapeText(x))")
            }
            var shape = x
            shape[1] = range.count
            return shape
        case .activation, .softmax, .identity, .scalarAffine:
            return x
        }
    }
}

// MARK: - Optimization

extension Network {
    /// The same function with every batch norm that directly follows a convolution folded into that
    /// convolution's weights and bias, and the activation after it fused into its output pass, except
    /// where an intermediate value must stay observable.
    ///
    /// - Parameters:
    ///   - preserving: node indices whose outputs will be captured; a convolution among them keeps its
    ///     un-normalized output.
    ///   - winograd: whether to transform 3×3 filters for the Winograd path; the transform costs about as
    ///     much as a few forward passes of one image, so callers that run one pass per image skip it.
    public func optimized(preserving: Set<Int> = [], winograd: Bool = true) -> Network {
        var copy = self
        var readers = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for source in node.inputs where source >= 0 { readers[source] += 1 } }
        for index in copy.nodes.indices {
            guard case .batchNorm(let bn) = copy.nodes[index].layer, copy.nodes[index].inputs.count == 1 else { continue }
            let source = copy.nodes[index].inputs[0]
            guard source >= 0, readers[source] == 1, !preserving.contains(source), source != outputIndex,
                case .conv2d(var conv) = copy.nodes[source].layer
            else { continue }
            let perChannel = conv.weight.scalarCount / conv.outputChannels
            var weights = conv.weight.scalars
            // Unchecked pointers: this runs over every weight of the network whenever a method is prepared
            // for a checkpoint (11 M on resnet18), which is a third of a single-image Grad-CAM.
            bn.scale.withUnsafeBufferPointer { scale in
                weights.withUnsafeMutableBufferPointer { w in
                    for channel in 0..<scale.count {
                        let factor = scale[channel], row = channel * perChannel
                        for i in row..<(row + perChannel) { w[i] *= factor }
                    }
                }
            }
            let bias = conv.bias ?? [Float](repeating: 0, count: conv.outputChannels)
            conv.bias = (0..<conv.outputChannels).map { bias[$0] * bn.scale[$0] + bn.shift[$0] }
            conv.weight = Tensor(shape: conv.weight.shape, scalars: weights)
            copy.nodes[source].layer = .conv2d(conv)
            copy.nodes[index].layer = .identity
        }
        // Fuse an activation into the convolution that feeds it (through folded batch norms), so the
        // output is written once. Only where nothing else reads, or captures, the intermediate values.
        for index in copy.nodes.indices {
            guard case .activation(let activation) = copy.nodes[index].layer, copy.nodes[index].inputs.count == 1,
                !preserving.contains(index)
            else { continue }
            var source = copy.nodes[index].inputs[0]
            while source >= 0, readers[source] == 1, !preserving.contains(source), source != outputIndex,
                case .identity = copy.nodes[source].layer, copy.nodes[source].inputs.count == 1
            {
                source = copy.nodes[source].inputs[0]
            }
            guard source >= 0, readers[source] == 1, !preserving.contains(source), source != outputIndex,
                case .conv2d(var conv) = copy.nodes[source].layer, conv.activation == nil
            else { continue }
            conv.activation = activation
            copy.nodes[source].layer = .conv2d(conv)
            copy.nodes[index].layer = .identity
        }
        // 3×3 stride-1 convolutions with enough channels take the Winograd path (4× fewer multiplications;
        // below 16 channels the transforms cost more than they save).
        for index in copy.nodes.indices where winograd {
            guard case .conv2d(var conv) = copy.nodes[index].layer, !conv.samePadding,
                Winograd.supports(conv.geometry, groups: conv.groups),
                conv.weight.shape[0] >= 16, conv.weight.shape[1] >= 16
            else { continue }
            conv.winograd = Winograd.transform(weight: conv.weight)
            copy.nodes[index].layer = .conv2d(conv)
        }
        return copy
    }
}
