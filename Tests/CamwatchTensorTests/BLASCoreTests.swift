import CamwatchTensor
import Testing

/// The start-up check that makes OpenBLAS run the kernels for the CPU's widest vectors.
@Suite struct BLASCoreTests {
    /// `/proc/cpuinfo` as two machines of this project's kind print it (flags abridged to what matters, plus
    /// neighbours that must not confuse the parser), and one pre-AVX CPU.
    static let xeon = """
        processor\t: 0
        vendor_id\t: GenuineIntel
        cpu family\t: 6
        model\t\t: 207
        model name\t: Intel(R) Xeon(R) Processor
        flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 amx_tile

        processor\t: 1
        vendor_id\t: GenuineIntel
        model name\t: a second processor that must not be read
        flags\t\t: fpu sse

        """
    static let zen3 = """
        processor\t: 0
        vendor_id\t: AuthenticAMD
        model name\t: AMD EPYC 7763 64-Core Processor
        flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni
        """
    static let core2 = """
        vendor_id\t: GenuineIntel
        model name\t: Intel(R) Core(TM)2 Duo CPU
        flags\t\t: fpu sse sse2 ssse3 sse4_1
        """

    @Test func cpuinfoGivesModelVendorAndVectorLevel() throws {
        let xeon = try #require(CPUDescription(cpuinfo: Self.xeon))
        #expect(xeon.model == "Intel(R) Xeon(R) Processor" && xeon.vendor == "GenuineIntel")
        #expect(xeon.vectorLevel == .avx512)
        let zen3 = try #require(CPUDescription(cpuinfo: Self.zen3))
        #expect(zen3.vectorLevel == .avx2 && zen3.isAMD)
        #expect(CPUDescription(cpuinfo: Self.core2)?.vectorLevel == .baseline)
        #expect(CPUDescription(cpuinfo: "processor : 0\nBogoMIPS : 50\n") == nil, "no flags line: not x86")
        // AVX-512 needs all five subsets OpenBLAS's SkylakeX kernels use; AVX2 needs FMA beside it.
        var partial = xeon
        partial.flags.remove("avx512vl")
        #expect(partial.vectorLevel == .avx2)
        partial.flags.remove("fma")
        #expect(partial.vectorLevel == .avx)
    }

