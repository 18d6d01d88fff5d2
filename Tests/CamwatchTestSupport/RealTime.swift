import Foundation
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

/// A task executor that starts a thread of its own for every job, so a job starts at once however many of
/// its earlier jobs block (a test polling a socket for seconds, a semaphore held by a stalled pipeline). A
/// concurrent dispatch queue did not guarantee that on Linux: with two cores, two blocked jobs held back every
/// other real-time test's wake-ups by more than a second.
public final class RealTimeExecutor: TaskExecutor {
    public static let shared = RealTimeExecutor()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let thread = Thread { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        thread.start()
    }
}
