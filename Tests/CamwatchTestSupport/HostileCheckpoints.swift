public import Foundation

/// Hostile checkpoints written by Debian's python3-h5py with Scripts/fixtures/make_hostile_checkpoints.py
/// (external storage, external links, virtual datasets, plugin filters, compression bombs, deep groups,
/// many attributes, NaN attributes), in a scratch directory beside a "secret" file they try to leak.
public final class HostileCheckpoints {
    /// The scratch directory; the checkpoints are in `directory/out`.
    public let directory: URL
    /// The file external storage and links point at: stands for /etc/shadow or the webhook's url_file.
    public let secretPath: String
    /// Its content, which must never reach a tensor, an attribute or an error message.
    public static let secret = "https://hooks.example.com/services/T000/B000/SECRETTOKEN0123456789abcdef\n"

    /// Writes the files; throws when python3-h5py is missing or the script fails.
    public init() throws {
        directory = try Fixtures.temporaryDirectory("camwatch-hostile")
        secretPath = directory.appendingPathComponent("secret.txt").path
        try Self.secret.write(toFile: secretPath, atomically: true, encoding: .utf8)
        let script = Fixtures.packageRoot.appendingPathComponent("Scripts/fixtures/make_hostile_checkpoints.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, directory.appendingPathComponent("out").path, secretPath]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(script) failed"])
        }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// The path of one hostile checkpoint, e.g. `path("external_storage.h5")`.
    public func path(_ name: String) -> String { directory.appendingPathComponent("out/\(name)").path }

    /// The secret's bytes read as float32 values, as libhdf5 would hand them over when it follows a link.
    public static var secretAsFloats: [Float] {
        let bytes = Array(secret.utf8)
        return stride(from: 0, to: bytes.count - 3, by: 4).map { i in
            Float(
                bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16
                    | UInt32(bytes[i + 3]) << 24)
        }
    }
}
