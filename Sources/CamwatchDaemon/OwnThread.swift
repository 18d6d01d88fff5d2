import CamwatchTensor

/// Blocking work — file copies, a reader child, Score-CAM, PNG encoding, fsync — runs on a thread of its own and
/// never on Swift's cooperative pool, whose few threads (one per core) the watcher's tasks, the signal handler
/// and the alert dispatcher share (docs/architecture.md §1).
enum OwnThread {
    /// Runs `body` on a new thread; the calling task suspends until it returns.
    static func run<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
        await withCheckedContinuation { (done: CheckedContinuation<Result, Never>) in
            ComputeThreads.detach { done.resume(returning: body()) }
        }
    }
}
