public import CamwatchTensor

/// A forward pass that kept what reverse mode needs: every node output from ``first`` on (and whatever
/// the nodes after it read), and the pre-activation outputs of convolutions whose fused activation's
/// derivative needs its input.
public struct ForwardRecord: Sendable {
    /// The earliest node whose gradient can be asked for.
    public let first: Int
    /// The network input, `[N, C, H, W]`.
    public let input: Tensor
    /// Node outputs (`nil` for nodes before ``first`` that nothing after it reads).
    public var values: [Tensor?]
    var preActivations: [Tensor?]
    /// The output node's value, `[N, classes]` for a classifier.
    public let output: Tensor
}

extension Network {
    /// The gradient of class scores with respect to node outputs: ``record(_:from:)`` then
    /// ``gradients(of:classes:)``.
    ///
    /// - Parameters:
    ///   - input: `[N, inputChannels, H, W]`, preprocessed.
    ///   - classes: one class per image.
    ///   - first: the earliest node whose gradient is wanted.
    /// - Returns: the record and, per node, its gradient (`nil` before `first`).
    public func gradients(_ input: Tensor, classes: [Int], downTo first: Int) -> (record: ForwardRecord, gradients: [Tensor?]) {
        let record = record(input, from: first)
        return (record, gradients(of: record, classes: classes))
    }

    /// One forward pass keeping what reverse mode down to node `first` needs.
    ///
    /// - Parameters:
    ///   - input: `[N, inputChannels, H, W]`, preprocessed.
    ///   - first: the earliest node whose gradient will be asked for (e.g. a Grad-CAM target).
    /// - Precondition: the input shape passed ``validate(inputHeight:inputWidth:)``.
    public func record(_ input: Tensor, from first: Int) -> ForwardRecord {
        precondition(first >= 0 && first <= outputIndex, "node \(first) is not at or before the output")
        let lastUse = lastReaders()
        var values = [Tensor?](repeating: nil, count: nodes.count)
        var preActivations = [Tensor?](repeating: nil, count: nodes.count)
        for index in 0...outputIndex {
            let node = nodes[index]
            let arguments = node.inputs.map { $0 == Self.inputIndex ? input : (values[$0] ?? input) }
            // Reverse mode reads every input of the nodes after `first`: only values last read before it go.
            if index <= first {
                for source in node.inputs where source >= 0 && source < first && lastUse[source] == index {
                    values[source] = nil
                }
            }
            let value: Tensor
            if index > first, case .conv2d(var conv) = node.layer, let activation = conv.activation,
                activation.gradientNeedsInput
            {
                conv.activation = nil
                let before = conv(arguments[0])
                preActivations[index] = before
                value = activation(before)
            } else {
                value = node.layer(arguments)
            }
            if index >= first || lastUse[index] > index { values[index] = value }
        }
        let output = values[outputIndex] ?? input
        return ForwardRecord(first: first, input: input, values: values, preActivations: preActivations, output: output)
    }

    /// Reverse mode: `∂ Σ_n output[n, classes[n]] / ∂ value` for every node from the record's first on (the
    /// seed of pytorch-grad-cam's `ClassifierOutputTarget`, summed over the batch), one vector-Jacobian
    /// product per layer from the output down.
    ///
    /// - Parameters:
    ///   - record: a forward pass of this network.
    ///   - classes: one class per image, each in `0..<classes`.
    /// - Returns: per node, its gradient (its output's shape); `nil` before the record's first node and for
    ///   nodes the output does not depend on.
    public func gradients(of record: ForwardRecord, classes: [Int]) -> [Tensor?] {
        let first = record.first
        let output = record.output
        precondition(classes.count == output.shape[0], "\(classes.count) classes for a batch of \(output.shape[0])")
        let classCount = output.scalarCount / max(1, classes.count)
        var seed = Tensor(shape: output.shape, repeating: 0)
        for (image, target) in classes.enumerated() {
            precondition(target >= 0 && target < classCount, "class \(target) out of range 0..<\(classCount)")
            seed.scalars[image * classCount + target] = 1
        }
        var gradients = [Tensor?](repeating: nil, count: nodes.count)
        gradients[outputIndex] = seed
        for index in stride(from: outputIndex, through: first + 1, by: -1) {
            guard let gradient = gradients[index], let result = record.values[index] else { continue }
            let node = nodes[index]
            let wanted = node.inputs.map { $0 >= first }
            guard wanted.contains(true) else { continue }
            let arguments = node.inputs.map { $0 == Self.inputIndex ? record.input : (record.values[$0] ?? record.input) }
            let inputGradients = node.layer.inputGradients(
                gradient, inputs: arguments, output: result, preActivation: record.preActivations[index], wanted: wanted)
            for (source, sourceGradient) in zip(node.inputs, inputGradients) where source >= first {
                guard let sourceGradient else { continue }
                if let existing = gradients[source] {
                    gradients[source] = Elementwise.sum(existing, adding: [sourceGradient])
                } else {
                    gradients[source] = sourceGradient
                }
            }
        }
        return gradients
    }
}
