/// One version of a checkpoint file in the watched directory, identified by (inode, mtime, size).
///
/// The name is not the identity: a trainer that rewrites `last.h5` produces a new `CheckpointFile` with the
/// same name and a new `id` (docs/architecture.md §6), and a file renamed from a temporary name keeps its identity.
public struct CheckpointFile: Sendable, Hashable, Identifiable, CustomStringConvertible {
    /// The full path in the watched directory.
    public var path: String
    /// The file name (the last path component).
    public var name: String
    /// The inode number.
    public var inode: UInt64
    /// The size in bytes.
    public var size: Int64
    /// The modification time in nanoseconds since the Unix epoch.
    public var mtimeNanoseconds: Int64

    public init(path: String, name: String, inode: UInt64, size: Int64, mtimeNanoseconds: Int64) {
        self.path = path
        self.name = name
        self.inode = inode
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
    }

    /// `"<inode>-<mtime ns>-<size>"`: the checkpoint id stored in report.json.
    public var id: String { "\(inode)-\(mtimeNanoseconds)-\(size)" }

    /// The modification time in seconds since the Unix epoch.
    public var modificationTime: Double { Double(mtimeNanoseconds) / 1e9 }

    public var description: String { "\(name) [\(id)]" }

    /// Whether two values describe the same bytes on disk (path aside).
    func sameIdentity(as other: CheckpointFile) -> Bool {
        inode == other.inode && size == other.size && mtimeNanoseconds == other.mtimeNanoseconds
    }

    // MARK: - Order

    /// Processing order without step/epoch attributes: natural name order, then mtime, then path.
    public static func naturalOrder(_ a: CheckpointFile, _ b: CheckpointFile) -> Bool {
        if a.name != b.name { return naturalOrder(a.name, b.name) }
        if a.mtimeNanoseconds != b.mtimeNanoseconds { return a.mtimeNanoseconds < b.mtimeNanoseconds }
        return a.path.unicodeScalars.lexicographicallyPrecedes(b.path.unicodeScalars)
    }

    /// Whether `a` sorts before `b` when runs of ASCII digits compare as numbers: `epoch-2` < `epoch-10`.
    ///
    /// ASCII letters compare case-insensitively first; names still equal are ordered by case, then by code
    /// points (which settles `ckpt-01` against `ckpt-1`), so the order is total and deterministic.
    public static func naturalOrder(_ a: String, _ b: String) -> Bool {
        let x = Array(a.unicodeScalars)
        let y = Array(b.unicodeScalars)
        for foldCase in [true, false] {
            let order = naturalComparison(x, y, foldCase: foldCase)
            if order != 0 { return order < 0 }
        }
        return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    /// -1, 0 or 1: `x` before, equal to, or after `y`, digit runs by value.
    private static func naturalComparison(_ x: [Unicode.Scalar], _ y: [Unicode.Scalar], foldCase: Bool) -> Int {
        var i = 0
        var j = 0
        while i < x.count && j < y.count {
            if isDigit(x[i]) && isDigit(y[j]) {
                let endX = digitRunEnd(x, from: i)
                let endY = digitRunEnd(y, from: j)
                let order = compareNumbers(x[i..<endX], y[j..<endY])
                if order != 0 { return order }
                i = endX
                j = endY
                continue
            }
            let p = foldCase ? folded(x[i]) : x[i].value
            let q = foldCase ? folded(y[j]) : y[j].value
            if p != q { return p < q ? -1 : 1 }
            i += 1
            j += 1
        }
        if i < x.count { return 1 }
        if j < y.count { return -1 }
        return 0
    }

    private static func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 0x30 && s.value <= 0x39 }

    private static func digitRunEnd(_ s: [Unicode.Scalar], from start: Int) -> Int {
        var end = start
        while end < s.count && isDigit(s[end]) { end += 1 }
        return end
    }

    /// Compares two digit runs by value, however long (no overflow): fewer significant digits is smaller.
    private static func compareNumbers(_ a: ArraySlice<Unicode.Scalar>, _ b: ArraySlice<Unicode.Scalar>) -> Int {
        let p = a.drop { $0 == "0" }
        let q = b.drop { $0 == "0" }
        if p.count != q.count { return p.count < q.count ? -1 : 1 }
        for (c, d) in zip(p, q) where c != d { return c.value < d.value ? -1 : 1 }
        return 0
    }

    /// ASCII letters folded to lower case; everything else unchanged.
    private static func folded(_ s: Unicode.Scalar) -> UInt32 {
        (s.value >= 0x41 && s.value <= 0x5A) ? s.value + 0x20 : s.value
    }
}
