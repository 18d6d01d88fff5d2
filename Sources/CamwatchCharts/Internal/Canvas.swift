internal import CCairo

// Every cairo call of CamwatchCharts goes through this file. Pictures are drawn on an ARGB32 image
// surface and read back as unpremultiplied RGBA bytes; PNG encoding is libpng's (CamwatchImage), so
// cairo's own PNG writer is never used.

/// An RGB colour with components in [0, 1].
struct Color: Sendable, Equatable {
    var red: Double
    var green: Double
    var blue: Double

    /// A colour from 8-bit components.
    init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = Double(red) / 255
        self.green = Double(green) / 255
        self.blue = Double(blue) / 255
    }

    /// The components as bytes, `[red, green, blue]`, as they come out of `Canvas.picture()`.
    var bytes: [UInt8] {
        [red, green, blue].map { UInt8((min(max($0, 0), 1) * 255).rounded()) }
    }
}

/// A rectangle in picture coordinates (pixels, y down).
struct Rect: Sendable, Equatable {
    var x: Double
    var y: Double
    var width: Double
    var height: Double

    init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    var maxX: Double { x + width }
    var maxY: Double { y + height }
    var midX: Double { x + width / 2 }
    var midY: Double { y + height / 2 }

    /// The rectangle shrunk by `inset` on every side.
    func insetBy(_ inset: Double) -> Rect {
        Rect(x: x + inset, y: y + inset, width: width - 2 * inset, height: height - 2 * inset)
    }
}

/// A font of the toy text API: DejaVu Sans at a size, regular or bold.
struct Font: Sendable, Equatable {
    var size: Double
    var bold = false

    static let family = "DejaVu Sans"
}

/// Where a line of text sits relative to the point it is drawn at, horizontally.
enum TextAlignment: Sendable {
    case left, center, right
}

/// A cairo image surface and its drawing context, destroyed together.
///
/// Drawing calls never fail individually: cairo records the first error in the context and ignores what
/// follows, so `picture()` checks the status once at the end. `@safe`: the two pointers never leave the
/// class, live exactly as long as it, and every pixel access is bounded by the surface's own size and stride.
@safe final class Canvas {
    /// cairo refuses image surfaces wider or taller than this.
    static let maximumSide = 32767

    let width: Int
    let height: Int
    private let surface: OpaquePointer
    private let context: OpaquePointer

    /// A canvas filled with `background`.
    /// - Throws: `ChartError` when the size is not positive or beyond cairo's limit, or cairo cannot
    ///   allocate the surface.
    init(width: Int, height: Int, background: Color) throws(ChartError) {
        guard width > 0, height > 0, width <= Self.maximumSide, height <= Self.maximumSide else {
            throw ChartError(
                reason:
                    "a \(width)x\(height) picture is outside cairo's limits (1 to \(Self.maximumSide) pixels a side)")
        }
        let surface = unsafe cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
        let surfaceStatus = unsafe cairo_surface_status(surface)
        guard surfaceStatus == CAIRO_STATUS_SUCCESS, let surface = unsafe surface else {
            unsafe cairo_surface_destroy(surface)
            throw ChartError(reason: "cairo_image_surface_create failed: \(Self.describe(surfaceStatus))")
        }
        let context = unsafe cairo_create(surface)
        let contextStatus = unsafe cairo_status(context)
        guard contextStatus == CAIRO_STATUS_SUCCESS, let context = unsafe context else {
            unsafe cairo_destroy(context)
            unsafe cairo_surface_destroy(surface)
            throw ChartError(reason: "cairo_create failed: \(Self.describe(contextStatus))")
        }
        self.width = width
        self.height = height
        unsafe self.surface = surface
        unsafe self.context = context
        fill(Rect(x: 0, y: 0, width: Double(width), height: Double(height)), background)
    }

    deinit {
        unsafe cairo_destroy(context)
        unsafe cairo_surface_destroy(surface)
    }

    // MARK: - Shapes

