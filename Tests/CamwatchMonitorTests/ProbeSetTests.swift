import CamwatchImage
import CamwatchMonitor
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct ProbeSetTests {
    static let sampleProbes = Fixtures.packageRoot.appendingPathComponent("Probes").path

    /// A probe directory with copies of the named sample probes and `manifest` (if any) as `manifestName`.
    func directory(_ files: [String], manifest: String? = nil, manifestName: String = "probes.json") throws -> String {
        let dir = try temporaryDirectory()
        for file in files {
            try FileManager.default.copyItem(atPath: "\(Self.sampleProbes)/\(file)", toPath: "\(dir)/\(file)")
        }
        if let manifest { try manifest.write(toFile: "\(dir)/\(manifestName)", atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func readsTheSampleManifest() throws {
        let set = try ProbeSet.load(directory: Self.sampleProbes)
        #expect(set.probes.count == 10)
        let first = try #require(set.probes.first)
        #expect(first.description.id == "probe-00-circle")
        #expect(first.description.classIndex == 0)
        #expect(first.description.label == "circle")
        #expect(first.description.bbox == [26, 27, 49, 49])
        #expect(first.image.width == 64 && first.image.height == 64)
        #expect(set.manifestPath?.hasSuffix("probes.json") == true)
    }

    @Test func yamlManifestWithPredictedClassAndDefaultID() throws {
        let dir = try directory(
            ["probe-00-circle.png", "probe-01-square.png"],
            manifest: """
                probes:
                  - {file: probe-01-square.png, class: predicted}
                  - {id: c, file: probe-00-circle.png, class: 0, bbox: [1, 2, 3, 4]}
                """, manifestName: "probes.yaml")
        defer { removeDirectory(dir) }
        let set = try ProbeSet.load(directory: dir)
        #expect(set.descriptions.map(\.id) == ["probe-01-square", "c"])
        #expect(set.descriptions.map(\.classIndex) == [nil, 0])
    }

    @Test func withoutManifestEveryPNGInNaturalOrder() throws {
        let dir = try directory([])
        defer { removeDirectory(dir) }
        for name in ["p10.png", "p2.png", "p1.png"] {
            try FileManager.default.copyItem(atPath: "\(Self.sampleProbes)/probe-00-circle.png", toPath: "\(dir)/\(name)")
        }
        try "not a probe".write(toFile: "\(dir)/notes.txt", atomically: true, encoding: .utf8)
        let set = try ProbeSet.load(directory: dir)
        #expect(set.descriptions.map(\.id) == ["p1", "p2", "p10"])
        #expect(set.descriptions.allSatisfy { $0.classIndex == nil })
    }

    @Test func errorsNameTheFileAndTheReason() throws {
        #expect(throws: MonitorError.self) { try ProbeSet.load(directory: "/nonexistent/probes") }
        do {
            _ = try ProbeSet.load(directory: "/nonexistent/probes")
        } catch {
            #expect(error.description == "/nonexistent/probes: probe directory does not exist")
        }
        let empty = try directory([])
        defer { removeDirectory(empty) }
        #expect(performing: { try ProbeSet.load(directory: empty) },
                throws: { ($0 as? MonitorError)?.reason.contains("no probe images") == true })

        let garbage = try directory([])
        defer { removeDirectory(garbage) }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(garbage)/bad.png"))
        #expect(performing: { try ProbeSet.load(directory: garbage) },
                throws: { "\($0)".hasPrefix("\(garbage)/bad.png: unreadable probe image") })

        let cases: [(String, String)] = [
            (#"[{"file": "probe-00-circle.png", "class": "dog"}]"#, "class must be an index or \"predicted\""),
            (#"[{"file": "probe-00-circle.png", "bbox": [5, 5, 1, 1]}]"#, "bbox must be"),
            (#"[{"file": "probe-00-circle.png"}, {"file": "probe-00-circle.png"}]"#, "appears twice"),
            (#"[{"id": "x"}]"#, "missing key 'file'"),
            (#"[{"file": "missing.png"}]"#, "unreadable probe image"),
        ]
        for (manifest, reason) in cases {
            try expectRefused(manifest, manifestName: "probes.json", reason: reason)
        }
    }

    /// Loading a probe directory with `manifest` fails with one line containing `reason`.
    func expectRefused(_ manifest: String, manifestName: String, reason: String) throws {
        let dir = try directory(["probe-00-circle.png"], manifest: manifest, manifestName: manifestName)
        defer { removeDirectory(dir) }
        do {
            _ = try ProbeSet.load(directory: dir)
            Issue.record("manifest \(manifest.prefix(80)) was accepted")
        } catch {
            #expect(error.description.contains(reason), "manifest \(manifest.prefix(80)): \(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    /// A manifest is untrusted text (docs/reliability.md): absurd boxes, counts and sizes are refused by name.
    @Test func absurdManifestsAreRefused() throws {
        let tooMany = "[" + (0...ProbeSet.maximumCount).map { #"{"id": "p\#($0)", "file": "probe-00-circle.png"}"# }
            .joined(separator: ", ") + "]"
        let cases: [(String, String)] = [
            // NaN and infinity cannot be written to report.json; 1e300 is no pixel.
            ("- {file: probe-00-circle.png, bbox: [.nan, 0, 4, 4]}", "bbox must be [x0, y0, x1, y1] with x0 < x1, y0 < y1, finite"),
            ("- {file: probe-00-circle.png, bbox: [-.inf, 0, 4, 4]}", "finite, within ±2^24"),
            ("- {file: probe-00-circle.png, bbox: [0, 0, 1e300, 4]}", "finite, within ±2^24"),
            ("- {file: probe-00-circle.png, class: 99999999999999999999}", "invalid probe manifest"),
            (tooMany, "1001 probes, more than the limit of 1000"),
        ]
        for (manifest, reason) in cases {
            try expectRefused(manifest, manifestName: "probes.yaml", reason: reason)
        }
    }

    /// Ten levels of YAML aliases (9^10 strings if expanded) as a probe's label: refused at the first type
    /// mismatch, before anything is expanded.
    @Test func aliasBombInAManifestIsRefusedBeforeExpansion() throws {
        var lines = ["- id: p0", "  file: probe-00-circle.png", "  x0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...10 {
            lines.append("  x\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]")
        }
        lines.append("  label: *l10")
        let dir = try directory(["probe-00-circle.png"], manifest: lines.joined(separator: "\n"), manifestName: "probes.yaml")
        defer { removeDirectory(dir) }
        let started = ContinuousClock.now
        #expect {
            try ProbeSet.load(directory: dir)
        } throws: { error in
            "\(error)".contains("probes.yaml") && !"\(error)".contains("\n")
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("one image named many times is refused once the decoded pixels pass the total limit")
    func totalPixelsAreBounded() throws {
        let manifest = "[" + (0..<20).map { #"{"id": "p\#($0)", "file": "probe-00-circle.png"}"# }.joined(separator: ", ") + "]"
        let dir = try directory(["probe-00-circle.png"], manifest: manifest)
        defer { removeDirectory(dir) }
        // 64×64 = 4096 pixels each: the 3rd copy passes a limit of 10000.
        let error = try #require(throws: MonitorError.self) { try ProbeSet.load(directory: dir, pixelLimit: 10_000) }
        #expect(error.description == "\(dir)/probe-00-circle.png: the probe images hold more than 10000 pixels together", "\(error)")
        #expect(try ProbeSet.load(directory: dir, pixelLimit: 20 * 4096).probes.count == 20)
        #expect(ProbeSet.maximumTotalPixels == 2 * PNGDecoder.maximumPixels)
    }

    @Test("a manifest entry outside the probe directory (../, an absolute path, a symbolic link leading out) is refused")
    func probesStayInsideTheProbeDirectory() throws {
        let outside = try directory(["probe-00-circle.png"])
        defer { removeDirectory(outside) }
        for file in ["../\(URL(fileURLWithPath: outside).lastPathComponent)/probe-00-circle.png", "\(outside)/probe-00-circle.png",
                     "sub/../../x.png"] {
            let dir = try directory([], manifest: #"[{"id": "p", "file": "\#(file)"}]"#)
            defer { removeDirectory(dir) }
            #expect {
                try ProbeSet.load(directory: dir)
            } throws: { error in
                let text = "\(error)"
                return text.hasPrefix("\(dir)/probes.json: probe 0 (\(file)): ") && text.contains("inside the probe directory")
            }
        }
        let linked = try directory(["probe-01-square.png"], manifest: #"[{"id": "p", "file": "link.png"}]"#)
        defer { removeDirectory(linked) }
        try FileManager.default.createSymbolicLink(atPath: "\(linked)/link.png", withDestinationPath: "\(outside)/probe-00-circle.png")
        #expect {
            try ProbeSet.load(directory: linked)
        } throws: { error in
            "\(error)".hasPrefix("\(linked)/probes.json: probe 'p' (link.png) is a symbolic link leading out")
        }
        // A link inside the directory is fine.
        try FileManager.default.removeItem(atPath: "\(linked)/link.png")
        try FileManager.default.createSymbolicLink(atPath: "\(linked)/link.png", withDestinationPath: "probe-01-square.png")
        #expect(try ProbeSet.load(directory: linked).probes.count == 1)
    }

    @Test("every probe's digest is the fingerprint of its file: equal files equal, another image another")
    func probesCarryTheirDigest() throws {
        let dir = try directory(
            ["probe-00-circle.png", "probe-01-square.png"],
            manifest: #"[{"id": "a", "file": "probe-00-circle.png"}, {"id": "b", "file": "probe-01-square.png"}, {"id": "c", "file": "probe-00-circle.png"}]"#)
        defer { removeDirectory(dir) }
        let digests = try ProbeSet.load(directory: dir).descriptions.map { $0.digest ?? "" }
        #expect(digests[0].count == 16 && digests[0] == digests[2] && digests[0] != digests[1], "\(digests)")
    }

    @Test("the total is taken from every header before any image is decoded")
    func totalPixelsBeforeDecoding() throws {
        // The 2nd image is cut off inside its pixel data (its header says 64×64), the 3rd passes the total:
        // the total speaks first, so nothing was decoded.
        let manifest = #"[{"file": "a.png"}, {"file": "cut.png"}, {"file": "c.png"}]"#
        let dir = try directory([], manifest: manifest)
        defer { removeDirectory(dir) }
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(Self.sampleProbes)/probe-00-circle.png"))
        try png.write(to: URL(fileURLWithPath: "\(dir)/a.png"))
        try png.prefix(png.count - 30).write(to: URL(fileURLWithPath: "\(dir)/cut.png"))  // cut inside IDAT
        try png.write(to: URL(fileURLWithPath: "\(dir)/c.png"))
        let error = try #require(throws: MonitorError.self) { try ProbeSet.load(directory: dir, pixelLimit: 2 * 4096) }
        #expect(error.description == "\(dir)/c.png: the probe images hold more than 8192 pixels together", "\(error)")
        let cut = try #require(throws: MonitorError.self) { try ProbeSet.load(directory: dir, pixelLimit: 3 * 4096) }
        #expect(cut.description.hasPrefix("\(dir)/cut.png: unreadable probe image: "), "\(cut)")
    }

    @Test("a probe larger than the bound is kept reduced; its bbox stays in the file's pixels")
    func largeProbeIsKeptReduced() throws {
        let (width, height) = (2100, 1400)
        let bytes = (0..<(width * height * 3)).map { UInt8($0 % 251) }
        let dir = try directory([], manifest: #"[{"id": "big", "file": "big.png", "bbox": [0, 0, 1050, 700]}]"#)
        defer { removeDirectory(dir) }
        try PNGEncoder.writeRGB8(path: "\(dir)/big.png", width: width, height: height, pixels: bytes)
        let probe = try #require(try ProbeSet.load(directory: dir).probes.first)
        // Factor 3 brings 2100 within 1024: 700×467, about 1/9 of the pixels, never the full image.
        #expect(probe.image.width == 700 && probe.image.height == 467)
        #expect(max(probe.image.width, probe.image.height) <= ProbeSet.maximumSide)
        #expect(probe.fileWidth == width && probe.fileHeight == height)
        #expect(probe.description.bbox == [0, 0, 1050, 700])
    }
}
