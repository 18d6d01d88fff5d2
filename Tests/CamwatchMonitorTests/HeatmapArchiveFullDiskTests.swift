import CamwatchCheckpoint
import CamwatchMonitor
import CamwatchTestSupport
import Foundation
import Glibc
import Testing

/// `heatmaps.h5` on a disk that fills up, and frees space again: the save fails with one error, a later save
/// succeeds, and the process still exits cleanly. libhdf5 1.10 leaves a file whose `H5Fclose` failed (its
/// buffered metadata could not be written) registered with freed internals, and its exit handler then
/// dereferenced them ("Bad pointer dereference", exit status 139). Each test runs in a child process (an exit
/// test): the crash happens at exit, and the file-size limit must not reach the test runner.
@Suite struct HeatmapArchiveFullDiskTests {
    /// An archive of `count` checkpoints with two 16×16 heatmaps each: about 2 KiB of floats per checkpoint.
    static func archive(count: Int) -> HeatmapArchive {
        var archive = HeatmapArchive()
        for index in 0..<count {
            let values = (0..<256).map { Float(($0 * 7 + index) % 256) / 255 }
            let heatmap = HeatmapArchive.Heatmap(
                classIndex: index % 5, score: Float(index), shape: [16, 16], values: values, inputSize: [64, 64])
            archive.record(
                HeatmapArchive.Entry(
                    checkpoint: CheckpointLabel(id: "id-\(index)", name: "epoch-\(index).h5"),
                    heatmaps: ["a": heatmap, "b": heatmap]))
        }
        return archive
    }

    /// Saves a small archive, then a large one that cannot be written (`fill` makes writes fail), then, after
    /// `free`, the large one again; returns normally only when each step did what it should.
    static func fillAndRecover(directory: String, fill: () -> Void, free: () -> Void) throws {
        let small = archive(count: 2)
        try small.save(directory: directory)
        let large = archive(count: 40)
        fill()
        let failure = try #require(throws: MonitorError.self) { try large.save(directory: directory) }
        #expect(failure.kind == .io, "\(failure)")
        // The failed save left the published file as it was, and no temporary file.
        #expect(try HeatmapArchive.load(directory: directory) == small)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["heatmaps.h5"])
        free()
        try large.save(directory: directory)
        #expect(try HeatmapArchive.load(directory: directory) == large)
    }

    @Test("files may not grow past 16 KiB (RLIMIT_FSIZE): the save fails, a later one succeeds, exit is clean")
    func fileSizeLimit() async {
        await #expect(processExitsWith: .success) {
            let directory = try Fixtures.temporaryDirectory("camwatch-fsize-archive").path
            // With SIGXFSZ ignored, a write past the limit fails with EFBIG, as a full disk fails with ENOSPC.
            signal(SIGXFSZ, SIG_IGN)
            var original = rlimit()
            getrlimit(Int32(RLIMIT_FSIZE.rawValue), &original)
            func limit(_ bytes: rlim_t) {
                var value = rlimit(rlim_cur: bytes, rlim_max: original.rlim_max)
                setrlimit(Int32(RLIMIT_FSIZE.rawValue), &value)
            }
            try HeatmapArchiveFullDiskTests.fillAndRecover(directory: directory, fill: { limit(16 << 10) }, free: { limit(original.rlim_cur) })
            try? FileManager.default.removeItem(atPath: directory)
            // Exit handlers run here: libhdf5's used to crash on the file it failed to close.
            exit(0)
        }
    }

    @Test(
        "a 256 KiB tmpfs filled up, then freed: the save fails, a later one succeeds, exit is clean",
        .enabled(if: TinyFileSystem.canMount, "needs root and permission to mount a tmpfs"))
    func fullTmpfs() async {
        await #expect(processExitsWith: .success) {
            let mount = try #require(TinyFileSystem(kilobytes: 256))
            defer { mount.unmount() }
            let filler = mount.path + "/filler"
            try HeatmapArchiveFullDiskTests.fillAndRecover(
                directory: mount.path + "/out", fill: { mount.fill(filler, leavingKilobytes: 24) },
                free: { try? FileManager.default.removeItem(atPath: filler) })
            mount.unmount()
            exit(0)
        }
    }
}

/// A tmpfs of a few hundred KiB mounted on a temporary directory: a disk that really fills up (root only).
struct TinyFileSystem {
    let path: String

    /// Whether this process may mount one (root in a namespace that allows `mount`).
    static let canMount: Bool = {
        guard geteuid() == 0, let probe = TinyFileSystem(kilobytes: 64) else { return false }
        probe.unmount()
        return true
    }()

    init?(kilobytes: Int) {
        guard let directory = try? Fixtures.temporaryDirectory("camwatch-tmpfs").path else { return nil }
        let mounted = "size=\(kilobytes)k".withCString { options in mount("tmpfs", directory, "tmpfs", 0, options) }
        guard mounted == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            return nil
        }
        try? FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: false)
        path = directory
    }

    /// Writes `file` until the file system has about `leavingKilobytes` left.
    func fill(_ file: String, leavingKilobytes: Int) {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return }
        let free = Int(status.f_bavail) * Int(status.f_frsize) - leavingKilobytes << 10
        _ = FileManager.default.createFile(atPath: file, contents: Data(count: max(0, free)))
    }

    func unmount() {
        umount2(path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: path)
    }
}
