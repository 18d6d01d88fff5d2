/// What a model spec may declare and what a bound network may cost.
///
/// A spec often comes from a checkpoint (`camwatch_model`), so one flipped bit can turn a kernel of 3 into
/// 2^40 or a padding into −1. Every value is checked against these bounds, with overflow-checked
/// arithmetic, before anything is sized from it: a damaged spec ends as a ``NetworkError`` (a `failed`
/// entry in the daemon), never as a trap or an allocation the machine cannot satisfy. The bounds are far
/// above any real image classifier (VGG, ResNet, MobileNet at up to 4096×4096) and far below what
/// overflows or exhausts memory.
public enum ModelLimits {
    /// The largest input height or width, kernel, stride, dilation, padding or `output_size` along one
    /// axis (the same 4096 as `--input-size` and a checkpoint's `input_size`).
    public static let extent = 4096
    /// The most channels of a feature map or features of a vector (2^24: a flattened 512×7×7 VGG map is
    /// 25088, a 21k-class head 21841).
    public static let features = 1 << 24
    /// The most layers in one spec.
    public static let layers = 100_000
    /// The most elements one layer's output may have for one image: 2^28 floats = 1 GiB.
    public static let activationElements = 1 << 28
    /// The most elements all layers' outputs together may have for one image: 2^30 floats = 4 GiB. A
    /// forward pass keeps far fewer alive at once; the sum bounds it without following lifetimes.
    public static let totalActivationElements = 1 << 30
    /// The most parameters a network may have: 2^30 floats = 4 GiB (the optimized copy Score-CAM makes
    /// doubles this).
    public static let parameters = 1 << 30
}

/// Overflow-checked products and sums of sizes.
enum CheckedSize {
    /// The product of `factors`, or `nil` when a factor is negative or the product overflows.
    static func product(_ factors: some Sequence<Int>) -> Int? {
        var result = 1
        for factor in factors {
            guard factor >= 0 else { return nil }
            let (value, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            result = value
        }
        return result
    }

    /// The sum of `terms`, or `nil` when it overflows.
    static func sum(_ terms: some Sequence<Int>) -> Int? {
        var result = 0
        for term in terms {
            let (value, overflow) = result.addingReportingOverflow(term)
            if overflow { return nil }
            result = value
        }
        return result
    }
}

extension ModelSpec {
    /// Checks every numeric value of the spec against ``ModelLimits``, before anything is built from it.
    ///
    /// - Throws: ``NetworkError`` naming the layer, the key and the value.
    public func validate() throws(NetworkError) {
        func check(_ value: Int, _ range: ClosedRange<Int>, _ key: String) throws(NetworkError) {
            guard range.contains(value) else {
                throw NetworkError("model spec '\(name)': \(key) = \(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
        }
        func check(_ pair: IntPair?, _ range: ClosedRange<Int>, _ key: String) throws(NetworkError) {
            guard let pair else { return }
            try check(pair.height, range, key)
            try check(pair.width, range, key)
        }
        if let inputChannels { try check(inputChannels, 1...ModelLimits.features, "input_channels") }
        try check(inputSize, 1...ModelLimits.extent, "input_size")
        guard layers.count <= ModelLimits.layers else {
            throw NetworkError("model spec '\(name)' has \(layers.count) layers, more than \(ModelLimits.layers)")
        }
        for layer in layers {
            let prefix = "layer '\(layer.name)' "
            if let value = layer.outChannels { try check(value, 1...ModelLimits.features, prefix + "out_channels") }
            if let value = layer.outFeatures { try check(value, 1...ModelLimits.features, prefix + "out_features") }
            if let value = layer.groups { try check(value, 1...ModelLimits.features, prefix + "groups") }
            try check(layer.kernel, 1...ModelLimits.extent, prefix + "kernel")
            try check(layer.stride, 1...ModelLimits.extent, prefix + "stride")
            try check(layer.dilation, 1...ModelLimits.extent, prefix + "dilation")
            try check(layer.outputSize, 1...ModelLimits.extent, prefix + "output_size")
            if case .explicit(let top, let bottom, let left, let right) = layer.padding {
                for value in [top, bottom, left, right] { try check(value, 0...ModelLimits.extent, prefix + "padding") }
            }
            if let eps = layer.eps, !(eps.isFinite && eps >= 0) {
                throw NetworkError("model spec '\(name)': \(prefix)eps = \(eps) is not a finite number ≥ 0")
            }
            for (key, value) in [("negative_slope", layer.negativeSlope), ("max_value", layer.maxValue),
                                 ("threshold", layer.threshold), ("multiplier", layer.multiplier),
                                 ("offset", layer.offset)] {
                if let value, !value.isFinite {
                    throw NetworkError("model spec '\(name)': \(prefix)\(key) = \(value) is not finite")
                }
            }
            if let value = layer.start { try check(value, 0...ModelLimits.features, prefix + "start") }
            if let value = layer.end { try check(value, 1...ModelLimits.features, prefix + "end") }
            if let start = layer.start, let end = layer.end, start >= end {
                throw NetworkError("model spec '\(name)': \(prefix)slice start = \(start) is not before end = \(end)")
            }
            if let cropping = layer.cropping {
                guard cropping.count == 4 else {
                    throw NetworkError("model spec '\(name)': \(prefix)cropping = \(cropping) is not [top, bottom, left, right]")
                }
                for value in cropping { try check(value, 0...ModelLimits.extent, prefix + "cropping") }
            }
            if let target = layer.targetShape {
                guard target == [-1] || ((target.count == 1 || target.count == 3)
                    && target.allSatisfy { (1...ModelLimits.features).contains($0) })
                else {
                    throw NetworkError("model spec '\(name)': \(prefix)target_shape = \(target) is not [-1], [f] or [h, w, c] "
                        + "with sizes in 1...\(ModelLimits.features)")
                }
            }
        }
    }
}
