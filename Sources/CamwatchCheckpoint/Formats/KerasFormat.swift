public import CamwatchHDF5
import CamwatchNN
public import CamwatchTensor

/// Keras's HDF5 layouts: Keras 3 `.weights.h5` (`layers/<key>/vars/<i>`, also the `model.weights.h5` inside a
/// `.keras` archive) and the legacy `.h5` of Keras 2 / tf-keras (and Keras 3's legacy path): a full model
/// (`model_config` root attribute, weights under `model_weights/<layer>/…`) or weights only (`layer_names` root
/// attribute, weights under `<layer>/…`).
///
/// When the file (or its archive) carries the model config, the weights are translated into camwatch's
/// layout with the graph from ``KerasModel`` and the graph is stored as the checkpoint's `camwatch_model`, so
/// no `--arch` or `--model` is needed. A weights-only file keeps its variables under their HDF5 paths
/// (``KerasVariables``) until an architecture is chosen (`--model` with a Keras config, or a Keras
/// `model.json` beside it): see ``ArchitectureSource``.
public enum KerasFormat: CheckpointFormat {
    public static let name = "keras"
    /// Format names of the four layouts, shown by `inspect` and in reports.
    public static let archiveName = "keras"
    public static let weightsName = "keras-weights"
    public static let legacyModelName = "keras-h5"
    public static let legacyWeightsName = "keras-h5-weights"

    public static func matches(_ file: HDF5File) throws -> Bool {
        let attributes = try file.attributes()
        if attributes["model_config"] != nil || attributes["layer_names"] != nil { return true }
        let members = try file.members()
        if members.contains(where: { $0.name == "model_weights" && $0.kind == .group }) { return true }
        // Keras 3 weights: a root `layers` (models) or `vars` group and every dataset under a `vars` group.
        guard members.contains(where: { ($0.name == "layers" || $0.name == "vars") && $0.kind == .group }) else {
            return false
        }
        let datasets = try file.datasetPaths()
        return !datasets.isEmpty && datasets.allSatisfy { KerasVariables.keras3Index($0) != nil || $0.hasPrefix("optimizer/") }
    }

    public static func read(_ file: HDF5File, path: String) throws -> Checkpoint {
        try read(file, path: path, config: nil)
    }

    /// Reads the file; `config` is the model config from a `.keras` archive's `config.json`.
    static func read(_ file: HDF5File, path: String, config: String?) throws -> Checkpoint {
        var attributes = try file.attributes()
        let modelWeights = try file.kind(of: "model_weights") == .group
        let legacy = modelWeights || attributes["layer_names"] != nil
        var raw: [String: Tensor] = [:]
        var storedTypes: [String: String] = [:]
        var skipped: [String: String] = [:]
        for dataset in try file.datasetPaths() {
            // Optimizer state (a compiled model's `.keras`, `optimizer_weights` in a legacy file) is no weight.
            if dataset.hasPrefix("optimizer") { continue }
            if legacy && modelWeights && !dataset.hasPrefix("model_weights/") { continue }
            let info = try file.datasetInfo(at: dataset)
            guard info.elementType.isNumeric else {
                skipped[dataset] = "\(info.elementType) dataset, not numeric"
                continue
            }
            let array = try file.readFloats(at: dataset)
            raw[dataset] = Tensor(shape: array.shape, scalars: array.values)
            storedTypes[dataset] = "\(array.elementType)"
        }
        let formatName = config != nil ? archiveName
            : legacy ? (attributes["model_config"] != nil ? legacyModelName : legacyWeightsName) : weightsName
        let modelConfig = config ?? attributes["model_config"]?.stringValue
        attributes["model_config"] = nil
        attributes["layer_names"] = nil
        if attributes["epoch"] == nil, let epoch = epochInName(path) { attributes["epoch"] = .int(epoch) }
        guard let modelConfig else {
            return Checkpoint(path: path, format: formatName, tensors: raw, storedTypes: storedTypes,
                              attributes: attributes, skipped: skipped)
        }
        let model: KerasModel
        let tensors: [String: Tensor]
        do {
            model = try KerasModel(json: modelConfig)
            tensors = try model.parameters(from: KerasVariables.grouped(raw, legacy: legacy), legacy: legacy)
        } catch {
            throw CheckpointError(.unsupported, path: path, context: "Keras model", cause: ErrorCause(error))
        }
        attributes["camwatch_model"] = .string(model.spec.jsonString())
        return Checkpoint(path: path, format: formatName, tensors: tensors, storedTypes: [:], attributes: attributes,
                          skipped: skipped)
    }
}

