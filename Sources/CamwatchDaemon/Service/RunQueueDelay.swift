import Foundation

/// How long this process's idle-class threads have been runnable but waiting for a CPU, summed: the second
/// field of `/proc/self/task/*/schedstat` (nanoseconds; the kernel keeps it with `CONFIG_SCHED_INFO`) of the
/// threads whose policy is `SCHED_IDLE`.
///
/// The watchdog uses it to tell a starved pipeline from a hung one. At `priority: idle` a trainer that keeps
/// every core busy leaves camwatch's analysis threads (`SCHED_IDLE`) runnable for minutes without a slice; their
/// run-queue delay then grows as fast as the clock. A hang does not grow it: a thread blocked on a hung mount or a
/// lock sleeps, and a loop that spins gets its slices when the trainer pauses. Threads of the normal class are
/// left out: the fair scheduler never starves them for minutes, so their waits would only excuse a hang.
enum RunQueueDelay {
    /// `SCHED_IDLE` from <sched.h>.
    static let idlePolicy = 5

    /// The summed delay in nanoseconds, or `nil` when no idle-class thread's figure can be read (then nothing
    /// counts as starvation, and the watchdog follows the heartbeat alone).
    static func total(taskDirectory: String = "/proc/self/task") -> UInt64? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: taskDirectory) else { return nil }
        var sum: UInt64 = 0
        var read = false
        for task in tasks {
            // A thread may end between the listing and the reads: skip it.
            guard let stat = try? String(contentsOfFile: "\(taskDirectory)/\(task)/stat", encoding: .utf8),
                  policy(stat) == idlePolicy,
                  let text = try? String(contentsOfFile: "\(taskDirectory)/\(task)/schedstat", encoding: .utf8),
                  let delay = parse(text)
            else { continue }
            sum &+= delay
            read = true
        }
        return read ? sum : nil
    }

    /// The run-queue delay of one `schedstat` line: "on-CPU ns, run-queue ns, timeslices".
    static func parse(_ line: String) -> UInt64? {
        let fields = line.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2 else { return nil }
        return UInt64(fields[1])
    }

    /// The scheduling policy of a `stat` line (field 41, counting from 1; the command name in field 2 may hold
    /// spaces and parentheses, so fields are counted after its last `)`, where field 3 begins).
    static func policy(_ stat: String) -> Int? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(whereSeparator: \.isWhitespace)
        let index = 41 - 3
        guard fields.count > index else { return nil }
        return Int(fields[index])
    }
}
