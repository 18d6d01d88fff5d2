extension Report {
    /// Which run a report belongs to: the checkpoint directory it follows and where its probes came from.
    ///
    /// An output directory holds one run. A second `watch` of another directory (or with other probe images)
    /// into the same `--out` would measure drift from one run's last checkpoint to the other's first, and call
    /// the difference between two trainings a change of saliency.
    public struct Run: Sendable, Equatable, Codable {
        /// The checkpoint directory, absolute, with symbolic links resolved.
        public var checkpoints: String
        /// Its device and inode, so the same directory under another path (renamed, or reached through a bind
        /// mount) is still the same run; `nil` when they could not be read.
        @ExplicitNull public var device: UInt64?
        @ExplicitNull public var inode: UInt64?
        /// The probe directory, resolved like `checkpoints`. Named in messages only: probes are compared by
        /// their ids and digests, so a probe directory that moved is the same probe set.
        public var probes: String

        public init(checkpoints: String, device: UInt64?, inode: UInt64?, probes: String) {
            self.checkpoints = checkpoints
            self.device = device
            self.inode = inode
            self.probes = probes
        }

        /// Whether `other` names the same checkpoint directory: the same resolved path, or the same directory
        /// on the same device.
        func watchesSameDirectory(as other: Run) -> Bool {
            if checkpoints == other.checkpoints { return true }
            guard let device, let inode else { return false }
            return device == other.device && inode == other.inode
        }
    }

    /// Why the checkpoints of `fresh`'s run must not be added to this report, or `nil` when they may: another
    /// checkpoint directory, or a probe whose image differs under the same id (or no probe in common). A
    /// report from before the run was recorded has nothing to compare the directory with.
    func conflict(withRunOf fresh: Report) -> String? {
        if let earlier = run, let current = fresh.run, !earlier.watchesSameDirectory(as: current) {
            return "holds the run of the checkpoints in \(earlier.checkpoints), not of those in \(current.checkpoints)"
        }
        let digests = Dictionary(
            probes.compactMap { probe in probe.digest.map { (probe.id, $0) } }, uniquingKeysWith: { first, _ in first })
        guard !digests.isEmpty else { return nil }
        let changed = fresh.probes.first { probe in
            guard let digest = probe.digest, let before = digests[probe.id] else { return false }
            return digest != before
        }
        let shared = fresh.probes.contains { digests[$0.id] != nil }
        guard changed != nil || !shared else { return nil }
        let which = changed.map { "probe '\($0.id)' is another image now" } ?? "no probe id in common"
        guard let earlier = run?.probes, let current = fresh.run?.probes else {
            return "was made with other probes (\(which))"
        }
        return "was made with the probes in \(earlier), not with those in \(current) (\(which))"
    }
}
