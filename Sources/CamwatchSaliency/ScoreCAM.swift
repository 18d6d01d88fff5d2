public import CamwatchNN
public import CamwatchTensor

import Synchronization

/// Score-CAM (Wang et al., CVPR-W 2020) on a native ``Network``.
///
/// The default semantics are pytorch-grad-cam's `ScoreCAM` (docs/architecture.md §4): masks from the target
/// layer's activations upsampled with `align_corners=True` and min-max normalized per channel (eps
/// 1e-8), each mask multiplying the normalized input, channel weights = softmax over channels of the
/// class logit, `ReLU(Σ α_k A_k)` at feature resolution, min-max (eps 1e-7), bilinear resize with
/// half-pixel centres, min-max again.
public struct ScoreCAM: Sendable {
    /// How channel scores become weights.
    public enum Weighting: String, Sendable, CaseIterable {
        /// Softmax over channels of the raw class logit (paper Algorithm 1; pytorch-grad-cam, torch-cam).
        case logitSoftmax = "logit-softmax"
        /// The class probability of each masked input, no channel softmax (the authors' code,
        /// tf-keras-vis).
        case probability
    }

    /// Tuning that leaves the definition alone, except `topChannels`.
    public struct Options: Sendable {
        public var weighting: Weighting = .logitSoftmax
        /// Faster Score-CAM: only the channels with the largest spatial standard deviation get a
        /// forward pass and a weight (tf-keras-vis `max_N`); `nil` uses every channel.
        public var topChannels: Int?
        /// Masked inputs per forward pass.
        public var batchSize: Int = 16
        /// The activations one worker's batch may hold at once, in bytes: where a whole batch would hold more,
        /// its widest layers run in micro-batches (``BatchPlan``; the scores are the same).
        public var activationMemory: Int = Options.defaultActivationMemory
        /// 64 MiB per worker: resnet18 at 224×224 runs whole batches of 16 within it; vgg16 (411 MB per batch
        /// of 16 around its second convolution) runs its 224- to 56-pixel layers two images at a time, which
        /// keeps its peak memory under half of pytorch-grad-cam's and, with fewer page faults, is faster too.
        public static let defaultActivationMemory = 64 << 20
        /// Batches scored at once, each on its own core with single-threaded BLAS.
        public var threads: Int = 1
        /// Build the first convolution's output for each mask from precomputed responses (``FirstLayerBasis``)
        /// instead of convolving each masked input; the same values up to float rounding.
        public var firstLayerBasis: Bool = true

        public init(
            weighting: Weighting = .logitSoftmax, topChannels: Int? = nil, batchSize: Int = 16, threads: Int = 1,
            firstLayerBasis: Bool = true, activationMemory: Int = Options.defaultActivationMemory
        ) {
            self.weighting = weighting
            self.topChannels = topChannels
            self.batchSize = batchSize
            self.activationMemory = activationMemory
            self.threads = max(1, threads)
            self.firstLayerBasis = firstLayerBasis
        }
    }

    /// The network, with batch norms folded except where that would change the target's output.
    public let network: Network
    /// The target layer's node index and name.
    public let targetIndex: Int
    public let targetName: String
    public var options: Options

    /// Prepares Score-CAM for one target layer.
    ///
    /// - Parameters:
    ///   - network: a classifier whose output is logits `[N, classes]`.
    ///   - targetLayer: a layer name or module prefix (`layer4`); `nil` picks the last conv-like layer.
    /// - Throws: ``SaliencyError`` when the layer does not exist (listing the candidates) or has no
    ///   spatial output.
    public init(network: Network, targetLayer: String? = nil, options: Options = Options()) throws {
        let index = try network.camTargetIndex(targetLayer)
        self.network = network.optimized(preserving: [index])
        self.targetIndex = index
        self.targetName = network.nodes[index].name
        self.options = options
    }

