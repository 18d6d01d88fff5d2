/// Which names in the watched directory can be checkpoints: the configured glob, minus temporary names.
///
/// Trainers that save atomically write a temporary name first and rename it (docs/architecture.md
/// §9.1): Lightning `.<name>.<random>.tmp` or `<name>.<random>.tmp`, Ignite `tmpab12cd34`,
/// TensorFlow `<name>.tmp<hex>`, editors and downloaders `~`, `.swp`, `.part`. Such names are never
/// candidates, even when they match the glob; the renamed file is.
public struct CheckpointNameFilter: Sendable, Equatable {
    /// The shell pattern (`fnmatch(3)`, no flags) a checkpoint name must match, e.g. `*.h5`.
    public var pattern: String

    public init(pattern: String = "*.h5") {
        self.pattern = pattern
    }

    /// Whether `name` is a candidate checkpoint: not a temporary name, and matching the pattern.
    public func accepts(_ name: String) -> Bool {
        !Self.isTemporary(name) && DaemonSystemCalls.matches(name, pattern: pattern)
    }

    /// Whether `name` looks like a file still being written under a temporary name.
    public static func isTemporary(_ name: String) -> Bool {
        if name.isEmpty || name.hasPrefix(".") || name.hasPrefix("#") || name.hasSuffix("~") { return true }
        let lower = name.lowercased()
        if lower.hasPrefix("tmp") { return true }
        let suffixes = [".tmp", ".temp", ".part", ".partial", ".swp", ".swx", ".crdownload", ".lock"]
        if suffixes.contains(where: { lower.hasSuffix($0) }) { return true }
        return containsTemporaryMarker(lower)
    }

    /// `.tmp` followed by the end, a separator, a digit, or a run of hex digits up to the next `.`:
    /// `x.h5.tmp3f2a`, `x.tmp.h5`, `x.h5.tmp-12`, but not `x.tmpl.h5`.
    private static func containsTemporaryMarker(_ lower: String) -> Bool {
        var rest = Substring(lower)
        while let range = rest.firstRange(of: ".tmp") {
            let after = rest[range.upperBound...]
            guard let next = after.first else { return true }
            if !next.isLetter { return true }
            let run = after.prefix { $0 != "." }
            if run.allSatisfy(\.isHexDigit) { return true }
            rest = after
        }
        return false
    }
}