    /// Fills a rectangle.
    func fill(_ rect: Rect, _ color: Color) {
        setColor(color)
        unsafe cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        unsafe cairo_fill(context)
    }

    /// Strokes a rectangle's outline, centred on its edges.
    func stroke(_ rect: Rect, _ color: Color, lineWidth: Double) {
        setColor(color)
        unsafe cairo_set_line_width(context, lineWidth)
        unsafe cairo_set_dash(context, nil, 0, 0)
        unsafe cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        unsafe cairo_stroke(context)
    }

    /// Strokes a polyline through `points`; `dash` is on/off lengths in pixels (empty for solid).
    func line(_ points: [(x: Double, y: Double)], _ color: Color, lineWidth: Double, dash: [Double] = []) {
        guard let first = points.first else { return }
        setColor(color)
        unsafe cairo_set_line_width(context, lineWidth)
        unsafe cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        unsafe cairo_set_line_cap(context, dash.isEmpty ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT)
        unsafe dash.withUnsafeBufferPointer { lengths in
            unsafe cairo_set_dash(context, lengths.baseAddress, Int32(lengths.count), 0)
        }
        unsafe cairo_move_to(context, first.x, first.y)
        for point in points.dropFirst() { unsafe cairo_line_to(context, point.x, point.y) }
        unsafe cairo_stroke(context)
        unsafe cairo_set_dash(context, nil, 0, 0)
    }

    /// Fills a disc.
    func disc(x: Double, y: Double, radius: Double, _ color: Color) {
        setColor(color)
        unsafe cairo_new_sub_path(context)
        unsafe cairo_arc(context, x, y, radius, 0, 2 * Double.pi)
        unsafe cairo_fill(context)
    }

    // MARK: - Text

    /// The horizontal advance of `text` in `font`, in pixels.
    func textWidth(_ text: String, _ font: Font) -> Double {
        setFont(font)
        var extents = cairo_text_extents_t()
        unsafe cairo_text_extents(context, text, &extents)
        return extents.x_advance
    }

    /// The ascent (above the baseline) and descent (below it) of `font`, in pixels.
    func lineMetrics(_ font: Font) -> (ascent: Double, descent: Double) {
        setFont(font)
        var extents = cairo_font_extents_t()
        unsafe cairo_font_extents(context, &extents)
        return (extents.ascent, extents.descent)
    }

    /// Draws one line of text with its baseline at `baseline`, aligned at `x`.
    func text(_ text: String, x: Double, baseline: Double, _ font: Font, _ color: Color, align: TextAlignment = .left) {
        guard !text.isEmpty else { return }
        let advance = textWidth(text, font)
        let left =
            switch align {
            case .left: x
            case .center: x - advance / 2
            case .right: x - advance
            }
        setColor(color)
        unsafe cairo_move_to(context, left.rounded(), baseline.rounded())
        unsafe cairo_show_text(context, text)
        unsafe cairo_new_path(context)
    }

    /// Draws one line of text rotated by `angle` radians (counter-clockwise) about its start point.
    func rotatedText(_ text: String, x: Double, baseline: Double, angle: Double, _ font: Font, _ color: Color) {
        guard !text.isEmpty else { return }
        setFont(font)
        setColor(color)
        unsafe cairo_save(context)
        unsafe cairo_translate(context, x, baseline)
        unsafe cairo_rotate(context, -angle)
        unsafe cairo_move_to(context, 0, 0)
        unsafe cairo_show_text(context, text)
        unsafe cairo_new_path(context)
        unsafe cairo_restore(context)
    }

    // MARK: - Images

