import Foundation

/// Paths compared as the file system sees them: absolute, with symbolic links resolved. Used wherever camwatch
/// must keep one place out of another (outputs out of the watched directory, probes inside the probe directory).
public enum ResolvedPath {
    /// The absolute path with symbolic links resolved, as far as it exists (an `--out` may not yet).
    public static func of(_ path: String) -> String {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        var missing: [String] = []
        while !FileManager.default.fileExists(atPath: url.path), url.path != "/" {
            missing.insert(url.lastPathComponent, at: 0)
            url.deleteLastPathComponent()
        }
        var base = url.resolvingSymlinksInPath().path
        for component in missing { base = (base as NSString).appendingPathComponent(component) }
        return base
    }

    /// Whether the resolved `path` lies strictly inside the resolved `directory`.
    public static func isInside(_ path: String, directory: String) -> Bool {
        isResolved(of(path), inside: of(directory))
    }

    /// Whether `path` lies strictly inside `directory`, both already resolved.
    public static func isResolved(_ path: String, inside directory: String) -> Bool {
        path.hasPrefix(directory == "/" ? "/" : directory + "/")
    }
}
