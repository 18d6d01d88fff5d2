import CBLAS
import Foundation

/// The widest x86-64 vector instructions a CPU offers, or that a BLAS kernel set is written for.
public enum VectorLevel: Int, Comparable, Sendable, CustomStringConvertible {
    /// SSE2/SSE3, what every x86-64 CPU has.
    case baseline
    case avx
    /// AVX2 with FMA3 (Intel Haswell and later, AMD Zen).
    case avx2
    /// AVX-512 F, CD, BW, DQ and VL (Intel Skylake-SP and later Xeons, AMD Zen 4).
    case avx512

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .baseline: "SSE3"
        case .avx: "AVX"
        case .avx2: "AVX2+FMA"
        case .avx512: "AVX-512"
        }
    }
}

/// What the kernel reports about the CPU in `/proc/cpuinfo`. Its flags are the features the kernel enabled
/// (a hypervisor or the kernel may hide AVX-512 from a CPU that has it), which is what code may use.
public struct CPUDescription: Sendable, Equatable {
    public var model: String
    public var vendor: String
    public var flags: Set<String>

    public init(model: String, vendor: String, flags: Set<String>) {
        self.model = model
        self.vendor = vendor
        self.flags = flags
    }

    /// Parses the first processor's block of `/proc/cpuinfo` text; `nil` when it has no `flags` line (not x86).
    public init?(cpuinfo: String) {
        var fields: [String: String] = [:]
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty, !fields.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        guard let flags = fields["flags"] else { return nil }
        self.init(
            model: fields["model name"] ?? "unknown CPU", vendor: fields["vendor_id"] ?? "unknown vendor",
            flags: Set(flags.split(separator: " ").map(String.init)))
    }

    /// This machine's CPU; `nil` off Linux/x86-64.
    public static func current() -> CPUDescription? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        return CPUDescription(cpuinfo: text)
    }

    public var vectorLevel: VectorLevel {
        if Self.avx512Flags.isSubset(of: flags) { return .avx512 }
        if flags.contains("avx2") && flags.contains("fma") { return .avx2 }
        return flags.contains("avx") ? .avx : .baseline
    }

    /// AMD (and its licensee Hygon), whose AVX2 parts OpenBLAS serves with its Zen kernels.
    public var isAMD: Bool { vendor == "AuthenticAMD" || vendor == "HygonGenuine" }

    /// The subsets OpenBLAS's SkylakeX kernels (and ours) rely on.
    static let avx512Flags: Set<String> = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
}

/// OpenBLAS's kernel set ("core"). Debian builds OpenBLAS with DYNAMIC_ARCH: at load it picks a core from the
/// CPU's family and model numbers, and a CPU newer than its table (0.3.21 does not know Sapphire Rapids or
/// Emerald Rapids Xeons) falls back to `Prescott`, the SSE3 kernels — 4–8× slower sgemm on an AVX-512 machine.
/// The environment variable `OPENBLAS_CORETYPE`, read only when the library loads, overrides the choice.
public enum BLASCore {
    /// The core the loaded library runs, e.g. `Haswell`, `SkylakeX`, `Zen`, `Prescott`.
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The library's build line, e.g. `OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64`.
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The instructions an OpenBLAS x86-64 core's kernels use; `nil` for a name this table does not know.
    public static func vectorLevel(ofCore name: String) -> VectorLevel? {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": .avx512
        case "haswell", "zen": .avx2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": .avx
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron", "opteron(sse3)",
            "barcelona", "nano", "bobcat", "katmai", "coppermine", "northwood", "athlon":
            .baseline
        default: nil
        }
    }

    /// The core to ask for on `cpu`: the one whose kernels use its widest vectors, as OpenBLAS itself picks for
    /// CPUs it knows (Cooperlake where AVX-512 has BF16: its sgemm blocking measured 452 against SkylakeX's
    /// 373–417 GFLOP/s on a 2-core AMD EPYC with AVX-512); `nil` for a baseline CPU.
    public static func preferredCore(for cpu: CPUDescription) -> String? {
        switch cpu.vectorLevel {
        case .avx512: cpu.flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        case .avx2: cpu.isAMD ? "Zen" : "Haswell"
        case .avx: "Sandybridge"
        case .baseline: nil
        }
    }
}

/// Whether the BLAS runs the best kernels for the CPU, and what to do when it does not.
public enum BLASCoreCheck: Equatable, Sendable {
    /// The library's core uses the CPU's widest vectors (or one of the two is unknown: nothing to correct).
    case suitable
    /// Restart the process with `OPENBLAS_CORETYPE=core`; `note` says what and why, for the log.
    case switchCore(to: String, note: String)
    /// The library runs narrower kernels than the CPU has, and stays so: the user asked to keep
    /// `OPENBLAS_CORETYPE` (``keepVariable``), or a restart already happened and did not take; `note` says which.
    case leftAsSet(note: String)

    /// Set (to anything) to keep an `OPENBLAS_CORETYPE` narrower than the CPU: camwatch then only logs it.
    public static let keepVariable = "CAMWATCH_KEEP_OPENBLAS_CORETYPE"
    /// Set by a restart (to its log note), so the restarted process never restarts again.
    public static let restartVariable = "CAMWATCH_BLAS_NOTE"

    /// Compares `cpu` with the core the library picked, given the process environment.
    ///
    /// An `OPENBLAS_CORETYPE` that names narrower kernels than the CPU has is overridden too: machine images and
    /// job environments set it for other programs (this project's build machines set `Haswell` on AVX-512
    /// CPUs), and a user of camwatch should not have to know. ``keepVariable`` keeps it.
    public static func evaluate(cpu: CPUDescription?, libraryCore: String, environment: [String: String]) -> Self {
        guard let cpu, let libraryLevel = BLASCore.vectorLevel(ofCore: libraryCore),
            libraryLevel < cpu.vectorLevel, let preferred = BLASCore.preferredCore(for: cpu)
        else { return .suitable }
        let mismatch =
            "OpenBLAS runs its \(libraryCore) kernels (\(libraryLevel)) on \(cpu.model), which has \(cpu.vectorLevel)"
        if environment[restartVariable] != nil {
            return .leftAsSet(note: "\(mismatch), even after a restart with OPENBLAS_CORETYPE=\(preferred)")
        }
        guard let chosen = environment["OPENBLAS_CORETYPE"] else {
            return .switchCore(
                to: preferred,
                note: "\(mismatch) (the library does not know this CPU model): restarted with OPENBLAS_CORETYPE=\(preferred)")
        }
        if environment[keepVariable] != nil {
            return .leftAsSet(note: "\(mismatch); OPENBLAS_CORETYPE=\(chosen) is kept, as \(keepVariable) asks")
        }
        return .switchCore(
            to: preferred,
            note: "\(mismatch) (OPENBLAS_CORETYPE=\(chosen) is set): restarted with OPENBLAS_CORETYPE=\(preferred); "
                + "set \(keepVariable)=1 to keep the variable's choice")
    }
}
