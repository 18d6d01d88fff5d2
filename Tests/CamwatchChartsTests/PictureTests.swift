import CamwatchImage
import CamwatchMonitor
import CamwatchTestSupport
import Foundation
import Testing

@testable import CamwatchCharts

@Suite struct PictureTests {
    @Test func chartsWriteDecodablePNGsOfTheirSize() throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-charts")
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = ChartFixtures.report(probes: 3, processed: 5, failedAfter: [2])
        let archive = ChartFixtures.archive(for: report)
        let images = ChartFixtures.probeImages(for: report)

        let timelinePath = directory.appendingPathComponent("timeline.png").path
        try TimelineChart.write(report: report, archive: archive, probeImages: images, to: timelinePath)
        let timeline = try TimelineChart.render(report: report, archive: archive, probeImages: images)
        let decodedTimeline = try PNGDecoder.decode(path: timelinePath)
        #expect(decodedTimeline.width == timeline.width && decodedTimeline.height == timeline.height)
        let expected = (0..<(timeline.width * timeline.height)).flatMap { p in
            timeline.rgba[(p * 4)..<(p * 4 + 3)].map(Float.init)
        }
        #expect(decodedTimeline.pixels == expected)

        let driftPath = directory.appendingPathComponent("drift.png").path
        try DriftChart.write(report: report, to: driftPath, options: .init(width: 700, height: 300))
        let decodedDrift = try PNGDecoder.decode(path: driftPath)
        #expect(decodedDrift.width == 700 && decodedDrift.height == 300)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == [
                "drift.png", "timeline.png",
            ])
    }

    @Test func picturesAreOpaqueAndLight() throws {
        let picture = try DriftChart.render(report: ChartFixtures.report(probes: 2, processed: 4))
        #expect(stride(from: 3, to: picture.rgba.count, by: 4).allSatisfy { picture.rgba[$0] == 255 })
        #expect(picture.rgb(x: 2, y: 2) == [255, 255, 255])
    }

    @Test func anUnwritablePathIsAnErrorNamingIt() throws {
        let report = ChartFixtures.report(probes: 1, processed: 2)
        let error = try #require(throws: ChartError.self) {
            try DriftChart.write(report: report, to: "/nonexistent-dir/drift.png")
        }
        #expect(error.path == "/nonexistent-dir/drift.png")
        #expect(error.description.hasPrefix("/nonexistent-dir/drift.png: cannot create file"))
        #expect(!error.description.contains("\n"))
    }
}
