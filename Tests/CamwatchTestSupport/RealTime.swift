import Dispatch
public import Testing

/// `@Suite(.realTime)`: the suite's tests run on threads of their own instead of Swift's cooperative pool.
///
/// The pool has one thread per core (two here), and most of this package's tests occupy a pool thread for
/// seconds: numeric loops in a debug build, `waitUntilExit` on the camwatch binary. Run in parallel, a test
/// that measures real time — an inotify wake-up within 1 s, a hook killed after 0.3 s — would otherwise
/// wait for a free pool thread and fail on latency it did not cause. With this trait the test body, its
/// child tasks and every continuation it awaits run on `RealTimeExecutor`, which never runs out of threads.
public struct RealTimeTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // Called once for the suite (no test case) and once per test case; only the latter runs a body.
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(RealTimeExecutor.shared) { try await function() }
    }
}

extension Trait where Self == RealTimeTrait {
    /// Runs the tests off the cooperative pool (see `RealTimeTrait`).
    public static var realTime: Self { RealTimeTrait() }
}

/// A task executor on a concurrent dispatch queue: dispatch adds a thread whenever the running ones block,
/// so a job of this executor starts at once however busy the cooperative pool is.
public final class RealTimeExecutor: TaskExecutor {
    public static let shared = RealTimeExecutor()
    private let queue = DispatchQueue(label: "camwatch.tests.real-time", attributes: .concurrent)

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
