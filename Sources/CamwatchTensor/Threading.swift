internal import CBLAS
internal import CScheduling
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide control of the BLAS thread pool.
public enum ComputeThreads {
    /// Sets how many threads OpenBLAS uses for each matrix product.
    ///
    /// The corresponding C function is `openblas_set_num_threads`.
    public static func setBLASThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }

    /// Makes glibc serve allocations up to 1 GiB from one heap and keep freed memory there.
    ///
    /// A forward pass frees and allocates activations of a few to a few tens of MB at every layer. By
    /// default glibc maps each from fresh pages, which the kernel zeroes on first touch: a third of
    /// Score-CAM's run time in measurements. Worker threads would also get arenas of their own, made of
    /// heaps of at most 64 MiB that glibc unmaps as soon as they empty, whatever the trim threshold: a
    /// resnet18 Score-CAM then took 346,000 page faults instead of 108,000 (0.8 s of system time instead
    /// of 0.35). Allocations here are few and large, so one arena costs no measurable lock contention.
    /// Call once at start-up, before other threads run. The corresponding C function is `mallopt`.
    public static func keepLargeBuffersInHeap() {
        #if canImport(Glibc)
            _ = mallopt(M_MMAP_THRESHOLD, 1 << 30)
            _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
            _ = mallopt(M_ARENA_MAX, 1)
        #endif
    }
}

/// How much CPU and disk a compute thread may take from other processes (a trainer beside it).
public enum ComputePriority: String, Sendable, CaseIterable, Codable {
    /// `SCHED_IDLE` and the idle I/O class: the thread runs only on a core nothing else wants, and reads
    /// only when the disk is otherwise idle. The lowest priority Linux offers an unprivileged process.
    case idle
    /// `SCHED_BATCH` at nice 19 and best-effort I/O at its lowest level: a small but steady share.
    case low
    /// Whatever the process runs at (no change).
    case normal
}

extension ComputeThreads {
    /// What the kernel says about the calling thread's scheduling, for logs and tests.
    public struct ThreadScheduling: Sendable, Equatable {
        /// `SCHED_OTHER` 0, `SCHED_BATCH` 3, `SCHED_IDLE` 5.
        public var policy: Int
        public var nice: Int
        /// 0 none (follows nice), 2 best-effort, 3 idle.
        public var ioClass: Int
    }

    /// CPU seconds (user + system) used so far by this process's threads.
    public static var processCPUSeconds: Double {
        var time = timespec()
        guard clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time) == 0 else { return 0 }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The calling thread's scheduling policy, nice value and I/O class.
    public static var currentScheduling: ThreadScheduling {
        ThreadScheduling(
            policy: Int(camwatch_thread_policy()), nice: Int(camwatch_thread_nice()),
            ioClass: Int(camwatch_thread_ioprio_class()))
    }

    /// Lowers the calling thread to `priority` (threads it creates inherit it).
    ///
    /// A thread cannot raise itself back from `SCHED_IDLE` without privileges, so call this only on a
    /// thread made for the purpose (``detach(priority:_:)``), never on a shared pool's thread.
    /// - Returns: `nil`, or why the kernel refused (the thread then keeps running at its old priority).
    @discardableResult
    public static func lowerCurrentThread(to priority: ComputePriority) -> String? {
        var failures: [String] = []
        switch priority {
        case .normal:
            return nil
        case .idle:
            let cpu = camwatch_set_thread_policy(Int32(CAMWATCH_SCHED_IDLE))
            if cpu != 0 { failures.append("sched_setscheduler(SCHED_IDLE): \(String(cString: strerror(cpu)))") }
            let io = camwatch_set_thread_ioprio(Int32(CAMWATCH_IOPRIO_CLASS_IDLE), 0)
            if io != 0 { failures.append("ioprio_set(IOPRIO_CLASS_IDLE): \(String(cString: strerror(io)))") }
        case .low:
            let cpu = camwatch_set_thread_policy(Int32(CAMWATCH_SCHED_BATCH))
            if cpu != 0 { failures.append("sched_setscheduler(SCHED_BATCH): \(String(cString: strerror(cpu)))") }
            let nice = camwatch_set_thread_nice(19)
            if nice != 0 { failures.append("setpriority(19): \(String(cString: strerror(nice)))") }
            let io = camwatch_set_thread_ioprio(Int32(CAMWATCH_IOPRIO_CLASS_BE), 7)
            if io != 0 { failures.append("ioprio_set(IOPRIO_CLASS_BE, 7): \(String(cString: strerror(io)))") }
        }
        return failures.isEmpty ? nil : failures.joined(separator: "; ")
    }

