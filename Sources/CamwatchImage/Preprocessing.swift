public import CamwatchTensor

/// How images become the network's input tensor: size, scale, channel order, normalization.
///
/// The defaults are torchvision's ImageNet preprocessing: 224×224, `x / 255`, RGB, mean
/// (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
public struct Preprocessing: Sendable, Codable, Equatable {
    /// The order of colour channels in the tensor.
    public enum ChannelOrder: String, Sendable, Codable, CaseIterable {
        /// Red, green, blue (PyTorch, Keras).
        case rgb
        /// Blue, green, red (Caffe-style and OpenCV-trained models).
        case bgr
    }

    /// Input height in pixels.
    public var height: Int
    /// Input width in pixels.
    public var width: Int
    /// Per-channel mean, subtracted after scaling, listed in tensor channel order (3 values).
    public var mean: [Float]
    /// Per-channel standard deviation, divided by last, in tensor channel order (3 values, none 0).
    public var std: [Float]
    /// Factor applied to 0…255 pixel values first (1/255 gives [0, 1]; 1 keeps 0…255).
    public var scale: Float
    /// The order of colour channels in the tensor.
    public var channelOrder: ChannelOrder

    /// The input height and width when nothing says otherwise: torchvision's ImageNet size.
    public static let defaultInputSize = 224
    /// ImageNet's per-channel mean (RGB), as torchvision's models were trained with.
    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    /// ImageNet's per-channel standard deviation (RGB).
    public static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    /// Creates a preprocessing; the defaults are ImageNet's.
    public init(
        height: Int = defaultInputSize, width: Int = defaultInputSize, mean: [Float] = imageNetMean,
        std: [Float] = imageNetStd, scale: Float = 1.0 / 255.0, channelOrder: ChannelOrder = .rgb
    ) {
        self.height = height
        self.width = width
        self.mean = mean
        self.std = std
        self.scale = scale
        self.channelOrder = channelOrder
    }

    /// Why these settings cannot be used, or `nil` when they can.
    public var problem: String? {
        if height < 1 || width < 1 { return "input size must be positive, got \(height)x\(width)" }
        if mean.count != 3 { return "mean needs 3 values, got \(mean.count)" }
        if std.count != 3 { return "std needs 3 values, got \(std.count)" }
        if !std.allSatisfy({ $0 != 0 && $0.isFinite }) { return "std values must be finite and non-zero, got \(std)" }
        if !mean.allSatisfy(\.isFinite) { return "mean values must be finite, got \(mean)" }
        if !scale.isFinite || scale == 0 { return "scale must be finite and non-zero, got \(scale)" }
        return nil
    }

    /// The network input for a batch of images.
    ///
    /// Per image, in this order: (1) interleaved RGB → planar channels in `channelOrder`; (2) multiply by
    /// `scale`; (3) if the image is not `height`×`width`, resize with bilinear interpolation and half-pixel
    /// centres (PyTorch `F.interpolate(mode="bilinear", align_corners=False)`, no antialiasing, so strong
    /// downscaling differs from PIL's resize); (4) `(x − mean[c]) / std[c]`. Steps 2 and 3 commute, so this
    /// equals the usual resize → ToTensor → Normalize up to float rounding.
    /// - Parameter images: any sizes; they need not match each other.
    /// - Returns: `[N, 3, height, width]`.
    public func tensor(from images: [RGBImage]) -> Tensor {
        precondition(problem == nil, "invalid preprocessing: \(problem ?? "")")
        let plane = height * width
        var out = [Float](repeating: 0, count: images.count * 3 * plane)
        let sources = channelOrder == .rgb ? [0, 1, 2] : [2, 1, 0]
        for (n, image) in images.enumerated() {
            let pixelCount = image.width * image.height
            var planar = [Float](repeating: 0, count: 3 * pixelCount)
            for c in 0..<3 {
                let source = sources[c]
                for p in 0..<pixelCount { planar[c * pixelCount + p] = image.pixels[p * 3 + source] * scale }
            }
            if image.height != height || image.width != width {
                precondition(pixelCount > 0, "cannot resize an empty image")
                let input = Tensor(shape: [1, 3, image.height, image.width], scalars: planar)
                planar = Resize.bilinear(input, height: height, width: width, alignCorners: false).scalars
            }
            for c in 0..<3 {
                let offset = (n * 3 + c) * plane
                let m = mean[c]
                let s = std[c]
                for p in 0..<plane { out[offset + p] = (planar[c * plane + p] - m) / s }
            }
        }
        return Tensor(shape: [images.count, 3, height, width], scalars: out)
    }

    enum CodingKeys: String, CodingKey {
        case height, width, mean, std, scale
        case channelOrder = "channel_order"
    }

    /// Decodes settings, any of which may be missing (the default is used), and rejects unusable ones.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Preprocessing()
        height = try container.decodeIfPresent(Int.self, forKey: .height) ?? defaults.height
        width = try container.decodeIfPresent(Int.self, forKey: .width) ?? defaults.width
        mean = try container.decodeIfPresent([Float].self, forKey: .mean) ?? defaults.mean
        std = try container.decodeIfPresent([Float].self, forKey: .std) ?? defaults.std
        scale = try container.decodeIfPresent(Float.self, forKey: .scale) ?? defaults.scale
        channelOrder = try container.decodeIfPresent(ChannelOrder.self, forKey: .channelOrder) ?? defaults.channelOrder
        if let problem {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "preprocessing: \(problem)"))
        }
    }
}
