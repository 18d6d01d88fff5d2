public import Foundation

/// Committed reference fixtures under `Tests/Fixtures/`, made by `Scripts/fixtures/*.py`.
public enum Fixtures {
    /// The `Tests/Fixtures` directory of this checkout.
    public static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// The path of a fixture file, e.g. `Fixtures.path("nets/plain.h5")`.
    public static func path(_ relative: String) -> String {
        directory.appendingPathComponent(relative).path
    }

    /// The root of this checkout (the package directory).
    public static let packageRoot: URL = directory.deletingLastPathComponent().deletingLastPathComponent()

    /// A fresh temporary directory, removed by the caller (or left for the OS to clean).
    public static func temporaryDirectory(_ label: String = "camwatch-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