    /// What lowering camwatch's CPU share between sessions takes (docs/architecture.md §6, docs/configuration.md "Watching without disturbing the trainer").
    ///
    /// With `sched_autogroup_enabled` (the default of most distributions' kernels), Linux first shares CPU
    /// time fairly between sessions (autogroups), and only then between threads inside one: a `SCHED_IDLE`
    /// thread alone in its session still gets as much CPU as a whole trainer in another (measured: a 48-px
    /// resnet18 trainer's epochs took 4× as long). An autogroup at nice 19 weighs 15 against a default
    /// session's 1024. But the autogroup belongs to the whole session: lowering the one camwatch was started
    /// in would demote the shell, and every trainer started from it, long after camwatch exits. So camwatch
    /// lowers an autogroup only when it leads the session (a systemd service, `setsid camwatch …`, or the
    /// session camwatch started for itself); otherwise it first runs itself in a session of its own.
    public enum SessionSharePlan: Sendable, Equatable {
        /// Nothing to do: normal priority, or no autogroups in this kernel.
        case none
        /// camwatch leads its session: lower that session's autogroup (``lowerOwnSessionShare()``).
        case lowerOwnSession
        /// camwatch shares its session with the processes that started it: run it again as the leader of a
        /// session of its own, and lower that one.
        case startOwnSession
    }

    /// The plan for `priority`, given what the kernel offers and where this process stands.
    /// - Parameters:
    ///   - autogroupsEnabled: `/proc/sys/kernel/sched_autogroup_enabled` reads 1.
    ///   - leadsSession: `getsid(0) == getpid()`.
    public static func sessionSharePlan(for priority: ComputePriority, autogroupsEnabled: Bool, leadsSession: Bool)
        -> SessionSharePlan
    {
        guard priority != .normal, autogroupsEnabled else { return .none }
        return leadsSession ? .lowerOwnSession : .startOwnSession
    }

    /// ``sessionSharePlan(for:autogroupsEnabled:leadsSession:)`` for this process and this kernel.
    public static func sessionSharePlan(for priority: ComputePriority) -> SessionSharePlan {
        let enabled = try? String(contentsOfFile: "/proc/sys/kernel/sched_autogroup_enabled", encoding: .utf8)
        return sessionSharePlan(
            for: priority, autogroupsEnabled: enabled?.trimmingCharacters(in: .whitespacesAndNewlines) == "1",
            leadsSession: getsid(0) == getpid())
    }

