import CamwatchTensor

/// Draws a heatmap over an image, as Score-CAM figures show it.
public enum HeatmapOverlay {
    /// The colormap every picture of camwatch uses unless told otherwise (`timeline.colormap`, `--colormap`).
    public static let defaultColormap = Colormap.jet
    /// The heatmap's weight unless told otherwise (`timeline.alpha`, `--alpha`): pytorch-grad-cam's
    /// `show_cam_on_image` default (`image_weight = 0.5`).
    public static let defaultAlpha: Float = 0.5

    /// Colours `heatmap` with `colormap` and blends it over `image`.
    ///
    /// - Parameters:
    ///   - heatmap: `[height, width]` values in [0, 1], row-major. When its size differs from the image's it is
    ///     resized with bilinear interpolation (half-pixel centres, as `cv2.resize`).
    ///   - width: the heatmap's width.
    ///   - height: the heatmap's height.
    ///   - image: the picture underneath.
    ///   - colormap: how values become colours.
    ///   - alpha: the heatmap's weight in [0, 1]; each channel is `alpha · colour + (1 − alpha) · pixel`,
    ///     rounded (pytorch-grad-cam's `show_cam_on_image` with `image_weight = 1 − alpha`).
    /// - Returns: `[image.height, image.width, 4]` RGBA bytes, alpha 255.
    public static func render(
        heatmap: [Float], width: Int, height: Int, over image: RGBImage, colormap: Colormap, alpha: Float = defaultAlpha
    ) -> [UInt8] {
        precondition(width > 0 && height > 0 && heatmap.count == width * height, "heatmap is not \(height)x\(width)")
        precondition(alpha >= 0 && alpha <= 1, "alpha \(alpha) is outside [0, 1]")
        var values = heatmap
        if width != image.width || height != image.height, image.width > 0, image.height > 0 {
            let map = Tensor(shape: [height, width], scalars: heatmap)
            values = Resize.bilinear(map, height: image.height, width: image.width, alignCorners: false).scalars
        }
        let colors = colormap.apply(values)
        let pixelCount = image.width * image.height
        var out = [UInt8](repeating: 255, count: pixelCount * 4)
        for p in 0..<pixelCount {
            for c in 0..<3 {
                let under = image.pixels[p * 3 + c]
                let blended = alpha * Float(colors[p * 3 + c]) + (1 - alpha) * (under.isNaN ? 0 : under)
                out[p * 4 + c] = UInt8(min(max(blended, 0), 255).rounded())
            }
        }
        return out
    }
}
