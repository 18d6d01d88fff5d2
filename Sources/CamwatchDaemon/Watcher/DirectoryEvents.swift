import Dispatch
import Synchronization

/// Wakes the watch loop when something happens in the checkpoint directory, or when a timeout passes.
///
/// Linux inotify on the directory (close-after-write, rename in, create, delete, modify, attribute change)
/// with a polling fallback: when inotify is disabled (network file systems, where it misses other hosts'
/// writes) or unavailable, `nextWake` just sleeps. Events only say "look again"; `CheckpointWatcher.scan`
/// decides what changed, so a lost or spurious event costs at most one scan. Events that arrive between
/// two `nextWake` calls are kept by the kernel and wake the next call at once.
///
/// The blocking `poll(2)` runs on a private dispatch queue, not on the Swift concurrency pool, and task
/// cancellation interrupts it through a pipe. One task should wait at a time; concurrent waits take turns.
public final class DirectoryEvents: Sendable {
    /// How changes are noticed.
    public enum Mode: Sendable, Equatable {
        /// inotify on the directory.
        case inotify
        /// No events: every wait lasts its full timeout. `reason` says why, for a log line.
        case polling(reason: String)
    }

    /// Why `nextWake` returned.
    public enum Wake: Sendable, Equatable {
        /// Something happened in the directory: scan it.
        case changed
        /// The timeout passed without an event.
        case timeout
        /// The waiting task was cancelled.
        case cancelled
    }

    /// The watched directory.
    public let directory: String
    /// Whether inotify is in use, or why not.
    public let mode: Mode
    /// After the first event, how long to keep collecting before returning, so a trainer writing a large file
    /// (a stream of modify events) causes a few scans a second rather than hundreds.
    public let coalescing: Duration

    private let inotify: Int32
    private let cancelRead: Int32
    private let cancelWrite: Int32
    /// Whether the watch on `directory` is installed (it goes away when the directory is deleted or moved).
    private let watching: Mutex<Bool>
    private let queue = DispatchQueue(label: "camwatch.directory-events")

    /// Starts watching `directory`.
    ///
    /// Never fails: when inotify cannot be used, `mode` is `.polling` with the reason. A directory that does
    /// not exist yet is watched from the first wait after it appears.
    /// - Parameters:
    ///   - useInotify: `false` forces polling (e.g. on NFS or Lustre, where inotify is blind to other hosts).
    ///   - coalescing: see `coalescing`.
    public init(directory: String, useInotify: Bool = true, coalescing: Duration = .milliseconds(100)) {
        self.directory = directory
        self.coalescing = coalescing
        let setup =
            useInotify ? Self.setUp(directory) : Setup(mode: .polling(reason: "inotify disabled by configuration"))
        self.mode = setup.mode
        self.inotify = setup.inotify
        self.cancelRead = setup.cancelRead
        self.cancelWrite = setup.cancelWrite
        self.watching = Mutex(setup.installed)
    }

    private struct Setup {
        var mode: Mode
        var inotify: Int32 = -1
        var cancelRead: Int32 = -1
        var cancelWrite: Int32 = -1
        var installed = false
    }

    /// Opens the inotify descriptor and the cancellation pipe and adds the watch; polling when any of it fails.
    private static func setUp(_ directory: String) -> Setup {
        let descriptor: Int32
        switch DaemonSystemCalls.inotifyDescriptor() {
        case .success(let fd): descriptor = fd
        case .failure(let failure):
            return Setup(mode: .polling(reason: "inotify unavailable: \(failure.message) (\(failure.call))"))
        }
        let pipe: (read: Int32, write: Int32)
        switch DaemonSystemCalls.nonBlockingPipe() {
        case .success(let ends): pipe = ends
        case .failure(let failure):
            DaemonSystemCalls.closeDescriptor(descriptor)
            return Setup(mode: .polling(reason: "inotify unavailable: \(failure.message) (\(failure.call))"))
        }
        var setup = Setup(mode: .inotify, inotify: descriptor, cancelRead: pipe.read, cancelWrite: pipe.write)
        switch DaemonSystemCalls.addWatch(descriptor, directory: directory) {
        case .success: setup.installed = true
        case .failure(let failure) where failure.isNotFound: break  // watched once it exists
        case .failure(let failure):
            [descriptor, pipe.read, pipe.write].forEach(DaemonSystemCalls.closeDescriptor)
            return Setup(mode: .polling(reason: "cannot watch \(directory): \(failure.message) (\(failure.call))"))
        }
        return setup
    }

    deinit {
        for descriptor in [inotify, cancelRead, cancelWrite] where descriptor >= 0 {
            DaemonSystemCalls.closeDescriptor(descriptor)
        }
    }

    /// Waits until something happens in the directory, `timeout` passes, or the task is cancelled.
    ///
    /// Returns promptly on cancellation (well under 100 ms). In polling mode it sleeps `timeout`. The result
    /// may be ignored by a loop that scans after every wake-up and checks `Task.isCancelled` itself.
    @discardableResult
    public func nextWake(timeout: Duration) async -> Wake {
        if Task.isCancelled { return .cancelled }
        guard mode == .inotify else {
            do {
                try await Task.sleep(for: timeout)
                return .timeout
            } catch {
                return .cancelled
            }
        }
        let wake = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
                queue.async { continuation.resume(returning: self.blockingWait(timeout)) }
            }
        } onCancel: {
            DaemonSystemCalls.signal(cancelWrite)
        }
        if Task.isCancelled { return .cancelled }
        // A cancellation signal left by an earlier, already finished wait: harmless, scan once more.
        return wake == .cancelled ? .changed : wake
    }

    /// Blocks in `poll` on the inotify descriptor and the cancellation pipe.
    private func blockingWait(_ timeout: Duration) -> Wake {
        watching.withLock { installed in
            if !installed, case .success = DaemonSystemCalls.addWatch(inotify, directory: directory) {
                installed = true
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let remaining = clock.now.duration(to: deadline)
            switch DaemonSystemCalls.waitReadable([cancelRead, inotify], milliseconds: Self.milliseconds(remaining)) {
            case .failure:
                return .changed
            case .success(let readable) where readable[0]:
                DaemonSystemCalls.drain(cancelRead)
                return .cancelled
            case .success(let readable) where readable[1]:
                var removed = DaemonSystemCalls.drainInotify(inotify)
                let quiet = DaemonSystemCalls.waitReadable(
                    [cancelRead], milliseconds: Self.milliseconds(min(coalescing, remaining)))
                removed = DaemonSystemCalls.drainInotify(inotify) || removed
                if removed { watching.withLock { $0 = false } }
                if case .success(let cancel) = quiet, cancel[0] {
                    DaemonSystemCalls.drain(cancelRead)
                    return .cancelled
                }
                return .changed
            case .success:
                if clock.now >= deadline { return .timeout }
            }
        }
    }

    /// Whole milliseconds, rounded up, within `poll`'s range.
    private static func milliseconds(_ duration: Duration) -> Int32 {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        let total = seconds.multipliedReportingOverflow(by: 1000)
        guard !total.overflow else { return Int32.max }
        let value = total.partialValue + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: value)
    }
}