    /// Lowers the CPU share of this process's autogroup to nice 19, when ``sessionSharePlan(for:)`` says
    /// `.lowerOwnSession`: this process leads its session, so the autogroup is camwatch's own (its children,
    /// the checkpoint reader and alert hooks, share it). Under systemd the service's cgroup weighs more
    /// than the autogroup; `CPUWeight=idle` in the unit covers that.
    /// - Returns: what was done, or why not, for a log line; `nil` when there is nothing to do.
    public static func lowerSessionShare(for priority: ComputePriority) -> String? {
        switch sessionSharePlan(for: priority) {
        case .none: return nil
        case .startOwnSession:
            return "left the CPU share of the session camwatch was started in alone (it is not camwatch's own, and "
                + "camwatch could not start a session of its own); resources.priority \(priority.rawValue) still applies "
                + "within it"
        case .lowerOwnSession: break
        }
        let path = "/proc/self/autogroup"
        guard let handle = fopen(path, "w") else {
            return "cannot lower this session's CPU share (\(path): \(String(cString: strerror(errno))))"
        }
        let written = fputs("19\n", handle) >= 0
        let closed = fclose(handle) == 0
        guard written && closed else {
            return "cannot lower this session's CPU share (\(path): \(String(cString: strerror(errno))))"
        }
        // What the kernel now says, e.g. `/autogroup-123 nice 19`.
        let now = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            .trimmingCharacters(in: CharacterSet(charactersIn: "/")) ?? "autogroup nice 19"
        return "lowered the CPU share of camwatch's own session (session \(getsid(0)), \(now)), so resources.priority "
            + "\(priority.rawValue) also yields to trainers in other sessions"
    }

    /// Makes the kernel send `signal` (`nil`: `SIGKILL`) to this process when its parent dies, for a child
    /// process that must not outlive the process that started it (a `kill -9` of that one runs none of its
    /// clean-up).
    /// - Returns: `false` when the parent is already gone (this process was orphaned before the call).
    public static func dieWithParent(signal: Int32? = nil) -> Bool {
        guard camwatch_set_parent_death_signal(signal ?? SIGKILL) == 0 else { return true }
        // The parent may have died before the request took effect: then the child was re-parented already.
        return getppid() != 1
    }

    /// Runs `body` on a new thread and returns at once; the thread ends with `body`.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        // Nobody joins it: its resources go back when it ends.
        if let thread = start(body) { _ = pthread_detach(thread) } else { body() }
    }

    /// Runs `body` on a new thread lowered to `priority` and waits for it.
    ///
    /// Threads inherit their creator's scheduling, so `body` must not hand work to a shared pool that may
    /// grow a thread from it (Dispatch, Swift concurrency, Foundation's `Process`): that thread would stay
    /// lowered and serve everyone. Worker threads `body` starts with ``perform(workers:_:)`` are its own.
    /// - Parameter refused: hears why the kernel refused the priority (on the new thread, before `body`).
    public static func run<Result: Sendable>(
        priority: ComputePriority, refused: (@Sendable (String) -> Void)? = nil, _ body: @Sendable () -> Result
    ) -> Result {
        guard priority != .normal else { return body() }
        let result = Mutex<Result?>(nil)
        withoutActuallyEscaping(body) { escapable in
            let thread = start {
                if let reason = lowerCurrentThread(to: priority) { refused?(reason) }
                let value = escapable()
                result.withLock { $0 = value }
            }
            if let thread { _ = pthread_join(thread, nil) }
        }
        if let value = result.withLock({ $0 }) { return value }
        // No thread to be had (resource limits): run here, at this thread's priority.
        return body()
    }

    /// Runs `body(worker)` for `worker` in `0..<workers` at once: worker 0 on the calling thread, the others on
    /// new threads, which inherit the caller's scheduling policy, nice value and I/O class (so a lowered
    /// caller never hands work to a thread at normal priority, as a shared pool would). Returns when all are done.
    public static func perform(workers: Int, _ body: @Sendable (Int) -> Void) {
        let count = max(1, workers)
        guard count > 1 else {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let threads = (1..<count).map { worker in (worker, start { escapable(worker) }) }
            escapable(0)
            for (worker, thread) in threads {
                // No thread to be had (resource limits): that worker runs here.
                if let thread { _ = pthread_join(thread, nil) } else { escapable(worker) }
            }
        }
    }

    private final class ThreadStart {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a joinable pthread running `body` (default attributes: the scheduling is inherited), or returns
    /// `nil` when no thread can be had (resource limits).
    @discardableResult
    private static func start(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        let context = Unmanaged.passRetained(ThreadStart(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<ThreadStart>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(context).release()
            return nil
        }
        return thread
    }
}
