import CamwatchNN
public import CamwatchTensor
import Foundation

extension KerasModel {
    /// The Keras model a file describes: a `.keras` archive's config, or a JSON file holding a Keras config
    /// (`model.to_json()`); `nil` when the file is neither (a camwatch model spec, say).
    /// - Throws: ``KerasError`` when the file is a Keras config camwatch cannot build or read.
    public static func described(by path: String) throws(KerasError) -> KerasModel? {
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        if KerasArchive.isArchive(path) {
            let config: String
            do { config = try KerasArchive.config(at: path) } catch { throw KerasError(unreadableArchive: error) }
            return try KerasModel(json: config, name: name)
        }
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            object["class_name"] is String, object["config"] is [String: Any]
        else { return nil }
        return try KerasModel(json: String(decoding: data, as: UTF8.self), name: name)
    }
}

extension KerasVariables {
    /// What a weights-only Keras file lacks, for messages.
    static let modelHint = "a Keras weights file needs its model: --model FILE with a .keras file or model.to_json() "
        + "output, or that JSON as model.json beside the checkpoint"
}

extension ArchitectureSource {
    /// The file that gives a weights-only Keras checkpoint its architecture: the `--model` file, or a
    /// `model.json` beside the checkpoint.
    func kerasModelFile(besides path: String) -> String? {
        switch self {
        case .specFile(let file): return file
        case .zoo: return nil
        case .automatic:
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            return Self.besideNames.map { directory.appendingPathComponent($0).path }
                .first { FileManager.default.fileExists(atPath: $0) }
        }
    }

    /// The checkpoint's tensors in camwatch's layout: as read, or, for a weights-only Keras file, its Keras
    /// variables translated with the Keras model the architecture source names.
    /// - Throws: `ArchitectureError` naming the file when a Keras weights-only file has no Keras model to go by.
    public func parameters(for checkpoint: Checkpoint, path: String) throws(ArchitectureError) -> [String: Tensor] {
        guard KerasVariables.isUntranslated(checkpoint) else { return checkpoint.tensors }
        guard let file = kerasModelFile(besides: path) else { throw ArchitectureError(path: path, .kerasModelMissing) }
        let model: KerasModel?
        do { model = try KerasModel.described(by: file) } catch {
            throw ArchitectureError(path: path, .kerasModel(error, file: file))
        }
        guard let model else { throw ArchitectureError(path: path, .notKerasModel(file: file)) }
        do { return try KerasVariables.parameters(of: checkpoint, for: model) } catch {
            throw ArchitectureError(path: path, .kerasModel(error, file: file))
        }
    }
}
