public import CamwatchTensor

/// Which model a checkpoint holds: its architecture's name and a fingerprint of its parameters' names and
/// shapes. Two checkpoints with different identities are different models, and drift between them would
/// compare two networks rather than two moments of one training run (docs/architecture.md §5).
public struct ModelIdentity: Sendable, Hashable, Codable {
    /// The architecture's name (`resnet18`, a model spec's or a Keras model's name); `nil` when unknown.
    @ExplicitNull public var architecture: String?
    /// 64-bit FNV-1a of every tensor's `name:shape;` in name order, as 16 hex digits.
    public var parameters: String
    /// How many tensors the checkpoint has.
    public var tensorCount: Int

    enum CodingKeys: String, CodingKey {
        case architecture, parameters
        case tensorCount = "tensor_count"
    }

    public init(architecture: String?, parameters: String, tensorCount: Int) {
        self.architecture = architecture
        self.parameters = parameters
        self.tensorCount = tensorCount
    }

    /// The identity of a checkpoint's tensors under `architecture`.
    public init(architecture: String?, tensors: [String: Tensor]) {
        var fingerprint = Fingerprint()
        for name in tensors.keys.sorted() {
            let shape = tensors[name]?.shape.map(String.init).joined(separator: ",") ?? ""
            fingerprint.add("\(name):\(shape);".utf8)
        }
        self.init(architecture: architecture, parameters: fingerprint.hex, tensorCount: tensors.count)
    }

    /// Why `self` is another model than `previous`, in a few words, or `nil` when it is the same model.
    ///
    /// - Parameters:
    ///   - previousTensors, tensors: both checkpoints' tensors when both are in memory, to name the first tensor
    ///     that differs; without them (after a restart) the fingerprints speak.
    public func change(
        from previous: ModelIdentity, previousTensors: [String: Tensor]? = nil, tensors: [String: Tensor]? = nil
    ) -> String? {
        if let before = previous.architecture, let now = architecture, before != now {
            return "architecture \(before) → \(now)"
        }
        guard parameters != previous.parameters else { return nil }
        if let previousTensors, let tensors {
            for name in Set(previousTensors.keys).union(tensors.keys).sorted() {
                let before = previousTensors[name]?.shape
                let now = tensors[name]?.shape
                guard before != now else { continue }
                func describe(_ shape: [Int]?) -> String { shape.map { "\($0)" } ?? "absent" }
                return "parameter \(name) \(describe(before)) → \(describe(now))"
            }
        }
        if previous.tensorCount != tensorCount {
            return "parameters changed: \(previous.tensorCount) tensors → \(tensorCount)"
        }
        return "parameter shapes changed (fingerprint \(previous.parameters) → \(parameters))"
    }
}