    /// Draws RGBA pixels (`[height, width, 4]`, opaque) scaled to fill `rect`.
    ///
    /// Downscaling uses cairo's `GOOD` filter (a box filter over the covered source pixels), so a large
    /// probe image does not alias into noise; edges are padded so a scaled image has no faded border.
    func image(rgba: [UInt8], width: Int, height: Int, in rect: Rect) {
        precondition(width > 0 && height > 0 && rgba.count == width * height * 4, "image is not \(height)x\(width)x4")
        guard let source = unsafe cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height)) else {
            return
        }
        defer { unsafe cairo_surface_destroy(source) }
        guard unsafe cairo_surface_status(source) == CAIRO_STATUS_SUCCESS,
            let data = unsafe cairo_image_surface_get_data(source)
        else { return }
        unsafe cairo_surface_flush(source)
        let stride = unsafe Int(cairo_image_surface_get_stride(source))
        let raw = UnsafeMutableRawPointer(data)
        for y in 0..<height {
            for x in 0..<width {
                let p = (y * width + x) * 4
                // Premultiplied ARGB in one native-endian word; the pixels are opaque (alpha 255).
                let alpha = UInt32(rgba[p + 3])
                let red = (UInt32(rgba[p]) * alpha + 127) / 255
                let green = (UInt32(rgba[p + 1]) * alpha + 127) / 255
                let blue = (UInt32(rgba[p + 2]) * alpha + 127) / 255
                let word = alpha << 24 | red << 16 | green << 8 | blue
                unsafe raw.storeBytes(of: word, toByteOffset: y * stride + x * 4, as: UInt32.self)
            }
        }
        unsafe cairo_surface_mark_dirty(source)
        unsafe cairo_save(context)
        unsafe cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        unsafe cairo_clip(context)
        unsafe cairo_translate(context, rect.x, rect.y)
        unsafe cairo_scale(context, rect.width / Double(width), rect.height / Double(height))
        unsafe cairo_set_source_surface(context, source, 0, 0)
        let pattern = unsafe cairo_get_source(context)
        unsafe cairo_pattern_set_filter(pattern, CAIRO_FILTER_GOOD)
        unsafe cairo_pattern_set_extend(pattern, CAIRO_EXTEND_PAD)
        unsafe cairo_paint(context)
        unsafe cairo_restore(context)
    }

    // MARK: - Result

    /// The canvas as unpremultiplied RGBA bytes.
    /// - Throws: `ChartError` naming cairo's status when any drawing call failed.
    func picture() throws(ChartError) -> Picture {
        let status = unsafe cairo_status(context)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw ChartError(reason: "cairo drawing failed: \(Self.describe(status))")
        }
        unsafe cairo_surface_flush(surface)
        guard let data = unsafe cairo_image_surface_get_data(surface) else {
            throw ChartError(reason: "cairo_image_surface_get_data returned no pixels")
        }
        let stride = unsafe Int(cairo_image_surface_get_stride(surface))
        let raw = UnsafeRawPointer(data)
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        for y in 0..<height {
            for x in 0..<width {
                let word = unsafe raw.load(fromByteOffset: y * stride + x * 4, as: UInt32.self)
                let alpha = word >> 24
                guard alpha > 0 else { continue }
                let p = (y * width + x) * 4
                rgba[p] = Self.unpremultiply((word >> 16) & 0xFF, alpha)
                rgba[p + 1] = Self.unpremultiply((word >> 8) & 0xFF, alpha)
                rgba[p + 2] = Self.unpremultiply(word & 0xFF, alpha)
                rgba[p + 3] = UInt8(alpha)
            }
        }
        return Picture(width: width, height: height, rgba: rgba)
    }

    // MARK: - State

    private func setColor(_ color: Color) {
        unsafe cairo_set_source_rgb(context, color.red, color.green, color.blue)
    }

    private func setFont(_ font: Font) {
        unsafe cairo_select_font_face(
            context, Font.family, CAIRO_FONT_SLANT_NORMAL, font.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL
        )
        unsafe cairo_set_font_size(context, font.size)
    }

    /// A premultiplied component back on the 0…255 scale, rounded; `alpha` is not 0.
    private static func unpremultiply(_ component: UInt32, _ alpha: UInt32) -> UInt8 {
        UInt8(min(255, (component * 255 + alpha / 2) / alpha))
    }

    private static func describe(_ status: cairo_status_t) -> String {
        unsafe String(cString: cairo_status_to_string(status))
    }
}
