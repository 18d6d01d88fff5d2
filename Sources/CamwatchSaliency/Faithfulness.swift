public import CamwatchNN
public import CamwatchTensor

import Foundation
import Synchronization

/// A measure of how good a heatmap is: where it sits and whether the network agrees with it.
///
/// The Score-CAM paper's evaluation (Wang et al., CVPR-W 2020, Table 1 and §4.3) and the causal metrics of
/// RISE (Petsiuk et al., BMVC 2018). Each is computed on the heatmap at input resolution.
public enum HeatmapMetric: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    /// Energy-based pointing game: the share of the heatmap's sum inside the object's box (needs a box).
    case energy
    /// Average Drop and Increase in Confidence: the class probability on the input multiplied by the heatmap.
    case drop
    /// Deletion AUC: the class probability as the most salient pixels are zeroed, `step` at a time.
    case deletion
    /// Insertion AUC: the class probability as the most salient pixels are restored into a blurred input.
    case insertion

    public static func < (a: HeatmapMetric, b: HeatmapMetric) -> Bool {
        allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
    }

    /// Parses `energy,drop,deletion,insertion` (any subset, any order; `none` for no metric).
    /// - Throws: ``SaliencyError`` naming the word that is not a metric.
    public static func parseList(_ text: String) throws(SaliencyError) -> Set<HeatmapMetric> {
        var result = Set<HeatmapMetric>()
        for word in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !word.isEmpty {
            if word == "none" { continue }
            // `increase` is reported with `drop` (one forward pass gives both).
            guard let metric = word == "increase" ? .drop : HeatmapMetric(rawValue: word) else {
                throw SaliencyError("unknown metric '\(word)': use energy, drop, deletion, insertion or none")
            }
            result.insert(metric)
        }
        return result
    }
}

/// An object's box `[x0, y0, x1, y1]` in pixels of some image: `x0 ≤ x < x1`, `y0 ≤ y < y1` (the upper
/// bounds exclusive, as `bbox` in probes.json and a Python slice `[y0:y1, x0:x1]`).
public struct BoundingBox: Sendable, Equatable {
    public var x0: Double
    public var y0: Double
    public var x1: Double
    public var y1: Double

    public init(x0: Double, y0: Double, x1: Double, y1: Double) {
        (self.x0, self.y0, self.x1, self.y1) = (x0, y0, x1, y1)
    }

    /// `[x0, y0, x1, y1]`, or `nil` unless there are four finite numbers with `x0 < x1`, `y0 < y1`.
    public init?(_ values: [Double]) {
        guard values.count == 4, values.allSatisfy(\.isFinite), values[0] < values[2], values[1] < values[3] else {
            return nil
        }
        self.init(x0: values[0], y0: values[1], x1: values[2], y1: values[3])
    }

    /// The same box in an image resized from `imageWidth × imageHeight` to `width × height` (the probe is
    /// stretched to the input, so each axis scales on its own).
    public func scaled(fromWidth imageWidth: Int, height imageHeight: Int, toWidth width: Int, height: Int) -> BoundingBox {
        let sx = Double(width) / Double(max(1, imageWidth)), sy = Double(height) / Double(max(1, imageHeight))
        return BoundingBox(x0: x0 * sx, y0: y0 * sy, x1: x1 * sx, y1: y1 * sy)
    }

    /// Whether pixel `(x, y)` of a grid lies in the box: its centre `(x + ½, y + ½)` does. For integer
    /// coordinates that is exactly the slice `[y0:y1, x0:x1]`.
    func contains(x: Int, y: Int) -> Bool {
        let cx = Double(x) + 0.5, cy = Double(y) + 0.5
        return cx >= x0 && cx < x1 && cy >= y0 && cy < y1
    }
}

/// The class probability on the input and on the input multiplied by the heatmap (Chattopadhay et al.,
/// WACV 2018; Score-CAM Table 1).
public struct ConfidenceChange: Sendable, Equatable {
    /// `Y`: the softmax probability of the class on the input.
    public var original: Float
    /// `O`: the same on the explanation input `x ⊙ heatmap`.
    public var explanation: Float

    /// `max(0, Y − O) / Y`, in [0, 1]; 0 when `Y` is 0 (nothing to drop).
    public var drop: Double {
        guard original > 0 else { return 0 }
        return max(0, Double(original) - Double(explanation)) / Double(original)
    }

    /// Whether `O > Y`: the heatmap alone convinces the network more than the whole input.
    public var increased: Bool { explanation > original }
}