/// The epoch in a ModelCheckpoint file name (`epoch-03.keras`, `model_epoch=12.weights.h5`, `ckpt.epoch7.h5`):
/// Keras stores no epoch in the file, and its callbacks put it in the name. `nil` without one.
func epochInName(_ path: String) -> Int? {
    let name = path.split(separator: "/").last.map { $0.lowercased() } ?? ""
    guard let match = name.firstMatch(of: /epoch[-_=.]?(\d{1,9})/) else { return nil }
    return Int(match.output.1)
}

/// Keras variables as stored, grouped per layer.
public enum KerasVariables {
    /// The layer group and variable index of a Keras 3 dataset path `…/vars/<i>`.
    static func keras3Index(_ path: String) -> (layer: String, index: Int)? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[parts.count - 2] == "vars", let index = Int(parts[parts.count - 1]),
            index >= 0
        else { return nil }
        return (parts.dropLast(2).joined(separator: "/"), index)
    }

    /// Whether `format` is a Keras layout whose tensors are still Keras variables (a weights-only file).
    public static func isUntranslated(_ checkpoint: Checkpoint) -> Bool {
        (checkpoint.format == KerasFormat.weightsName || checkpoint.format == KerasFormat.legacyWeightsName)
            && checkpoint.modelSpec == nil
    }

    /// Groups stored variables by the key ``KerasModel/variableKey(_:legacy:)`` uses, each group in Keras's
    /// variable order.
    ///
    /// Keras 3: `layers/…/conv2d/vars/<i>` → `layers/…/conv2d`, ordered by `i`. Legacy: a dataset
    /// `[model_weights/]<layer>/…/<inner>/<var>[:0]` belongs to `<layer>` and to `<layer>/<inner>` (a layer
    /// inside the nested model `<layer>`), ordered by variable name (kernel before bias, gamma, beta, moving
    /// mean, moving variance), since nested models list trainable variables before the others.
    static func grouped(_ raw: [String: Tensor], legacy: Bool) -> [String: [Tensor]] {
        var groups: [String: [(rank: Int, order: String, tensor: Tensor)]] = [:]
        for (path, tensor) in raw {
            if !legacy {
                guard let (layer, index) = keras3Index(path) else { continue }
                groups[layer, default: []].append((index, "", tensor))
                continue
            }
            var parts = path.split(separator: "/").map(String.init)
            if parts.first == "model_weights" { parts.removeFirst() }
            guard parts.count >= 2, let variable = parts.last else { continue }
            let name = String(variable.split(separator: ":").first ?? Substring(variable))
            let rank = KerasModel.variableOrder[name] ?? 99
            groups[parts[0], default: []].append((rank, path, tensor))
            if parts.count >= 3 { groups[parts[0] + "/" + parts[parts.count - 2], default: []].append((rank, path, tensor)) }
        }
        return groups.mapValues { entries in
            entries.sorted { ($0.rank, $0.order) < ($1.rank, $1.order) }.map(\.tensor)
        }
    }

    /// A weights-only checkpoint's tensors in camwatch's layout, for the Keras model `model`.
    /// - Throws: ``KerasError`` naming a layer whose variables are missing or mis-shaped.
    public static func parameters(of checkpoint: Checkpoint, for model: KerasModel) throws(KerasError) -> [String: Tensor] {
        let legacy = checkpoint.format == KerasFormat.legacyWeightsName
        return try model.parameters(from: grouped(checkpoint.tensors, legacy: legacy), legacy: legacy)
    }
}
