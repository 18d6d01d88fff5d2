import Foundation

/// Why a checkpoint looks like a model that stopped learning from its input (docs/architecture.md §5): saliency
/// that stops moving because the network is dead is the opposite of convergence, so the convergence rule must
/// not read it as `stable`.
///
/// Three signs, each computed from what the analysis of a checkpoint already has (the heatmaps and one plain
/// forward pass per probe), each enough on its own:
/// - **constant heatmaps**: every probe's heatmap is flat (all zero after Score-CAM's normalisation), so no
///   region of any probe matters to the class;
/// - **input-independent outputs**: the probes' logits differ from each other by less than
///   `inputDependenceLimit` of their spread across classes (softmax-invariant: each probe's logits are
///   centred first), so whatever the image, the network says the same;
/// - **one class for every probe**: every probe is predicted as the same class with near-identical
///   probabilities (spread at most `probabilitySpreadLimit`) although the manifest names several classes.
///
/// The limits are far from both sides: a dead network's outputs agree to float rounding (relative 1e-7), a
/// network that reads its input, even freshly initialised, differs between images by a sizeable fraction of
/// its logits' spread.
public struct CollapseEvidence: Sendable, Hashable, Codable {
    /// Every probe's heatmap is constant.
    public var constantHeatmaps: Bool
    /// The largest difference between one probe's centred logits and the probes' mean, over the mean spread
    /// of a probe's centred logits; `nil` with fewer than 2 probes. 0 when the output ignores the input.
    @ExplicitNull public var inputDependence: Double?
    /// The class every probe was predicted as, when all agree with near-identical probabilities while the
    /// manifest names several classes; else `nil`.
    @ExplicitNull public var sameClass: Int?
    /// The number of distinct classes the probe manifest names.
    public var manifestClasses: Int

    /// At or below this `inputDependence`, the output does not depend on the input.
    public static let inputDependenceLimit = 0.01
    /// At or below this spread (max − min) of the predicted class's probability over the probes, the probes'
    /// scores count as near-identical.
    public static let probabilitySpreadLimit: Float = 0.05
    /// A heatmap whose values (in [0, 1]) span at most this much is constant.
    public static let constantHeatmapRange: Float = 1e-6

    public init(constantHeatmaps: Bool, inputDependence: Double?, sameClass: Int?, manifestClasses: Int) {
        self.constantHeatmaps = constantHeatmaps
        self.inputDependence = inputDependence
        self.sameClass = sameClass
        self.manifestClasses = manifestClasses
    }

    /// Whether the output ignores the input (`inputDependence` at or below the limit).
    public var inputIndependent: Bool {
        inputDependence.map { $0 <= Self.inputDependenceLimit } ?? false
    }

    /// Whether any sign of collapse holds.
    public var isCollapsed: Bool { constantHeatmaps || inputIndependent || sameClass != nil }

    /// The signs that hold, for people: `every probe's heatmap is constant; outputs do not depend on the
    /// input (probes differ by 0 of the logits' spread)`.
    public var summary: String {
        var signs: [String] = []
        if constantHeatmaps { signs.append("every probe's heatmap is constant") }
        if inputIndependent, let inputDependence {
            signs.append(
                "outputs do not depend on the input (probes differ by \(Self.format(inputDependence)) of the logits' spread)")
        }
        if let sameClass {
            signs.append("every probe is predicted as class \(sameClass) with near-identical scores, though the "
                + "manifest names \(manifestClasses) classes")
        }
        return signs.isEmpty ? "no sign of collapse" : signs.joined(separator: "; ")
    }