/// A deletion or insertion curve (Petsiuk et al., BMVC 2018).
public struct CausalCurve: Sendable, Equatable {
    /// The softmax probability of the class after `0, step, 2·step, …, H·W` pixels changed.
    public var scores: [Float]
    /// The area under `scores` on `[0, 1]` by the trapezoid rule, the steps evenly spaced.
    public var area: Double { Faithfulness.area(scores) }
}

/// The metrics of one heatmap; each `nil` when not asked for or not defined (no box, an all-zero heatmap).
public struct HeatmapMetrics: Sendable, Equatable {
    /// Energy-based pointing game, in [0, 1].
    public var energy: Double?
    public var confidence: ConfidenceChange?
    public var deletion: CausalCurve?
    public var insertion: CausalCurve?

    public init(
        energy: Double? = nil, confidence: ConfidenceChange? = nil, deletion: CausalCurve? = nil,
        insertion: CausalCurve? = nil
    ) {
        self.energy = energy
        self.confidence = confidence
        self.deletion = deletion
        self.insertion = insertion
    }
}

/// The Score-CAM paper's faithfulness and localization metrics of a heatmap (its §4.2–4.3).
///
/// Every metric reads the heatmap at input resolution (`SaliencyMap.values`, in [0, 1]) and the class
/// explained; the network's forward pass gives softmax probabilities of that class.
public enum Faithfulness {
    /// RISE's blur for the insertion substrate: an 11 × 11 kernel, σ = 5.
    public static let blurSize = 11
    public static let blurSigma = 5.0

    /// Energy-based pointing game (Score-CAM §4.3): `Σ_{(x,y) ∈ box} L(x, y) / Σ_{(x,y)} L(x, y)`.
    ///
    /// - Parameters:
    ///   - heatmap: `height × width` values, row-major, non-negative.
    ///   - box: the object's box in the same pixel grid (``BoundingBox/scaled(fromWidth:height:toWidth:height:)``).
    /// - Returns: the share in [0, 1]; `nil` when the heatmap sums to 0 or no pixel centre lies in the box.
    public static func energy(heatmap: [Float], width: Int, height: Int, box: BoundingBox) -> Double? {
        precondition(heatmap.count == width * height, "\(heatmap.count) values for \(width)x\(height)")
        var inside = 0.0, total = 0.0
        var covered = false
        for y in 0..<height {
            for x in 0..<width {
                let value = Double(heatmap[y * width + x])
                total += value
                if box.contains(x: x, y: y) {
                    inside += value
                    covered = true
                }
            }
        }
        guard covered, total > 0 else { return nil }
        return inside / total
    }

    /// The share of a `width × height` grid's pixels whose centres lie in `box`.
    public static func coverage(of box: BoundingBox, width: Int, height: Int) -> Double {
        var inside = 0
        for y in 0..<height { for x in 0..<width where box.contains(x: x, y: y) { inside += 1 } }
        return Double(inside) / Double(max(1, width * height))
    }

