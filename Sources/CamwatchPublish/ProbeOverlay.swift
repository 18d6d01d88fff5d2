public import CamwatchImage
public import CamwatchMonitor
import CamwatchNN
import CamwatchTensor

/// A probe's heatmap drawn over the probe as the network saw it: the picture TensorBoard and the HTML page
/// show for a probe at a checkpoint.
///
/// The probe image is resized to the heatmap's input size (bilinear, half-pixel centres: the network's own
/// preprocessing), and the heatmap, upsampled to that size as Score-CAM's last step does, is blended over it
/// (`HeatmapOverlay`, the same blend as `camwatch explain`). Sizes stay bounded by the network's input size
/// however large the probe photographs are. Without a probe image (`camwatch report` run without `--probes`)
/// the heatmap is drawn over mid grey.
public struct ProbeOverlay: Sendable, Equatable {
    public var colormap: Colormap
    /// The heatmap's weight over the image, in [0, 1].
    public var alpha: Float

    public init(colormap: Colormap = HeatmapOverlay.defaultColormap, alpha: Float = HeatmapOverlay.defaultAlpha) {
        self.colormap = colormap
        self.alpha = alpha.isNaN ? HeatmapOverlay.defaultAlpha : min(max(alpha, 0), 1)
    }

    /// An overlay in pixels.
    public struct Pixels: Sendable, Equatable {
        public var width: Int
        public var height: Int
        /// `[height, width, 4]` RGBA bytes, alpha 255.
        public var rgba: [UInt8]
    }

    /// Draws `heatmap` over `image`; `nil` when the stored heatmap is unusable (its values do not fill its
    /// shape, or its input size is empty or absurd).
    public func render(_ heatmap: HeatmapArchive.Heatmap, over image: RGBImage?) -> Pixels? {
        let shape = heatmap.shape, input = heatmap.inputSize
        guard shape.count == 2, shape.allSatisfy({ $0 > 0 }), shape[0] * shape[1] == heatmap.values.count,
            input.count == 2, input.allSatisfy({ $0 > 0 && $0 <= ModelLimits.extent })
        else { return nil }
        let height = input[0], width = input[1]
        let values = heatmap.upsampled()
        guard values.count == height * width else { return nil }
        let background = Self.resized(image, height: height, width: width)
        let rgba = HeatmapOverlay.render(
            heatmap: values, width: width, height: height, over: background, colormap: colormap, alpha: alpha)
        return Pixels(width: width, height: height, rgba: rgba)
    }

    /// The overlay as PNG bytes; `nil` when the heatmap is unusable.
    /// - Throws: `PublishError` when libpng fails.
    public func png(_ heatmap: HeatmapArchive.Heatmap, over image: RGBImage?, name: String) throws(PublishError) -> [UInt8]? {
        guard let pixels = render(heatmap, over: image) else { return nil }
        do { return try PNGEncoder.encodeRGBA8(width: pixels.width, height: pixels.height, pixels: pixels.rgba) } catch {
            throw PublishError(path: name, reason: error.reason)
        }
    }

    /// `image` at `height × width` (bilinear, half-pixel centres), or mid grey without a usable image.
    static func resized(_ image: RGBImage?, height: Int, width: Int) -> RGBImage {
        guard let image, image.width > 0, image.height > 0, image.pixels.count == image.width * image.height * 3 else {
            return RGBImage(width: width, height: height, pixels: [Float](repeating: 128, count: width * height * 3))
        }
        if image.width == width && image.height == height { return image }
        let count = image.width * image.height
        var planar = [Float](repeating: 0, count: 3 * count)
        for p in 0..<count { for c in 0..<3 { planar[c * count + p] = image.pixels[p * 3 + c] } }
        let resized = Resize.bilinear(
            Tensor(shape: [1, 3, image.height, image.width], scalars: planar), height: height, width: width,
            alignCorners: false
        ).scalars
        let plane = height * width
        var pixels = [Float](repeating: 0, count: 3 * plane)
        for p in 0..<plane { for c in 0..<3 { pixels[p * 3 + c] = resized[c * plane + p] } }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
