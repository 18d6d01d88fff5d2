import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The operating-system limits the checkpoint reader child puts on itself before it opens the file.
///
/// `CheckpointLoader` refuses files that declare more numbers than it will read, but libhdf5 allocates and
/// loops on its own (metadata caches, chunk buffers, damaged B-trees); only the kernel can bound that. The
/// limits apply to the child alone, so a file that hits one costs one checkpoint, never the daemon.
enum ReaderLimits {
    /// CPU seconds the reader may use (soft limit: SIGXCPU; the hard limit 5 s later kills it). Reading the
    /// largest checkpoint `CheckpointLoader.maximumElements` allows takes well under a minute of CPU in a
    /// release build; a reader spinning for two minutes is libhdf5 looping on a damaged file. Time spent
    /// waiting for a core (priority idle beside a trainer) does not count, so a starved reader is not cut off.
    static let cpuSeconds = 120

    /// Address space for libhdf5's metadata, chunk cache and decompression buffers and for malloc's arenas,
    /// on top of what the numbers themselves need.
    static let headroomBytes = 512 << 20

    /// The address space the reader may use: what it has mapped already (the runtime, libraries, thread
    /// stacks: machine-dependent, so measured), plus three times the file's numbers as float32 (the tensors,
    /// and the largest one twice more while its reply is written), plus `headroomBytes`.
    static func addressSpace(fileSize: Int64, mapped: Int) -> Int {
        let numbers = CheckpointLoader.elementBudget(fileSize: fileSize)
        let (data, overflow) = numbers.multipliedReportingOverflow(by: 3 * MemoryLayout<Float>.size)
        guard !overflow else { return Int.max }
        return mapped.addingReportingOverflow(data + headroomBytes).overflow ? Int.max : mapped + data + headroomBytes
    }

    /// Sets `RLIMIT_AS` and `RLIMIT_CPU` for this process (never raising a limit already lower). Best effort:
    /// a sandbox may forbid `setrlimit`; the element budget then still bounds what camwatch itself allocates.
    /// - Returns: the limits that could not be set, in words (empty when all were).
    @discardableResult
    static func apply(fileSize: Int64) -> [String] {
        #if os(Linux)
            var failures: [String] = []
            let space = rlim_t(clamping: addressSpace(fileSize: fileSize, mapped: mappedBytes() ?? 0))
            if !lower(RLIMIT_AS, soft: space, hard: space) { failures.append("RLIMIT_AS: errno \(errno)") }
            let cpu = rlim_t(cpuSeconds)
            if !lower(RLIMIT_CPU, soft: cpu, hard: cpu + 5) { failures.append("RLIMIT_CPU: errno \(errno)") }
            // The parent's threads block most signals and a spawned child inherits that mask: with SIGXCPU
            // blocked, the soft limit would pass unnoticed until the hard limit's SIGKILL, which reads as
            // "killed from outside" instead of "looping".
            var cpuSignal = sigset_t()
            sigemptyset(&cpuSignal)
            sigaddset(&cpuSignal, SIGXCPU)
            pthread_sigmask(SIG_UNBLOCK, &cpuSignal, nil)
            signal(SIGXCPU, SIG_DFL)
            return failures
        #else
            return ["resource limits are set on Linux only"]
        #endif
    }

    #if os(Linux)
        /// Lowers a limit to `soft`/`hard`, keeping any lower value already in force.
        private static func lower(_ resource: __rlimit_resource, soft: rlim_t, hard: rlim_t) -> Bool {
            let which = __rlimit_resource_t(resource.rawValue)
            var limit = rlimit()
            guard getrlimit(which, &limit) == 0 else { return false }
            limit.rlim_max = min(limit.rlim_max, hard)
            limit.rlim_cur = min(limit.rlim_cur, soft, limit.rlim_max)
            return setrlimit(which, &limit) == 0
        }

        /// `VmSize` of /proc/self/status in bytes: the address space mapped now.
        static func mappedBytes() -> Int? {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
            for line in status.split(separator: "\n") where line.hasPrefix("VmSize:") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
                return kilobytes * 1024
            }
            return nil
        }
    #endif
}
