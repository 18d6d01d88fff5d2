public import CamwatchHDF5
public import CamwatchTensor

/// The weights of one checkpoint file as named tensors in camwatch's layout, with the file's attributes.
///
/// Tensor names are PyTorch state_dict keys (`layer1.0.conv1.weight`), whatever the file's own layout;
/// tensors are float32, convolution weights `[O, I/groups, kH, kW]`, linear weights `[out, in]`.
public struct Checkpoint: Sendable {
    /// The file the checkpoint was read from.
    public var path: String
    /// The name of the format adapter that read it, e.g. `pytorch-state-dict`.
    public var format: String
    /// The weights by state_dict name.
    public var tensors: [String: Tensor]
    /// The element type each tensor had in the file before conversion to float32 (e.g. `float16`).
    public var storedTypes: [String: String]
    /// The file's root attributes by name (training step, epoch, metrics, model description …).
    public var attributes: [String: CheckpointAttribute]
    /// Datasets that were not loaded as weights, with the reason (e.g. integer datasets that are not
    /// `num_batches_tracked`).
    public var skipped: [String: String]
    /// What the format adapter did to the file's names that the user should hear about, one line each without
    /// the file's name (the reader may have read a private copy; e.g. a `module.` prefix removed): the commands
    /// print them after the checkpoint's path, the daemon logs them once.
    public var notes: [String]

    /// Creates a checkpoint; format adapters call this.
    public init(
        path: String, format: String, tensors: [String: Tensor], storedTypes: [String: String] = [:],
        attributes: [String: CheckpointAttribute] = [:], skipped: [String: String] = [:], notes: [String] = []
    ) {
        self.notes = notes
        self.path = path
        self.format = format
        self.tensors = tensors
        self.storedTypes = storedTypes
        self.attributes = attributes
        self.skipped = skipped
    }

    /// The root attribute names read as the training step, first match wins.
    public static let stepAttributeNames = ["step", "global_step", "iteration"]
    /// The root attribute names read as the epoch, first match wins.
    public static let epochAttributeNames = ["epoch"]

    /// The training epoch, from the root attribute `epoch`.
    public var epoch: Int? { firstInteger(Self.epochAttributeNames) }

    /// The training step, from the root attribute `step` (or `global_step`, `iteration`).
    public var step: Int? { firstInteger(Self.stepAttributeNames) }

    /// The architecture name, from the root attribute `arch`.
    public var arch: String? { attributes["arch"]?.stringValue }

    /// The camwatch model spec (JSON) stored in the root attribute `camwatch_model`.
    public var modelSpec: String? { attributes["camwatch_model"]?.stringValue }

    /// The other numeric scalar root attributes (e.g. `val_acc`, `loss`), for the report.
    public var metrics: [String: Double] {
        let counters = Set(Self.stepAttributeNames + Self.epochAttributeNames)
        var result: [String: Double] = [:]
        for (name, value) in attributes where !counters.contains(name) {
            switch value {
            case .int(let int): result[name] = Double(int)
            case .double(let double): result[name] = double
            default: continue
            }
        }
        return result
    }

    /// Every root attribute as display text, by name (what `camwatch inspect` prints).
    public var attributeSummary: [String: String] { attributes.mapValues(\.description) }

    /// The number of scalars over all tensors.
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.scalarCount } }

    private func firstInteger(_ names: [String]) -> Int? {
        for name in names {
            if let value = attributes[name]?.intValue { return value }
        }
        return nil
    }
}

/// The value of a checkpoint's root attribute: what the HDF5 file holds (a string, an integer or a float, or
/// an array of one of those; anything else described in words). Checkpoints are HDF5 files (a `.keras` archive
/// holds one), so the checkpoint's attributes are the file's, not a copy in another type.
public typealias CheckpointAttribute = HDF5Attribute