    /// The evidence of one checkpoint, or `nil` when no sign holds.
    ///
    /// - Parameters:
    ///   - heatmaps: each probe's low-resolution heatmap, values in [0, 1].
    ///   - logits: each probe's logits on the unmasked image (same length for every probe).
    ///   - manifestClasses: the target classes the probe manifest names.
    public static func evaluate(
        heatmaps: [String: HeatmapArchive.Heatmap], logits: [String: [Float]], manifestClasses: Set<Int>
    ) -> CollapseEvidence? {
        let constant = !heatmaps.isEmpty && heatmaps.values.allSatisfy { map in
            guard let low = map.values.min(), let high = map.values.max() else { return true }
            return high - low <= constantHeatmapRange
        }
        let outputs = logits.keys.sorted().compactMap { logits[$0] }
        let evidence = CollapseEvidence(
            constantHeatmaps: constant, inputDependence: inputDependence(of: outputs),
            sameClass: manifestClasses.count >= 2 ? sharedPrediction(outputs) : nil,
            manifestClasses: manifestClasses.count)
        return evidence.isCollapsed ? evidence : nil
    }

    /// `max_p ‖ẑ_p − mean ẑ‖ / mean_p ‖ẑ_p‖`, where ẑ_p is probe p's logits minus their mean over classes
    /// (what softmax ignores); 0 when no probe's logits vary at all; `nil` with fewer than 2 probes or ragged logits.
    public static func inputDependence(of outputs: [[Float]]) -> Double? {
        guard outputs.count >= 2, let classes = outputs.first?.count, classes > 0,
            outputs.allSatisfy({ $0.count == classes && $0.allSatisfy(\.isFinite) })
        else { return nil }
        let centred = outputs.map { row -> [Double] in
            let mean = row.reduce(0.0) { $0 + Double($1) } / Double(classes)
            return row.map { Double($0) - mean }
        }
        func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let average = (0..<classes).map { k in centred.reduce(0) { $0 + $1[k] } / Double(centred.count) }
        let difference = centred.map { row in norm(zip(row, average).map { $0 - $1 }) }.max() ?? 0
        let spread = centred.reduce(0) { $0 + norm($1) } / Double(centred.count)
        if spread == 0 { return difference == 0 ? 0 : .infinity }
        return difference / spread
    }

    /// The class every probe is predicted as, when all agree and the predicted class's softmax probability
    /// varies by at most `probabilitySpreadLimit`; else `nil`.
    static func sharedPrediction(_ outputs: [[Float]]) -> Int? {
        guard outputs.count >= 2 else { return nil }
        var predicted: Int?
        var probabilities: [Float] = []
        for row in outputs {
            guard let top = row.indices.max(by: { row[$0] < row[$1] }), predicted == nil || predicted == top,
                let high = row.max()
            else { return nil }
            predicted = top
            // Softmax of the top class, computed stably.
            let sum = row.reduce(0.0) { $0 + exp(Double($1 - high)) }
            probabilities.append(Float(1 / sum))
        }
        guard let low = probabilities.min(), let high = probabilities.max(), high - low <= probabilitySpreadLimit
        else { return nil }
        return predicted
    }

    static func format(_ value: Double) -> String {
        value == 0 ? "0" : String(format: "%.2g", value)
    }

    enum CodingKeys: String, CodingKey {
        case constantHeatmaps = "constant_heatmaps"
        case inputDependence = "input_dependence"
        case sameClass = "same_class"
        case manifestClasses = "manifest_classes"
        case summary
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        constantHeatmaps = try c.decode(Bool.self, forKey: .constantHeatmaps)
        inputDependence = try c.decodeIfPresent(Double.self, forKey: .inputDependence)
        sameClass = try c.decodeIfPresent(Int.self, forKey: .sameClass)
        manifestClasses = try c.decode(Int.self, forKey: .manifestClasses)
    }

    /// Encodes the signs and, for readers of report.json, the summary line.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(constantHeatmaps, forKey: .constantHeatmaps)
        try c.encode(inputDependence, forKey: .inputDependence)
        try c.encode(sameClass, forKey: .sameClass)
        try c.encode(manifestClasses, forKey: .manifestClasses)
        try c.encode(summary, forKey: .summary)
    }
}
