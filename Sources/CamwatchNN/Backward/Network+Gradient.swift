public import CamwatchTensor

/// A forward pass that kept what reverse mode needs, and the gradients it produced.
public struct NetworkGradients: Sendable {
    /// The output node's value, `[N, classes]` for a classifier.
    public var output: Tensor
    /// Node outputs from the first node asked for on (`nil` before it).
    public var values: [Tensor?]
    /// `∂ Σ_n output[n, class_n] / ∂ value` per node from the first node asked for on (`nil` before it, and
    /// for nodes the output does not depend on).
    public var gradients: [Tensor?]
}

extension Network {
    /// The gradient of class scores with respect to node outputs: one forward pass, then reverse mode
    /// (a vector-Jacobian product per layer) from the output down to node `first`.
    ///
    /// - Parameters:
    ///   - input: `[N, inputChannels, H, W]`, preprocessed.
    ///   - classes: one class per image; the seed is `Σ_n output[n, classes[n]]` (pytorch-grad-cam's
    ///     `ClassifierOutputTarget` summed over the batch).
    ///   - first: the earliest node whose output and gradient are wanted (e.g. a Grad-CAM target).
    /// - Returns: the output and, for nodes `first...outputIndex`, their values and gradients.
    /// - Precondition: the input shape passed ``validate(inputHeight:inputWidth:)``; each class is in range.
    public func gradients(_ input: Tensor, classes: [Int], downTo first: Int) -> NetworkGradients {
        precondition(first >= 0 && first <= outputIndex, "node \(first) is not at or before the output")
        precondition(classes.count == input.shape[0], "\(classes.count) classes for a batch of \(input.shape[0])")
        let (values, preActivations) = recordingForward(input, keepingFrom: first)
        guard let output = values[outputIndex] else { preconditionFailure("the output node was not evaluated") }
        let classCount = output.scalarCount / max(1, classes.count)
        var seed = Tensor(shape: output.shape, repeating: 0)
        for (image, target) in classes.enumerated() {
            precondition(target >= 0 && target < classCount, "class \(target) out of range 0..<\(classCount)")
            seed.scalars[image * classCount + target] = 1
        }
        var gradients = [Tensor?](repeating: nil, count: nodes.count)
        gradients[outputIndex] = seed
        for index in stride(from: outputIndex, through: first + 1, by: -1) {
            guard let gradient = gradients[index] else { continue }
            let node = nodes[index]
            let wanted = node.inputs.map { $0 >= first }
            guard wanted.contains(true) else { continue }
            let arguments = node.inputs.map { $0 == Self.inputIndex ? input : (values[$0] ?? input) }
            guard let result = values[index] else { continue }
            let inputGradients = node.layer.inputGradients(
                gradient, inputs: arguments, output: result, preActivation: preActivations[index], wanted: wanted)
            for (source, sourceGradient) in zip(node.inputs, inputGradients) where source >= first {
                guard let sourceGradient else { continue }
                if let existing = gradients[source] {
                    gradients[source] = Elementwise.sum(existing, adding: [sourceGradient])
                } else {
                    gradients[source] = sourceGradient
                }
            }
            // Only nodes at or after `first` are reported; the rest were never needed.
        }
        for index in 0..<first { gradients[index] = nil }
        return NetworkGradients(output: output, values: values, gradients: gradients)
    }

    /// A forward pass that keeps every node output from `first` on (and whatever later nodes read), and
    /// the pre-activation output of convolutions whose fused activation's derivative needs its input.
    func recordingForward(_ input: Tensor, keepingFrom first: Int) -> (values: [Tensor?], preActivations: [Tensor?]) {
        var lastUse = [Int](repeating: -1, count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for source in node.inputs where source >= 0 { lastUse[source] = index }
        }
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
        return (values, preActivations)
    }
}