    /// The class probability on `input` and on `input ⊙ heatmap` (the heatmap broadcast over channels, as
    /// pytorch-grad-cam's `CamMultImageConfidenceChange` builds it), both in one batch.
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`, normalized as the network expects.
    ///   - heatmap: `H × W` values.
    /// - Throws: ``SaliencyError`` for non-finite outputs.
    public static func confidenceChange(network: Network, input: Tensor, heatmap: [Float], classIndex: Int) throws(SaliencyError)
        -> ConfidenceChange
    {
        let (c, pixels) = (input.shape[1], input.shape[2] * input.shape[3])
        precondition(input.rank == 4 && input.shape[0] == 1 && heatmap.count == pixels, "input \(input.shape), heatmap \(heatmap.count)")
        var batch = input.scalars + input.scalars
        for channel in 0..<c {
            let base = (c + channel) * pixels
            for p in 0..<pixels { batch[base + p] *= heatmap[p] }
        }
        let probabilities = try classProbabilities(
            network: network, batch: Tensor(shape: [2, c, input.shape[2], input.shape[3]], scalars: batch),
            classIndex: classIndex)
        return ConfidenceChange(original: probabilities[0], explanation: probabilities[1])
    }

    /// Which way a causal curve goes.
    public enum CausalMode: String, Sendable {
        /// From the input towards a zero tensor.
        case deletion
        /// From the blurred input (``blurred(_:)``) towards the input.
        case insertion
    }

    /// A deletion or insertion curve (RISE's `CausalMetric`).
    ///
    /// Pixels are taken in order of decreasing heatmap value (ties: the later pixel first, RISE's
    /// `flip(argsort(·))` with a stable sort); after `i` steps the first `min(i·step, H·W)` of them hold
    /// the finishing image's values in every channel, the rest the starting image's. There are
    /// `⌈H·W / step⌉ + 1` images, scored in batches of `batchSize` on `threads` workers.
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`, normalized as the network expects.
    ///   - heatmap: `H × W` values.
    ///   - step: pixels changed per step; `nil` is the input width (RISE's 224 for 224 × 224).
    /// - Throws: ``SaliencyError`` for non-finite outputs.
    public static func causalCurve(
        _ mode: CausalMode, network: Network, input: Tensor, heatmap: [Float], classIndex: Int, step: Int? = nil,
        batchSize: Int = 16, threads: Int = 1
    ) throws(SaliencyError) -> CausalCurve {
        let (c, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        let pixels = height * width
        precondition(input.rank == 4 && input.shape[0] == 1 && heatmap.count == pixels, "input \(input.shape), heatmap \(heatmap.count)")
        let stride = max(1, step ?? width)
        let steps = (pixels + stride - 1) / stride
        let order = salientOrder(heatmap)
        let (start, finish) = mode == .deletion
            ? (input.scalars, [Float](repeating: 0, count: input.scalarCount))
            : (blurred(input).scalars, input.scalars)
        let batch = max(1, batchSize)
        let jobs = (steps + batch) / batch
        let scores = try ScoreCAM.scoreJobs(count: jobs, slots: steps + 1, workers: threads, progress: nil) { job in
            let first = job * batch, count = min(batch, steps + 1 - first)
            var images = [Float](repeating: 0, count: count * c * pixels)
            for slot in 0..<count {
                let changed = min((first + slot) * stride, pixels)
                let base = slot * c * pixels
                images.withUnsafeMutableBufferPointer { out in
                    for i in 0..<(c * pixels) { out[base + i] = start[i] }
                    for rank in 0..<changed {
                        let p = order[rank]
                        for channel in 0..<c { out[base + channel * pixels + p] = finish[channel * pixels + p] }
                    }
                }
            }
            do throws(SaliencyError) {
                let probabilities = try classProbabilities(
                    network: network, batch: Tensor(shape: [count, c, height, width], scalars: images),
                    classIndex: classIndex)
                return .success(probabilities.enumerated().map { (first + $0.offset, $0.element) })
            } catch {
                return .failure(error)
            }
        }
        return CausalCurve(scores: scores)
    }

    /// The forward passes a causal curve costs: `⌈H·W / step⌉ + 1`.
    public static func causalPasses(height: Int, width: Int, step: Int?) -> Int {
        let stride = max(1, step ?? width)
        return (height * width + stride - 1) / stride + 1
    }

    /// `(Σ s_i − s_0/2 − s_n/2) / n`: the trapezoid rule over `[0, 1]` with `n` even steps (RISE's `auc`).
    public static func area(_ scores: [Float]) -> Double {
        guard scores.count > 1 else { return Double(scores.first ?? 0) }
        let sum = scores.reduce(0.0) { $0 + Double($1) }
        let ends = (Double(scores[0]) + Double(scores[scores.count - 1])) / 2
        return (sum - ends) / Double(scores.count - 1)
    }

    /// Pixel indices by decreasing value; among equal values the higher index first.
    static func salientOrder(_ heatmap: [Float]) -> [Int] {
        heatmap.indices.sorted { a, b in
            heatmap[a] != heatmap[b] ? heatmap[a] > heatmap[b] : a > b
        }
    }

    /// RISE's insertion substrate: each channel convolved with an 11 × 11 Gaussian (σ = 5), zero padding of
    /// 5 at every edge (so the border darkens towards 0, as in RISE), output the size of the input.
    ///
    /// The kernel is RISE's `gkern`: a unit impulse at the centre of an 11 × 11 grid smoothed by a Gaussian
    /// filter of σ = 5 truncated at 4σ, whose tails fold back at the grid's edges (scipy's `reflect` mode).
    /// It is the outer product of the 1-D kernel ``blurKernel``, so the blur runs as two 1-D passes.
    /// - Parameter input: `[N, C, H, W]`.
    public static func blurred(_ input: Tensor) -> Tensor {
        let (planes, height, width) = (input.shape[0] * input.shape[1], input.shape[2], input.shape[3])
        let rows = blurPass(input.scalars, planes: planes, height: height, width: width, horizontal: true)
        return Tensor(shape: input.shape, scalars: blurPass(rows, planes: planes, height: height, width: width, horizontal: false))
    }

    /// One 1-D pass of the blur along rows (`horizontal`) or columns of each `height × width` plane, zero padding.
    private static func blurPass(_ values: [Float], planes: Int, height: Int, width: Int, horizontal: Bool) -> [Float] {
        let kernel = blurKernel.map(Float.init)
        let radius = blurSize / 2
        // Along a row neighbours are 1 apart and a row has `width` of them; along a column, `width` apart.
        let (length, stride) = horizontal ? (width, 1) : (height, width)
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { x in
            for plane in 0..<planes {
                for y in 0..<height {
                    for col in 0..<width {
                        let position = horizontal ? col : y
                        let centre = plane * height * width + y * width + col
                        var sum: Float = 0
                        for k in 0..<blurSize {
                            let offset = k - radius
                            if position + offset >= 0 && position + offset < length { sum += kernel[k] * x[centre + offset * stride] }
                        }
                        out[centre] = sum
                    }
                }
            }
        }
        return out
    }

    /// The 1-D factor of RISE's blur kernel: `k[i] = Σ_t g(t)` over the offsets `t ∈ [−20, 20]` whose
    /// half-sample mirror image of `i + t` in `0..<11` is the centre 5, `g` the Gaussian of σ = 5 normalized
    /// over `[−20, 20]`. It sums to 1.
    public static let blurKernel: [Double] = {
        let radius = Int(4 * blurSigma + 0.5)
        let weights = (-radius...radius).map { t in exp(-0.5 * Double(t * t) / (blurSigma * blurSigma)) }
        let total = weights.reduce(0, +)
        let period = 2 * blurSize
        var kernel = [Double](repeating: 0, count: blurSize)
        for i in 0..<blurSize {
            for t in -radius...radius {
                var m = (i + t) % period
                if m < 0 { m += period }
                if m >= blurSize { m = period - 1 - m }
                if m == blurSize / 2 { kernel[i] += weights[t + radius] / total }
            }
        }
        return kernel
    }()

    /// The softmax probability of `classIndex` for each image of a batch.
    /// - Throws: ``SaliencyError`` when an output is not finite or the class is out of range.
    static func classProbabilities(network: Network, batch: Tensor, classIndex: Int) throws(SaliencyError) -> [Float] {
        // Within Score-CAM's activation budget: a batch of perturbed 224×224 images through vgg16 would hold
        // 26 MB per image at once.
        let plan = try network.scoringPlan(height: batch.shape[2], width: batch.shape[3], batch: batch.shape[0],
                                           memoryBytes: ScoreCAM.Options.defaultActivationMemory)
        let logits = network.forward(plan: plan) { batch.batchItems($0) }
        guard logits.rank == 2, logits.shape[0] == batch.shape[0] else {
            throw SaliencyError("the network output \(logits.shape) is not [N, classes]")
        }
        let classes = logits.shape[1]
        guard classIndex >= 0 && classIndex < classes else {
            throw SaliencyError("class \(classIndex) is out of range: the model has \(classes) classes (0...\(classes - 1))")
        }
        guard logits.scalars.allSatisfy(\.isFinite) else { throw SaliencyError("the network outputs non-finite logits") }
        return (0..<batch.shape[0]).map { n in
            Elementwise.softmax(Array(logits.scalars[(n * classes)..<((n + 1) * classes)]))[classIndex]
        }
    }
}

extension HeatmapMetrics {
    /// Computes the requested metrics of one heatmap.
    ///
    /// - Parameters:
    ///   - metrics: which to compute; `energy` only when `box` is given.
    ///   - input: `[1, C, H, W]`, the input the heatmap explains.
    ///   - map: the heatmap at input resolution.
    ///   - box: the object's box in input pixels.
    ///   - step: pixels per deletion/insertion step; `nil` is the input width.
    /// - Throws: ``SaliencyError`` for non-finite network outputs.
    public static func compute(
        _ metrics: Set<HeatmapMetric>, network: Network, input: Tensor, map: SaliencyMap, box: BoundingBox?,
        step: Int? = nil, batchSize: Int = 16, threads: Int = 1
    ) throws(SaliencyError) -> HeatmapMetrics {
        var result = HeatmapMetrics()
        if metrics.contains(.energy), let box {
            result.energy = Faithfulness.energy(heatmap: map.values, width: map.width, height: map.height, box: box)
        }
        if metrics.contains(.drop) {
            result.confidence = try Faithfulness.confidenceChange(
                network: network, input: input, heatmap: map.values, classIndex: map.classIndex)
        }
        for mode in [Faithfulness.CausalMode.deletion, .insertion]
        where metrics.contains(mode == .deletion ? .deletion : .insertion) {
            let curve = try Faithfulness.causalCurve(
                mode, network: network, input: input, heatmap: map.values, classIndex: map.classIndex, step: step,
                batchSize: batchSize, threads: threads)
            if mode == .deletion { result.deletion = curve } else { result.insertion = curve }
        }
        return result
    }
}
