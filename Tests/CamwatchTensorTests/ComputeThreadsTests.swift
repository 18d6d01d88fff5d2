import CamwatchTensor
import Synchronization
import Testing

/// The analysis threads' priority, as the kernel reports it (sched_getscheduler, getpriority, ioprio_get).
@Suite struct ComputeThreadsTests {
    @Test("idle: SCHED_IDLE and the idle I/O class on the new thread and on every worker it starts; the caller unchanged")
    func idleThreadsAndTheirWorkers() {
        let before = ComputeThreads.currentScheduling
        let seen = Mutex<[ComputeThreads.ThreadScheduling]>([])
        let refusals = Mutex<[String]>([])
        let value = ComputeThreads.run(priority: .idle, refused: { reason in refusals.withLock { $0.append(reason) } }) {
            ComputeThreads.perform(workers: 3) { _ in
                let scheduling = ComputeThreads.currentScheduling
                seen.withLock { $0.append(scheduling) }
            }
            return 42
        }
        #expect(value == 42)
        #expect(refusals.withLock { $0 }.isEmpty, "\(refusals.withLock { $0 })")
        let workers = seen.withLock { $0 }
        #expect(workers.count == 3)
        for scheduling in workers {
            #expect(scheduling.policy == 5, "SCHED_IDLE is 5, got \(scheduling.policy)")
            #expect(scheduling.ioClass == 3, "IOPRIO_CLASS_IDLE is 3, got \(scheduling.ioClass)")
        }
        #expect(ComputeThreads.currentScheduling == before, "the calling thread must keep its priority")
    }

    @Test("low: SCHED_BATCH at nice 19 with best-effort I/O; normal: the caller's own thread, unchanged")
    func lowAndNormal() {
        let low = ComputeThreads.run(priority: .low) { ComputeThreads.currentScheduling }
        #expect(low.policy == 3 && low.nice == 19 && low.ioClass == 2, "\(low)")
        let before = ComputeThreads.currentScheduling
        let normal = ComputeThreads.run(priority: .normal) { ComputeThreads.currentScheduling }
        #expect(normal == before)
    }

    @Test("perform runs every worker index exactly once and returns after all of them")
    func performCoversEveryWorker() {
        let hits = Mutex([Int](repeating: 0, count: 5))
        ComputeThreads.perform(workers: 5) { worker in hits.withLock { $0[worker] += 1 } }
        #expect(hits.withLock { $0 } == [1, 1, 1, 1, 1])
        let one = Mutex(0)
        ComputeThreads.perform(workers: 0) { _ in one.withLock { $0 += 1 } }
        #expect(one.withLock { $0 } == 1, "fewer than one worker still runs the body once")
    }

    @Test("the session's autogroup is lowered only by its leader; anyone else first needs a session of its own")
    func sessionSharePlan() {
        for priority in [ComputePriority.idle, .low] {
            #expect(ComputeThreads.sessionSharePlan(for: priority, autogroupsEnabled: true, leadsSession: true) == .lowerOwnSession)
            #expect(ComputeThreads.sessionSharePlan(for: priority, autogroupsEnabled: true, leadsSession: false) == .startOwnSession)
            #expect(ComputeThreads.sessionSharePlan(for: priority, autogroupsEnabled: false, leadsSession: false) == .none)
        }
        #expect(ComputeThreads.sessionSharePlan(for: .normal, autogroupsEnabled: true, leadsSession: false) == .none)
    }
}