    @Test func preferredCoreFollowsVectorsAndVendor() throws {
        let xeon = try #require(CPUDescription(cpuinfo: Self.xeon))
        #expect(BLASCore.preferredCore(for: xeon) == "Cooperlake")
        #expect(BLASCore.preferredCore(for: CPUDescription(model: xeon.model, vendor: xeon.vendor,
                                                           flags: xeon.flags.subtracting(["avx512_bf16"]))) == "SkylakeX")
        #expect(BLASCore.preferredCore(for: try #require(CPUDescription(cpuinfo: Self.zen3))) == "Zen")
        var intelAVX2 = try #require(CPUDescription(cpuinfo: Self.zen3))
        intelAVX2.vendor = "GenuineIntel"
        #expect(BLASCore.preferredCore(for: intelAVX2) == "Haswell")
        #expect(BLASCore.preferredCore(for: try #require(CPUDescription(cpuinfo: Self.core2))) == nil)
        #expect(BLASCore.vectorLevel(ofCore: "Prescott") == .baseline)
        #expect(BLASCore.vectorLevel(ofCore: "ZEN") == .avx2)
        #expect(BLASCore.vectorLevel(ofCore: "Cooperlake") == .avx512)
        #expect(BLASCore.vectorLevel(ofCore: "SomeFutureCore") == nil)
    }

    @Test func checkRestartsWhenTheLibraryLagsUnlessAskedToKeepIt() throws {
        let xeon = try #require(CPUDescription(cpuinfo: Self.xeon))
        let zen3 = try #require(CPUDescription(cpuinfo: Self.zen3))
        guard case .switchCore(let core, let note) = BLASCoreCheck.evaluate(
            cpu: xeon, libraryCore: "Prescott", environment: [:])
        else {
            Issue.record("Prescott on an AVX-512 Xeon must be switched")
            return
        }
        #expect(core == "Cooperlake")
        #expect(
            note == "OpenBLAS runs its Prescott kernels (SSE3) on Intel(R) Xeon(R) Processor, which has AVX-512 "
                + "(the library does not know this CPU model): restarted with OPENBLAS_CORETYPE=Cooperlake")
        #expect(
            BLASCoreCheck.evaluate(cpu: zen3, libraryCore: "Prescott", environment: [:])
                == .switchCore(
                    to: "Zen",
                    note: "OpenBLAS runs its Prescott kernels (SSE3) on AMD EPYC 7763 64-Core Processor, which has "
                        + "AVX2+FMA (the library does not know this CPU model): restarted with OPENBLAS_CORETYPE=Zen"))
        // Already right, wider than needed, unknown to the table, or no CPU information: nothing to do.
        #expect(BLASCoreCheck.evaluate(cpu: xeon, libraryCore: "SkylakeX", environment: [:]) == .suitable)
        #expect(BLASCoreCheck.evaluate(cpu: zen3, libraryCore: "Zen", environment: [:]) == .suitable)
        #expect(BLASCoreCheck.evaluate(cpu: zen3, libraryCore: "Haswell", environment: [:]) == .suitable)
        #expect(BLASCoreCheck.evaluate(cpu: xeon, libraryCore: "SomeFutureCore", environment: [:]) == .suitable)
        #expect(BLASCoreCheck.evaluate(cpu: nil, libraryCore: "Prescott", environment: [:]) == .suitable)
        // Haswell kernels on an AVX-512 CPU lag too.
        #expect(
            BLASCoreCheck.evaluate(cpu: xeon, libraryCore: "Haswell", environment: [:]).switchedCore == "Cooperlake")
        // An OPENBLAS_CORETYPE set for other programs is overridden too, unless the user asks to keep it.
        #expect(
            BLASCoreCheck.evaluate(cpu: xeon, libraryCore: "Haswell", environment: ["OPENBLAS_CORETYPE": "Haswell"])
                == .switchCore(
                    to: "Cooperlake",
                    note: "OpenBLAS runs its Haswell kernels (AVX2+FMA) on Intel(R) Xeon(R) Processor, which has AVX-512 "
                        + "(OPENBLAS_CORETYPE=Haswell is set): restarted with OPENBLAS_CORETYPE=Cooperlake; set "
                        + "CAMWATCH_KEEP_OPENBLAS_CORETYPE=1 to keep the variable's choice"))
        #expect(
            BLASCoreCheck.evaluate(
                cpu: xeon, libraryCore: "Prescott",
                environment: ["OPENBLAS_CORETYPE": "Prescott", "CAMWATCH_KEEP_OPENBLAS_CORETYPE": "1"])
                == .leftAsSet(
                    note: "OpenBLAS runs its Prescott kernels (SSE3) on Intel(R) Xeon(R) Processor, which has AVX-512; "
                        + "OPENBLAS_CORETYPE=Prescott is kept, as CAMWATCH_KEEP_OPENBLAS_CORETYPE asks"))
        // A restarted process whose library still lags never restarts again.
        #expect(
            BLASCoreCheck.evaluate(
                cpu: xeon, libraryCore: "Prescott",
                environment: ["OPENBLAS_CORETYPE": "Cooperlake", "CAMWATCH_BLAS_NOTE": "restarted"])
                == .leftAsSet(
                    note: "OpenBLAS runs its Prescott kernels (SSE3) on Intel(R) Xeon(R) Processor, which has AVX-512, "
                        + "even after a restart with OPENBLAS_CORETYPE=Cooperlake"))
    }
}

extension BLASCoreCheck {
    fileprivate var switchedCore: String? {
        if case .switchCore(let core, _) = self { return core }
        return nil
    }
}