    /// Computes the class-discriminative heatmap for one preprocessed image.
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`, normalized as the network expects.
    ///   - classIndex: the class to explain; `nil` explains the predicted (argmax) class.
    ///   - progress: called after each batch with (channels done, channels to do).
    /// - Returns: the heatmap at `H × W` with values in [0, 1].
    /// - Throws: ``SaliencyError`` for a class out of range or non-finite network outputs.
    public func explain(_ input: Tensor, classIndex: Int? = nil,
                        progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> SaliencyMap {
        precondition(input.rank == 4 && input.shape[0] == 1, "explain takes one image [1, C, H, W], got \(input.shape)")
        let (height, width) = (input.shape[2], input.shape[3])
        // With several workers, BLAS stays single-threaded throughout: on a busy machine a multi-threaded
        // sgemm waits for a thread that is not running (measured: 2 BLAS threads made the serial start of
        // a run 5× slower under load), and the work that is not a batch is small.
        let previousBLASThreads = ComputeThreads.blasThreads
        if options.threads > 1 { ComputeThreads.setBLASThreads(1) }
        defer { if options.threads > 1 { ComputeThreads.setBLASThreads(previousBLASThreads) } }
        let (logits, activations, target) = try CAMFinish.forward(network, input: input, target: targetIndex,
                                                                  name: targetName, classIndex: classIndex)
        let (k, h, w) = (activations.shape[1], activations.shape[2], activations.shape[3])
        let channels = selectedChannels(activations)
        let scores = try channelScores(input: input, activations: activations, channels: channels, target: target,
                                       progress: progress)
        // Channel weights; unselected channels (top-N mode) weigh nothing.
        var weights = [Float](repeating: 0, count: k)
        switch options.weighting {
        case .logitSoftmax:
            let softmax = Elementwise.softmax(scores)
            for (i, channel) in channels.enumerated() { weights[channel] = softmax[i] }
        case .probability:
            for (i, channel) in channels.enumerated() { weights[channel] = scores[i] }
        }
        let (heatmap, low, isConstant) = CAMFinish.heatmap(CAMFinish.weightedSum(activations, weights: weights), h: h, w: w,
                                                           height: height, width: width)
        return SaliencyMap(
            classIndex: target, score: logits.scalars[target], width: width, height: height, values: heatmap,
            lowResolution: low, scoredChannels: channels, channelScores: scores,
            channelWeights: weights, isConstant: isConstant)
    }

    /// The channels that get a forward pass: all, or the top N by spatial standard deviation.
    func selectedChannels(_ activations: Tensor) -> [Int] {
        let k = activations.shape[1]
        guard let n = options.topChannels, n < k else { return Array(0..<k) }
        let plane = activations.shape[2] * activations.shape[3]
        let deviations: [Double] = (0..<k).map { channel in
            let values = activations.scalars[(channel * plane)..<((channel + 1) * plane)]
            let mean = values.reduce(0.0) { $0 + Double($1) } / Double(plane)
            return (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(plane)).squareRoot()
        }
        // Stable: ties keep channel order.
        return (0..<k).sorted { deviations[$0] > deviations[$1] || (deviations[$0] == deviations[$1] && $0 < $1) }
            .prefix(max(0, n)).map { $0 }
    }

    /// The score of class `target` for the input masked by each selected channel.
    ///
    /// Masked inputs are built batch by batch (never all at once) and scored on `options.threads`
    /// workers, each running whole batches with single-threaded BLAS: on a few cores that keeps every
    /// core busy through the parts of a forward pass that are not matrix products.
    func channelScores(input: Tensor, activations: Tensor, channels: [Int], target: Int,
                       progress: (@Sendable (Int, Int) -> Void)?) throws -> [Float] {
        let plane = activations.shape[2] * activations.shape[3]
        // A constant activation map gives an all-zero mask, hence the same masked input: score it once.
        var pending: [Int] = []
        var constant: [Int] = []
        for (i, channel) in channels.enumerated() {
            let values = activations.scalars[(channel * plane)..<((channel + 1) * plane)]
            if values.min() == values.max() { constant.append(i) } else { pending.append(i) }
        }
        var jobs: [ScoringJob] = constant.isEmpty ? [] : [.constantMaps]
        let batch = max(1, options.batchSize)
        for start in stride(from: 0, to: pending.count, by: batch) {
            jobs.append(.channels(Array(pending[start..<min(start + batch, pending.count)])))
        }
        let workers = max(1, min(options.threads, jobs.count))
        let basis = options.firstLayerBasis
            ? FirstLayerBasis(network: network, input: input, mapHeight: activations.shape[2],
                              mapWidth: activations.shape[3], workers: workers) : nil
        let plan = try network.scoringPlan(start: basis?.node ?? Network.inputIndex, height: input.shape[2],
                                           width: input.shape[3], batch: min(batch, max(1, pending.count)),
                                           memoryBytes: options.activationMemory)
        let work = ScoringWork(network: network, input: input, activations: activations, channels: channels,
                               constant: constant, jobs: jobs, target: target, weighting: options.weighting,
                               basis: basis, plan: plan)
        return try Self.scoreJobs(count: jobs.count, slots: channels.count, workers: workers, progress: progress) {
            work.score(job: $0)
        }
    }

    /// Runs jobs `0..<count` on `workers` threads (each job claimed by one worker, in order) and sums the
    /// (slot, score) pairs they return into `slots` totals (a slot only one job writes is just its score);
    /// the first failure stops the rest. Score-CAM, IS-/SS-CAM and the causal metrics batch with it.
    ///
    /// - Parameter progress: called after each job with (pairs done, `total`, by default `slots`).
    static func scoreJobs(
        count: Int, slots: Int, total: Int? = nil, workers: Int, progress: (@Sendable (Int, Int) -> Void)?,
        _ score: @Sendable (Int) -> Result<[(Int, Float)], SaliencyError>
    ) throws(SaliencyError) -> [Float] {
        let state = Mutex(ScoringState(scores: [Float](repeating: 0, count: slots), nextJob: 0, done: 0))
        ComputeThreads.perform(workers: max(1, min(workers, count))) { _ in
            while true {
                let claimed: Int? = state.withLock { s in
                    guard s.failure == nil, s.nextJob < count else { return nil }
                    s.nextJob += 1
                    return s.nextJob - 1
                }
                guard let index = claimed else { return }
                let result = score(index)
                let done = state.withLock { s -> Int in
                    switch result {
                    case .success(let pairs):
                        for (i, value) in pairs { s.scores[i] += value }
                        s.done += pairs.count
                    case .failure(let error): s.failure = error
                    }
                    return s.done
                }
                progress?(done, total ?? slots)
            }
        }
        let (scores, failure) = state.withLock { ($0.scores, $0.failure) }
        if let failure { throw failure }
        return scores
    }

    /// `(x − min) / (max − min + 1e-8)`: pytorch-grad-cam's per-channel mask normalization.
    static func maskScaled(_ values: [Float]) -> [Float] {
        let low = values.min() ?? 0, high = values.max() ?? 0
        let range = high - low + 1e-8
        return values.map { ($0 - low) / range }
    }

    /// `x − min`, then `/ (max + 1e-7)`: pytorch-grad-cam's `scale_cam_image`.
    static func minMaxScaled(_ values: [Float]) -> [Float] {
        let low = values.min() ?? 0
        let shifted = values.map { $0 - low }
        let high = shifted.max() ?? 0
        return shifted.map { $0 / (1e-7 + high) }
    }

    static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }
}

/// A CAM heatmap for one image (Score-CAM or another ``CAMMethod``).
public struct SaliencyMap: Sendable {
    /// The class explained.
    public var classIndex: Int
    /// That class's logit for the unmasked input.
    public var score: Float
    public var width: Int
    public var height: Int
    /// `height × width` values in [0, 1], row-major.
    public var values: [Float]
    /// The map at the target layer's resolution `[h, w]`, after ReLU and min-max (before resizing).
    public var lowResolution: Tensor
    /// The target layer's channels that got a masked forward pass (all, or the top N by spatial std).
    public var scoredChannels: [Int]
    /// The score of each scored channel's masked input (logit, or probability), parallel to `scoredChannels`.
    public var channelScores: [Float]
    /// One weight per channel of the target layer.
    public var channelWeights: [Float]
    /// Whether every value is the same (no channel contributed positively): reported, never NaN.
    public var isConstant: Bool
}

/// Why Score-CAM cannot run; the description is one line.
public struct SaliencyError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What is wrong.
    public enum Reason: Sendable, Equatable {
        /// A saliency method's own finding, in words (an unknown layer, non-finite logits, a class out of range).
        case message(String)
        /// The network's own error: an input size it cannot take, a layer name it does not have.
        case network(NetworkError)
    }

    public var reason: Reason

    public init(_ message: String) { reason = .message(message) }

    /// A failure the network reported, kept as it was thrown.
    public init(network error: NetworkError) { reason = .network(error) }

    /// The error underneath, when the network's error is the reason.
    public var cause: NetworkError? {
        if case .network(let error) = reason { return error }
        return nil
    }

    /// The message: the same as `description`.
    public var message: String { description }

    public var description: String {
        switch reason {
        case .message(let message): message
        case .network(let error): error.description
        }
    }
}

extension Network {
    /// ``batchPlan(start:inputHeight:inputWidth:batch:memoryBytes:)`` for the batches of masked or perturbed
    /// inputs the saliency methods score, its error as a ``SaliencyError``.
    func scoringPlan(
        start: Int = Network.inputIndex, height: Int, width: Int, batch: Int, memoryBytes: Int
    ) throws(SaliencyError) -> BatchPlan {
        do {
            return try batchPlan(start: start, inputHeight: height, inputWidth: width, batch: batch,
                                 memoryBytes: memoryBytes)
        } catch { throw SaliencyError(network: error) }
    }
}

/// What the scoring workers share, behind one lock.
struct ScoringState: ~Copyable {
    var scores: [Float]
    var nextJob: Int
    var done: Int
    var failure: SaliencyError?
}

/// One batch of masked inputs for a scoring worker.
enum ScoringJob: Sendable {
    /// Positions in `channels`, one masked input each.
    case channels([Int])
    /// The channels whose maps are constant: their masks are all zero, the same input, scored once for all.
    case constantMaps

    /// The masked input of each slot: the channel's position, or `nil` for the all-zero mask.
    var slots: [Int?] {
        switch self {
        case .channels(let positions): positions
        case .constantMaps: [nil]
        }
    }
}

/// One Score-CAM run's read-only inputs for the scoring workers.
struct ScoringWork: Sendable {
    let network: Network
    let input: Tensor
    let activations: Tensor
    let channels: [Int]
    /// Positions in `channels` whose maps are constant; scored together by the job `.constantMaps`.
    let constant: [Int]
    let jobs: [ScoringJob]
    let target: Int
    let weighting: ScoreCAM.Weighting
    /// The first convolution's responses to the mask basis, when that shortcut applies.
    let basis: FirstLayerBasis?
    /// How a full batch runs (from the basis node's output, or from the masked inputs).
    let plan: BatchPlan

    /// Builds one batch of masked inputs, runs it, and returns (position, score) pairs.
    func score(job index: Int) -> Result<[(Int, Float)], SaliencyError> {
        let job = jobs[index].slots
        let (c, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        let (h, w) = (activations.shape[2], activations.shape[3])
        let plane = h * w, pixels = height * width
        // A job's inputs are built per micro-batch of the plan: a whole batch's first-layer outputs can be
        // hundreds of MB (vgg16), which is what the plan keeps from being held at once.
        let plan = self.plan.resized(to: job.count)
        let logits: Tensor
        if let basis {
            // mask = (U(A) − min) / (max − min + 1e-8) = Σ_j a_j·φ_j with a_j = (A_j − min) / (max − min + 1e-8),
            // as the bilinear weights φ_j sum to one at every pixel; min and max are the upsampled map's.
            var coefficients = [Float](repeating: 0, count: job.count * plane)
            for (slot, position) in job.enumerated() {
                guard let i = position else { continue }  // the all-zero mask: coefficients stay 0
                let channel = channels[i]
                let values = Array(activations.scalars[(channel * plane)..<((channel + 1) * plane)])
                let upsampled = Resize.bilinear(Tensor(shape: [h, w], scalars: values), height: height, width: width,
                                                alignCorners: true).scalars
                let low = upsampled.min() ?? 0, range = (upsampled.max() ?? 0) - low + 1e-8
                for j in 0..<plane { coefficients[slot * plane + j] = (values[j] - low) / range }
            }
            logits = network.forward(plan: plan) { slots in
                basis.output(coefficients: Array(coefficients[(slots.lowerBound * plane)..<(slots.upperBound * plane)]),
                             batch: slots.count)
            }
        } else {
            logits = network.forward(plan: plan) { slots in
                var masked = [Float](repeating: 0, count: slots.count * c * pixels)
                for (slot, position) in job[slots].enumerated() {
                    guard let i = position else { continue }  // the all-zero mask: the input times 0
                    let channel = channels[i]
                    let values = Array(activations.scalars[(channel * plane)..<((channel + 1) * plane)])
                    let upsampled = Resize.bilinear(Tensor(shape: [h, w], scalars: values), height: height,
                                                    width: width, alignCorners: true)
                    let mask = ScoreCAM.maskScaled(upsampled.scalars)
                    input.scalars.withUnsafeBufferPointer { x in
                        masked.withUnsafeMutableBufferPointer { out in
                            for channelIn in 0..<c {
                                let base = (slot * c + channelIn) * pixels, source = channelIn * pixels
                                for p in 0..<pixels { out[base + p] = x[source + p] * mask[p] }
                            }
                        }
                    }
                }
                return Tensor(shape: [slots.count, c, height, width], scalars: masked)
            }
        }
        let classes = logits.shape[1]
        guard logits.scalars.allSatisfy(\.isFinite) else { return .failure(SaliencyError("the network outputs non-finite logits")) }
        var pairs: [(Int, Float)] = []
        for (slot, position) in job.enumerated() {
            let row = Array(logits.scalars[(slot * classes)..<((slot + 1) * classes)])
            let score = weighting == .logitSoftmax ? row[target] : Elementwise.softmax(row)[target]
            if let position { pairs.append((position, score)) } else { pairs += constant.map { ($0, score) } }
        }
        return .success(pairs)
    }
}

/// The network's first convolution applied to every Score-CAM masked input without convolving it.
///
/// A mask is the bilinear upsampling of an `h × w` map, min-max scaled: `m = Σ_j a_j·φ_j`, where `φ_j` is
/// the upsampling of the one-hot map of position `j` (the `φ_j` sum to one at every pixel, so the affine
/// scaling moves into the coefficients `a_j`). The convolution without its bias is linear, so
/// `conv(x ⊙ m) = Σ_j a_j · conv(x ⊙ φ_j) + bias`: the `h·w` responses `R_j = conv(x ⊙ φ_j)` are computed
/// once per image, and each mask's first-layer output costs a weighted sum of them instead of a
/// convolution. Each `R_j` is zero outside a box (φ_j's support, widened by the kernel), so only the boxes
/// are kept. The same values as convolving the masked input, up to float rounding (~1e-7 relative).
struct FirstLayerBasis: Sendable {
    /// The node whose output this builds: the network's first, a convolution that alone reads the input, or the
    /// max pooling that alone reads that convolution (through folded identities), pooled as each plane is built.
    let node: Int
    let channels: Int
    /// The convolution's output size.
    let height: Int
    let width: Int
    let bias: [Float]
    let activation: Activation?
    /// The max pooling folded in, and its output size.
    let pool: (geometry: WindowGeometry, height: Int, width: Int)?
    /// Per basis position `j`: first output row and column, rows, columns, and offset into `values`
    /// (`[channels, rows, columns]` there).
    let boxes: [(top: Int, left: Int, rows: Int, columns: Int, offset: Int)]
    let values: [Float]

    /// The largest response store kept (64 MiB), and the largest share of the convolution's work the
    /// weighted sums may cost.
    static let valueBudget = 16 << 20
    static let maximumCostShare = 0.25

    /// Precomputes the responses, or `nil` when the network does not start with a convolution that alone
    /// reads the input, or when the shortcut would not pay.
    ///
    /// - Parameters:
    ///   - network: the optimized network Score-CAM runs.
    ///   - input: `[1, C, H, W]`.
    ///   - mapHeight, mapWidth: the target layer's map size (the masks' resolution before upsampling).
    ///   - costShare: the largest share of the convolution's work the weighted sums may cost.
    ///   - workers: basis positions convolved at once (each with the caller's BLAS threads).
    init?(
        network: Network, input: Tensor, mapHeight h: Int, mapWidth w: Int, costShare: Double = maximumCostShare,
        workers: Int = 1
    ) {
        guard let first = network.nodes.first, first.inputs == [Network.inputIndex], network.outputIndex > 0,
            case .conv2d(let conv) = first.layer,
            network.nodes.dropFirst().allSatisfy({ !$0.inputs.contains(Network.inputIndex) })
        else { return nil }
        let (c, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        let geometry = conv.geometry(height: height, width: width)
        let (oh, ow) = geometry.outputSize(height: height, width: width)
        let o = conv.outputChannels
        let positions = h * w
        // The weighted sums touch about (2 · OH/h) × (2 · OW/w) outputs per position and channel.
        let boxArea = (2.0 * Double(oh) / Double(h) + 3) * (2.0 * Double(ow) / Double(w) + 3)
        let estimated = Double(positions) * Double(o) * boxArea
        let convolution = Double(o * oh * ow) * Double(conv.weight.scalarCount / o)
        guard estimated <= costShare * convolution, estimated <= Double(Self.valueBudget) else { return nil }
        channels = o
        self.height = oh
        self.width = ow
        (node, pool) = Self.pooling(after: 0, in: network, height: oh, width: ow) ?? (0, nil)
        bias = conv.bias ?? [Float](repeating: 0, count: o)
        activation = conv.activation
        typealias Box = (top: Int, left: Int, rows: Int, columns: Int, offset: Int)
        let pixels = height * width
        let (reachY, reachX) = ((geometry.kernelHeight - 1) * geometry.dilationHeight,
                                (geometry.kernelWidth - 1) * geometry.dilationWidth)
        let (strideY, strideX) = (geometry.strideHeight, geometry.strideWidth)
        let cropGeometry = WindowGeometry(kernel: (geometry.kernelHeight, geometry.kernelWidth), stride: (strideY, strideX),
                                          dilation: (geometry.dilationHeight, geometry.dilationWidth))
        /// ⌈n / d⌉ for d > 0 and any n.
        @Sendable func ceilingDivision(_ n: Int, _ d: Int) -> Int { n >= 0 ? (n + d - 1) / d : -((-n) / d) }
        // Each position's box (offset within its own values) and values, filled by the workers.
        let results = Mutex([(Box, [Float])?](repeating: nil, count: positions))
        let next = Mutex(0)
        ComputeThreads.perform(workers: min(workers, positions)) { _ in
            while true {
                let j: Int = next.withLock { n in
                    defer { n += 1 }
                    return n
                }
                guard j < positions else { return }
                var oneHot = [Float](repeating: 0, count: positions)
                oneHot[j] = 1
                let phi = Resize.bilinear(Tensor(shape: [h, w], scalars: oneHot), height: height, width: width,
                                          alignCorners: true).scalars
                var (y0, y1, x0, x1) = (height, -1, width, -1)
                for y in 0..<height {
                    for x in 0..<width where phi[y * width + x] != 0 {
                        (y0, y1, x0, x1) = (min(y0, y), max(y1, y), min(x0, x), max(x1, x))
                    }
                }
                // Only the outputs whose window meets φ_j's support can differ from zero: convolve the input
                // under them (zeros outside the image, as the padding) instead of the whole masked image.
                let (oy0, oy1) = (max(0, ceilingDivision(y0 + geometry.padTop - reachY, strideY)),
                                  min(oh - 1, (y1 + geometry.padTop) / strideY))
                let (ox0, ox1) = (max(0, ceilingDivision(x0 + geometry.padLeft - reachX, strideX)),
                                  min(ow - 1, (x1 + geometry.padLeft) / strideX))
                guard y1 >= y0, oy1 >= oy0, ox1 >= ox0 else {
                    results.withLock { $0[j] = ((0, 0, 0, 0, 0), []) }
                    continue
                }
                let top = oy0 * strideY - geometry.padTop, rows = (oy1 - oy0) * strideY + reachY + 1
                let left = ox0 * strideX - geometry.padLeft, columns = (ox1 - ox0) * strideX + reachX + 1
                var crop = [Float](repeating: 0, count: c * rows * columns)
                for channel in 0..<c {
                    for r in 0..<rows where (0..<height).contains(top + r) {
                        let y = top + r
                        for q in 0..<columns where (0..<width).contains(left + q) {
                            let p = y * width + left + q
                            crop[(channel * rows + r) * columns + q] = input.scalars[channel * pixels + p] * phi[p]
                        }
                    }
                }
                let response = Convolution.forward(
                    Tensor(shape: [1, c, rows, columns], scalars: crop), weight: conv.weight, bias: nil,
                    geometry: cropGeometry, groups: conv.groups, winograd: conv.winograd).scalars
                let (rh, rw) = (oy1 - oy0 + 1, ox1 - ox0 + 1)
                // The box is the nonzero part of the response, in output coordinates.
                var (bottom, right) = (-1, -1)
                var (first, leftmost) = (rh, rw)
                for channel in 0..<o {
                    for y in 0..<rh {
                        for x in 0..<rw where response[(channel * rh + y) * rw + x] != 0 {
                            (first, bottom, leftmost, right) = (min(first, y), max(bottom, y), min(leftmost, x), max(right, x))
                        }
                    }
                }
                guard bottom >= first else {
                    results.withLock { $0[j] = ((0, 0, 0, 0, 0), []) }
                    continue
                }
                var values: [Float] = []
                values.reserveCapacity(o * (bottom - first + 1) * (right - leftmost + 1))
                for channel in 0..<o {
                    for y in first...bottom {
                        let start = (channel * rh + y) * rw
                        values.append(contentsOf: response[(start + leftmost)...(start + right)])
                    }
                }
                let box: Box = (oy0 + first, ox0 + leftmost, bottom - first + 1, right - leftmost + 1, 0)
                results.withLock { $0[j] = (box, values) }
            }
        }
        var boxes: [Box] = []
        var values: [Float] = []
        for result in results.withLock({ $0 }) {
            guard let (box, boxValues) = result else { continue }
            boxes.append((box.top, box.left, box.rows, box.columns, values.count))
            values += boxValues
        }
        self.boxes = boxes
        self.values = values
    }

    /// The undilated max pooling that alone reads node `index`'s output (through identities, each with one
    /// reader), with its output size; `nil` when there is none. Pooling each plane as it is built saves writing the
    /// convolution's output out and reading it back (resnet18: 3.2 MB per image).
    static func pooling(
        after index: Int, in network: Network, height: Int, width: Int
    ) -> (node: Int, pool: (geometry: WindowGeometry, height: Int, width: Int))? {
        var source = index
        while true {
            let readers = network.nodes.indices.filter { network.nodes[$0].inputs.contains(source) }
            guard readers.count == 1, let reader = readers.first, network.nodes[reader].inputs == [source],
                reader < network.outputIndex
            else { return nil }
            switch network.nodes[reader].layer {
            case .identity:
                source = reader
            case .maxPool(var g, let ceilMode, let same) where g.dilationHeight == 1 && g.dilationWidth == 1:
                if same { g = g.samePadded(height: height, width: width) }
                let size = Pooling.outputSize(height: height, width: width, geometry: g, ceilMode: ceilMode, dilated: true)
                return (reader, (g, size.height, size.width))
            default:
                return nil
            }
        }
    }

    /// The output of ``node`` for a batch of masks.
    ///
    /// - Parameter coefficients: `[batch, h·w]`, each mask's `a_j`.
    /// - Returns: `[batch, channels, height, width]`, bias added and activation applied, or that pooled by
    ///   ``pool``.
    func output(coefficients: [Float], batch: Int) -> Tensor {
        let plane = height * width
        let positions = boxes.count
        precondition(coefficients.count == batch * positions, "\(coefficients.count) coefficients for \(batch) masks")
        let (outHeight, outWidth) = pool.map { ($0.height, $0.width) } ?? (height, width)
        let outPlane = outHeight * outWidth
        var out = [Float](unsafeUninitializedCapacity: batch * channels * outPlane) { _, count in
            count = batch * channels * outPlane
        }
        // With a pooling, each plane is built here and pooled into the output while it is in the caches.
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: pool == nil ? 0 : plane)
        defer { scratch.deallocate() }
        values.withUnsafeBufferPointer { r in
            coefficients.withUnsafeBufferPointer { a in
                out.withUnsafeMutableBufferPointer { o in
                    // Channel-major, so one channel's responses stay in cache across the batch.
                    for channel in 0..<channels {
                        for slot in 0..<batch {
                            let target = o.baseAddress! + (slot * channels + channel) * outPlane
                            let destination = pool == nil ? target : scratch
                            destination.update(repeating: bias[channel], count: plane)
                            for j in 0..<positions {
                                let weight = a[slot * positions + j]
                                let box = boxes[j]
                                guard weight != 0, box.rows > 0 else { continue }
                                let source = r.baseAddress! + box.offset + channel * box.rows * box.columns
                                for y in 0..<box.rows {
                                    let line = destination + (box.top + y) * width + box.left
                                    let response = source + y * box.columns
                                    for x in 0..<box.columns { line[x] += weight * response[x] }
                                }
                            }
                            activation?.apply(to: UnsafeMutableBufferPointer(start: destination, count: plane))
                            if let pool {
                                Pooling.maxPlane(scratch, height: height, width: width, geometry: pool.geometry,
                                                 outputSize: (pool.height, pool.width), into: target)
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [batch, channels, outHeight, outWidth], scalars: out)
    }
}
