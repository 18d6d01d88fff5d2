extension Report {
    /// A checkpoint camwatch could not read because its own reader failed — the child was killed (the OOM
    /// killer, an operator), crashed, or could not start — which is no verdict on the file: it is read again
    /// later, and after a restart.
    public struct RetryingCheckpoint: Sendable, Equatable, Codable {
        public var name: String
        public var id: String
        /// Reader attempts made so far.
        public var attempts: Int
        /// The last failure, one line naming the file.
        public var error: String
        /// Unix seconds of the next attempt (a restart tries at once).
        public var nextAttemptAt: Double

        public init(name: String, id: String, attempts: Int, error: String, nextAttemptAt: Double) {
            (self.name, self.id, self.attempts, self.error, self.nextAttemptAt) = (name, id, attempts, error, nextAttemptAt)
        }

        enum CodingKeys: String, CodingKey {
            case name, id, attempts, error
            case nextAttemptAt = "next_attempt_at"
        }
    }

    /// Records that `entry`'s checkpoint is to be read again, replacing an earlier record of it.
    mutating func recordRetrying(_ entry: RetryingCheckpoint) {
        var list = (retrying ?? []).filter { $0.id != entry.id }
        list.append(entry)
        retrying = list
    }

    /// Forgets the retry record of the checkpoint with this id (it has a verdict now).
    public mutating func stopRetrying(id: String) {
        guard let list = retrying, list.contains(where: { $0.id == id }) else { return }
        retrying = list.filter { $0.id != id }
    }

    /// Moves `failed` entries that camwatch's reader, not the file, caused (written by versions that gave up
    /// after three attempts: the reason ends in `(N attempts)`) to `retrying`, so they are read again.
    /// Such entries never changed the convergence state, so removing them leaves it as it is.
    public mutating func releaseReaderFailures(now: Double) {
        let released = checkpoints.filter { entry in
            entry.status == .failed && entry.diverged != true && entry.error.map(Self.isReaderFailure) == true
        }
        guard !released.isEmpty else { return }
        let ids = Set(released.map(\.id))
        checkpoints.removeAll { ids.contains($0.id) }
        for entry in released {
            let attempts = Self.attempts(in: entry.error ?? "") ?? 1
            recordRetrying(
                RetryingCheckpoint(
                    name: entry.name, id: entry.id, attempts: attempts, error: entry.error ?? "", nextAttemptAt: now))
        }
    }

    /// Whether a `failed` reason is a reader failure: only those end in `(N attempts)`.
    static func isReaderFailure(_ reason: String) -> Bool { attempts(in: reason) != nil }

    private static func attempts(in reason: String) -> Int? {
        guard reason.hasSuffix(" attempts)"), let open = reason.lastIndex(of: "(") else { return nil }
        let number = reason[reason.index(after: open)...].dropLast(" attempts)".count)
        return Int(number)
    }
}
