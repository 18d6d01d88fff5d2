internal import CVectorKernels
import Foundation

/// Which build of the vector kernels (the C target `CVectorKernels`, compiled once per instruction set) runs.
///
/// One binary serves every x86-64 CPU: the level is chosen at run time from the features the kernel enabled
/// (`/proc/cpuinfo`), the way PyTorch dispatches its own kernels. The transforms compute bit-identical results
/// at every level (same operations in the same order per lane, no contraction into FMA); the Winograd products
/// differ by rounding (FMA kernels on AVX2 and AVX-512, sgemm on SSE). The choice changes speed only.
public enum KernelLevel: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// 4 lanes: every x86-64 CPU.
    case sse
    /// 8 lanes, with FMA (Intel Haswell and later, AMD Zen).
    case avx2
    /// 16 lanes, with FMA (AVX-512 F/CD/BW/DQ/VL: Skylake-SP and later Xeons, AMD Zen 4 and later).
    case avx512

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .sse: "SSE (4 lanes)"
        case .avx2: "AVX2 (8 lanes)"
        case .avx512: "AVX-512 (16 lanes)"
        }
    }

    /// The name ``overrideVariable`` takes.
    public var name: String {
        switch self {
        case .sse: "sse"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }

    /// The widest level `cpu` runs (SSE where the CPU is unknown or not x86-64).
    public init(for cpu: CPUDescription?) {
        #if arch(x86_64)
            switch cpu?.vectorLevel {
            case .avx512: self = .avx512
            case .avx2: self = .avx2
            default: self = .sse
            }
        #else
            self = .sse
        #endif
    }

    /// The environment variable that narrows the level for a measurement (`sse`, `avx2`, `avx512`); a level
    /// wider than the CPU has is never taken.
    public static let overrideVariable = "CAMWATCH_VECTOR_KERNELS"

    /// What this process runs: the CPU's widest level, or a narrower one named by ``overrideVariable``.
    public static let best: KernelLevel = {
        let widest = KernelLevel(for: .current())
        guard let name = ProcessInfo.processInfo.environment[overrideVariable],
            let asked = KernelLevel.allCases.first(where: { $0.name == name.lowercased() })
        else { return widest }
        return min(asked, widest)
    }()

    /// Float lanes per vector (4, 8, 16).
    public var lanes: Int { cw_kernel_lanes(c) }

    var c: CWKernelLevel {
        switch self {
        case .sse: CWKernelLevelSSE
        case .avx2: CWKernelLevelAVX2
        case .avx512: CWKernelLevelAVX512
        }
    }
}
