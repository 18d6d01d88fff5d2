/// A map from values in [0, 1] to 8-bit RGB colours, for drawing heatmaps.
///
/// Each colormap is a 256-entry table computed once from its definition; `color(at:)` rounds a value to the
/// nearest entry (values outside [0, 1] are clamped, NaN counts as 0).
public enum Colormap: String, Sendable, Codable, CaseIterable {
    /// OpenCV's `COLORMAP_JET` (what pytorch-grad-cam's `show_cam_on_image` uses): dark blue → cyan →
    /// yellow → dark red.
    case jet
    /// Google's Turbo (Mikhailov 2019), an improved rainbow: dark blue → green → yellow → dark red.
    case turbo
    /// matplotlib's perceptually uniform Viridis: dark purple → teal → yellow.
    case viridis

    /// The colormap with this name (`jet`, `turbo`, `viridis`, any case), or `nil`.
    public init?(named name: String) {
        self.init(rawValue: name.lowercased())
    }

    /// The colour of `value` (clamped to [0, 1]) as `[red, green, blue]`.
    public func color(at value: Float) -> SIMD3<UInt8> {
        let table = lookupTable
        let i = Self.index(value) * 3
        return SIMD3(table[i], table[i + 1], table[i + 2])
    }

    /// The 256 colours as 768 interleaved RGB bytes; entry `i` is the colour of `i / 255`.
    public var lookupTable: [UInt8] {
        switch self {
        case .jet: ColormapTables.jet
        case .turbo: ColormapTables.turbo
        case .viridis: ColormapTables.viridis
        }
    }

    /// Colours an `[H, W]` map of values in [0, 1] as interleaved RGB bytes `[H, W, 3]`.
    public func apply(_ values: [Float]) -> [UInt8] {
        let table = lookupTable
        var out = [UInt8](repeating: 0, count: values.count * 3)
        for (n, value) in values.enumerated() {
            let i = Self.index(value) * 3
            out[n * 3] = table[i]
            out[n * 3 + 1] = table[i + 1]
            out[n * 3 + 2] = table[i + 2]
        }
        return out
    }

    /// The table entry of `value`: clamped to [0, 1], NaN as 0, rounded to the nearest of 256 steps.
    static func index(_ value: Float) -> Int {
        guard value > 0 else { return 0 }  // also catches NaN
        guard value < 1 else { return 255 }
        return Int((value * 255).rounded())
    }
}

/// The tables behind `Colormap`, computed once on first use.
enum ColormapTables {
    static let jet: [UInt8] = table { i in
        // Each channel is a trapezoid over [0, 1], clamp(1.5 − |4x − k|) with k = 3 (red), 2 (green),
        // 1 (blue). OpenCV keeps these values as float32 and scales them by 255 with round-half-to-even;
        // doing the same reproduces its table (one of 768 bytes differs by 1, where a decimal constant in
        // OpenCV's source rounds the other way).
        [3.0, 2.0, 1.0].map { k in
            let exact = min(max((765 - abs(8 * Double(i) - 510 * k)) / 510, 0), 1)
            return UInt8((Float(exact) * 255).rounded(.toNearestOrEven))
        }
    }

    // Turbo (Mikhailov 2019, Apache-2.0) and Viridis (van der Walt & Smith 2015, CC0) are published as
    // 256-entry tables. camwatch evaluates its own degree-16 least-squares fits to those tables, in the
    // Chebyshev basis on t = 2x − 1 (Scripts/fixtures/make_image_fixtures.py --print-colormap-fits);
    // after rounding to bytes they are within 2/255 (Turbo) and 1/255 (Viridis) of the published values.

    static let turbo: [UInt8] = chebyshevTable([
        [
            0.5051617353, 0.3095729375, -0.1204969605, -0.2324279333, -0.04691764415, 0.09681786492, -0.01635494629,
            -0.03538670107, 0.02390922575, 0.002862326713, -0.01487688043, 0.009112341939, 0.004696079746,
            -0.007667731191, 0.0002914920015, 0.004171639077, -0.0007347775173,
        ],
        [
            0.4370245389, -0.09695379979, -0.461470029, 0.06774123764, 0.08092814094, 0.003831260479, -0.01176414912,
            -0.003322883889, -0.003099565613, 6.955966027e-05, 0.00224232651, 0.0009774424584, 0.001413162454,
            -0.0006568491653, -0.002522466253, -0.0003743138604, 0.001580898256,
        ],
        [
            0.3541971139, -0.3592814668, -0.1207772444, 0.2256275462, -0.1460987083, 0.04132625538, 0.04621320819,
            -0.0232243631, -0.0182340049, 0.00103603782, 0.01058468579, 0.006491312909, -0.008494932218,
            -0.004767628593, 0.005815937189, -0.0004958631021, -0.00304880941,
        ],
    ])

    static let viridis: [UInt8] = chebyshevTable([
        [
            0.4086973762, 0.2983341539, 0.2549993572, 0.08024126271, -0.03313093731, -0.01965899679, -0.001743776938,
            0.006574980503, 0.002135873191, -0.003642694145, -0.001370162271, 0.00179784293, 0.001000251281,
            -0.0006656607647, -0.0005633050599, 0.0002283905134, 0.0004355326629,
        ],
        [
            0.5187241018, 0.4546576725, -0.05736467171, -0.004863824807, -0.008462477261, 0.0007368978846,
            0.002150985481, 0.0008243491418, -0.0003127935353, 8.848508838e-05, 0.0002000331799, -0.0003300257228,
            0.0002764910476, -0.0002533904891, 0.0002103343033, -0.00013542506, 0.0001067849719,
        ],
        [
            0.3758867045, -0.1467453928, -0.1706645034, 0.02111512241, 0.01482163645, 0.02878703101, 0.01466702405,
            0.004831565122, 0.004118131784, 0.001143295351, -0.0007339929672, -0.001015798974, -0.001104001183,
            -0.0008855116497, -0.0005694308148, -0.0003093876633, -0.0001080317158,
        ],
    ])

    /// A table from one Chebyshev series per channel, evaluated at t = 2 · i/255 − 1.
    private static func chebyshevTable(_ channels: [[Double]]) -> [UInt8] {
        table { i in
            let t = 2 * Double(i) / 255 - 1
            return channels.map { coefficients in
                let value = chebyshev(coefficients, t)
                return UInt8((min(max(value, 0), 1) * 255).rounded())
            }
        }
    }

    /// Σ c_k T_k(t) by Clenshaw's recurrence.
    private static func chebyshev(_ coefficients: [Double], _ t: Double) -> Double {
        var next = 0.0
        var afterNext = 0.0
        for c in coefficients.dropFirst().reversed() {
            (next, afterNext) = (2 * t * next - afterNext + c, next)
        }
        return t * next - afterNext + (coefficients.first ?? 0)
    }

    /// 256 entries of 3 bytes from `entry(i)`.
    private static func table(_ entry: (Int) -> [UInt8]) -> [UInt8] {
        (0..<256).flatMap(entry)
    }
}
