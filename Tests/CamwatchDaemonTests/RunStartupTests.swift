@testable import CamwatchDaemon
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct RunStartupTests {
    @Test("start-up copies are one directory per check, and a dead process's are removed in either form of the name")
    func startupStagingOfDeadProcessesIsRemoved() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let root = try Fixtures.temporaryDirectory("camwatch-startup-checks")
        defer { try? FileManager.default.removeItem(at: root) }
        let prefix = StartupCheck.stagingPrefix
        let dead = ["\(prefix)\(child.processIdentifier)", "\(prefix)\(child.processIdentifier)-3"]
        // A live process's, and names that only start with the prefix (a test's directory with a UUID).
        let kept = [
            "\(prefix)\(getpid())-1", "\(prefix)\(child.processIdentifier)x", "\(prefix)-1",
            "\(prefix)\(child.processIdentifier)-FACD-48DF", "\(prefix)\(child.processIdentifier)-",
        ]
        for name in dead + kept {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        let out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let removed = RunStartup.removeLeftovers(out: out.path, textfiles: nil, temporary: root.path)
        #expect(Set(removed) == Set(dead))
        for name in kept { #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path)) }
        #expect(StartupCheck.stagingProcess("\(prefix)12-4") == 12)
        #expect(StartupCheck.stagingProcess("\(prefix)12") == 12)
        #expect(StartupCheck.stagingProcess("\(prefix)89487020-FACD-48DF-ADF8-9687EB0C6EE5") == nil)
        #expect(StartupCheck.stagingProcess("other-12") == nil)
    }
}
