import CamwatchImage
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// `Preprocessing.tensor(from:)` against PyTorch (scale, `F.interpolate` bilinear, normalize).
@Suite struct PreprocessingTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            var height: Int
            var width: Int
            var channel_order: String
            var values: [Float]
        }
        var image: String
        var cases: [Case]
    }

    @Test func matchesPyTorch() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/preprocessing.json")))
        let reference = try JSONDecoder().decode(Reference.self, from: data)
        let image = try PNGDecoder.decode(path: Fixtures.path("images/\(reference.image)"))
        #expect(reference.cases.count == 4)
        for c in reference.cases {
            let order = try #require(Preprocessing.ChannelOrder(rawValue: c.channel_order))
            let preprocessing = Preprocessing(height: c.height, width: c.width, channelOrder: order)
            let tensor = preprocessing.tensor(from: [image])
            #expect(tensor.shape == [1, 3, c.height, c.width])
            #expect(maxAbsoluteDifference(tensor.scalars, c.values) <= 1e-5, "\(c.height)x\(c.width) \(order)")
        }
    }

    @Test func batchesImagesOfDifferentSizes() throws {
        let small = try PNGDecoder.decode(path: Fixtures.path("images/rgb8.png"))
        let other = try PNGDecoder.decode(path: Fixtures.path("images/pil_rgb.png"))
        let preprocessing = Preprocessing(height: 6, width: 6)
        let batch = preprocessing.tensor(from: [small, other])
        #expect(batch.shape == [2, 3, 6, 6])
        #expect(batch.batchItem(0) == preprocessing.tensor(from: [small]))
        #expect(batch.batchItem(1) == preprocessing.tensor(from: [other]))
        #expect(preprocessing.tensor(from: []).shape == [0, 3, 6, 6])
    }

    @Test func scaleMeanAndStdApplyPerChannel() {
        let image = RGBImage(width: 1, height: 1, pixels: [255, 0, 51])
        let caffe = Preprocessing(height: 1, width: 1, mean: [1, 2, 3], std: [2, 4, 8], scale: 1, channelOrder: .bgr)
        let expected: [Float] = [50 / 2, -2 / 4, 252 / 8]  // BGR: (51 − 1) / 2, (0 − 2) / 4, (255 − 3) / 8
        #expect(caffe.tensor(from: [image]).scalars == expected)
        let imagenet = Preprocessing(height: 1, width: 1)
        let x = imagenet.tensor(from: [image]).scalars
        #expect(abs(x[0] - (1 - 0.485) / 0.229) < 1e-6)
        #expect(abs(x[1] - (0 - 0.456) / 0.224) < 1e-6)
    }

    @Test func decodesPartialSettingsAndRejectsBadOnes() throws {
        let decoded = try JSONDecoder().decode(
            Preprocessing.self, from: Data(#"{"height": 32, "channel_order": "bgr"}"#.utf8))
        #expect(decoded == Preprocessing(height: 32, width: 224, channelOrder: .bgr))
        let encoded = try JSONEncoder().encode(decoded)
        #expect(try JSONDecoder().decode(Preprocessing.self, from: encoded) == decoded)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Preprocessing.self, from: Data(#"{"std": [1, 0, 1]}"#.utf8))
        }
        #expect(Preprocessing(mean: [0.5]).problem == "mean needs 3 values, got 1")
        #expect(Preprocessing().problem == nil)
    }
}
