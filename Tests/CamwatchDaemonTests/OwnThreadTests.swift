@testable import CamwatchDaemon
import Foundation
import Synchronization
import Testing

/// Publishing, scans and reloads hand their blocking work to `OwnThread.run`; this proves the hand-off leaves
/// Swift's cooperative pool (one thread per core) free.
@Suite struct OwnThreadTests {
    /// More blocking bodies than the cooperative pool has threads all run at once: each waits (at most 30 s)
    /// until every other has started. Had `run` executed its body on a pool thread, at most pool-width bodies
    /// could wait at a time and every one would time out. (How soon the tasks themselves start is not measured:
    /// in a parallel test run, other tests' blocking work may hold the pool for minutes.)
    @Test func blockingBodiesDoNotHoldThePoolsThreads() async {
        let count = 2 * ProcessInfo.processInfo.activeProcessorCount + 2
        let started = StartCount()
        let allMet = await withTaskGroup(of: Bool.self, returning: [Bool].self) { group in
            for _ in 0..<count {
                group.addTask {
                    await OwnThread.run {
                        started.value.withLock { $0 += 1 }
                        let deadline = Date().addingTimeInterval(30)
                        while started.value.withLock({ $0 }) < count {
                            guard Date() < deadline else { return false }
                            usleep(1000)
                        }
                        return true
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(allMet.allSatisfy { $0 }, "\(allMet.filter { !$0 }.count) of \(count) bodies never saw the others start")
    }
}

extension OwnThreadTests {
    /// The body runs on another thread than the task that asked: not inline on the caller's pool thread, which
    /// is alive (and so cannot share its identity with a new thread) while the task waits.
    @Test func theBodyLeavesTheCallersThread() async {
        let caller = pthread_self()
        let body = await OwnThread.run { pthread_self() }
        #expect(pthread_equal(caller, body) == 0)
    }
}

/// How many bodies have started, shared by all of them.
private final class StartCount: Sendable {
    let value = Mutex(0)
}
