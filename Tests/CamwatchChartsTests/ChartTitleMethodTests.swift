@testable import CamwatchCharts
import CamwatchMonitor
import Testing

/// The timeline's title names the CAM method; reports from before methods could be chosen read Score-CAM.
@Suite struct ChartTitleMethodTests {
    @Test func titleNamesTheMethod() {
        #expect(ChartText.model(Report.Model(arch: "resnet18", layer: "layer4", inputSize: [224, 224], method: "gradcam++"))
            == "resnet18, layer layer4, Grad-CAM++")
        #expect(ChartText.model(Report.Model(arch: nil, layer: "layer4", inputSize: [224, 224])) == "layer layer4, Score-CAM")
    }
}
