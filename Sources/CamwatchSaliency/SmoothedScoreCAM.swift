public import CamwatchNN
public import CamwatchTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// IS-CAM (Naidu et al., 2020) and SS-CAM (Wang et al., 2020) on a native ``Network``, as torch-cam's
/// `ISCAM` and `SSCAM` compute them (torchcam 0.5): Score-CAM with each channel's score averaged over
/// `samples` masked inputs.
///
/// Masks follow torch-cam, not pytorch-grad-cam: each activation map is min-max normalized at the target
/// layer's resolution (eps 1e-8) and then upsampled bilinearly with half-pixel centres
/// (`align_corners=False`). IS-CAM scores `x ⊙ (c_i · M_k)` with `c_i = Σ_{j≤i} j/N` for `i = 1…N`; SS-CAM
/// scores `x ⊙ (M_k + δ)` with `δ ~ N(0, σ²)` drawn per pixel, channel and sample (torch-cam: σ = 2, N = 35).
/// The weights are the softmax over channels of the mean of `score − score(x)`. The map
/// `ReLU(Σ_k w_k A_k)` min-max normalized at the layer's resolution is torch-cam's output
/// (``SaliencyMap/lowResolution``, eps 1e-7 instead of 1e-8); camwatch then resizes it as every method.
public struct SmoothedScoreCAM: Sendable {
    public enum Variant: Sendable {
        /// Integrated Score-CAM: masks scaled along a path from 0.
        case integrated
        /// Smoothed Score-CAM: Gaussian noise added to the masks.
        case smoothed(standardDeviation: Float)
    }

    public let network: Network
    public let targetIndex: Int
    public let targetName: String
    public let variant: Variant
    /// Masked inputs per channel (torch-cam: 10 for IS-CAM, 35 for SS-CAM).
    public var samples: Int
    /// The seed of SS-CAM's noise; the same seed gives the same map, whatever `threads` is.
    public var seed: UInt64
    /// Masked inputs per forward pass, and batches scored at once.
    public var batchSize: Int
    public var threads: Int
    /// The activations one worker's batch may hold at once (``ScoreCAM/Options/activationMemory``).
    public var activationMemory: Int

    /// - Throws: ``SaliencyError`` when the layer does not exist or has no spatial output.
    public init(
        network: Network, targetLayer: String? = nil, variant: Variant, samples: Int? = nil, seed: UInt64 = 0,
        batchSize: Int = 16, threads: Int = 1, activationMemory: Int = ScoreCAM.Options.defaultActivationMemory
    ) throws {
        let index = try network.camTargetIndex(targetLayer)
        self.network = network.optimized(preserving: [index])
        targetIndex = index
        targetName = network.nodes[index].name
        self.variant = variant
        switch variant {
        case .integrated: self.samples = max(1, samples ?? 10)
        case .smoothed: self.samples = max(1, samples ?? 35)
        }
        self.seed = seed
        self.batchSize = max(1, batchSize)
        self.threads = max(1, threads)
        self.activationMemory = activationMemory
    }

    /// Explains one image.
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`, normalized as the network expects.
    ///   - classIndex: the class to explain; `nil` explains the predicted (argmax) class.
    ///   - progress: called after each batch with (masked inputs done, masked inputs to do).
    /// - Returns: the heatmap at `H × W` in [0, 1].
    public func explain(_ input: Tensor, classIndex: Int? = nil,
                        progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> SaliencyMap {
        precondition(input.rank == 4 && input.shape[0] == 1, "explain takes one image [1, C, H, W], got \(input.shape)")
        let (height, width) = (input.shape[2], input.shape[3])
        let (logits, activations, target) = try CAMFinish.forward(network, input: input, target: targetIndex,
                                                                  name: targetName, classIndex: classIndex)
        let (k, h, w) = (activations.shape[1], activations.shape[2], activations.shape[3])
        let plane = h * w
        var normalized = activations.scalars
        for channel in 0..<k {
            let range = (channel * plane)..<((channel + 1) * plane)
            let low = normalized[range].min() ?? 0
            let high = (normalized[range].max() ?? 0) - low
            for i in range { normalized[i] = (normalized[i] - low) / (high + 1e-8) }
        }
        let masks = Resize.bilinear(Tensor(shape: [k, h, w], scalars: normalized), height: height, width: width,
                                    alignCorners: false)
        let baseline = logits.scalars[target]
        // A job is one batch of channels for one sample.
        let batches = (k + batchSize - 1) / batchSize
        let plan = try network.scoringPlan(height: height, width: width, batch: min(batchSize, k),
                                           memoryBytes: activationMemory)
        let work = SmoothingWork(network: network, input: input, masks: masks, target: target, variant: variant,
                                 samples: samples, seed: seed, batchSize: batchSize, batches: batches, plan: plan)
        let sums = try ScoreCAM.scoreJobs(count: samples * batches, slots: k, total: samples * k, workers: threads,
                                          progress: progress) { work.score(job: $0) }
        let means = sums.map { $0 / Float(samples) - baseline }
        let weights = Elementwise.softmax(means)
        let (values, low, isConstant) = CAMFinish.heatmap(CAMFinish.weightedSum(activations, weights: weights), h: h, w: w,
                                                          height: height, width: width)
        return SaliencyMap(
            classIndex: target, score: baseline, width: width, height: height, values: values, lowResolution: low,
            scoredChannels: Array(0..<k), channelScores: means, channelWeights: weights, isConstant: isConstant)
    }
}

/// One IS-CAM or SS-CAM run's read-only inputs for the scoring workers.
struct SmoothingWork: Sendable {
    let network: Network
    let input: Tensor
    /// `[K, H, W]`: the normalized, upsampled activation maps.
    let masks: Tensor
    let target: Int
    let variant: SmoothedScoreCAM.Variant
    let samples: Int
    let seed: UInt64
    let batchSize: Int
    let batches: Int
    /// How a full batch runs; masked inputs are built per micro-batch.
    let plan: BatchPlan

    /// Scores one batch of channels for one sample: (channel, class score) pairs.
    func score(job: Int) -> Result<[(Int, Float)], SaliencyError> {
        let sample = job / batches, first = (job % batches) * batchSize
        let k = masks.shape[0]
        let channels = first..<min(first + batchSize, k)
        let logits = network.forward(plan: plan.resized(to: channels.count)) { slots in
            maskedInputs(sample: sample, channels: (first + slots.lowerBound)..<(first + slots.upperBound))
        }
        guard logits.scalars.allSatisfy(\.isFinite) else { return .failure(SaliencyError("the network outputs non-finite logits")) }
        let classes = logits.shape[1]
        return .success(channels.enumerated().map { slot, channel in (channel, logits.scalars[slot * classes + target]) })
    }

    /// The input under each channel's mask for one sample: `[channels.count, C, H, W]`.
    func maskedInputs(sample: Int, channels: Range<Int>) -> Tensor {
        let (c, pixels) = (input.shape[1], input.shape[2] * input.shape[3])
        let k = masks.shape[0]
        var masked = [Float](repeating: 0, count: channels.count * c * pixels)
        var mask = [Float](repeating: 0, count: pixels)
        for (slot, channel) in channels.enumerated() {
            mask.replaceSubrange(0..<pixels, with: masks.scalars[(channel * pixels)..<((channel + 1) * pixels)])
            switch variant {
            case .integrated:
                // c_i = Σ_{j ≤ i} j / N, i = sample + 1.
                let coefficient = Float((sample + 1) * (sample + 2) / 2) / Float(samples)
                for p in 0..<pixels { mask[p] *= coefficient }
            case .smoothed(let sigma):
                // One stream per (sample, channel): the noise does not depend on batching or threads.
                var noise = GaussianNoise(seed: seed, stream: UInt64(sample * k + channel))
                for p in 0..<pixels { mask[p] += sigma * noise.next() }
            }
            for channelIn in 0..<c {
                let base = (slot * c + channelIn) * pixels, source = channelIn * pixels
                for p in 0..<pixels { masked[base + p] = input.scalars[source + p] * mask[p] }
            }
        }
        return Tensor(shape: [channels.count, c, input.shape[2], input.shape[3]], scalars: masked)
    }
}

/// Standard normal samples from a seeded SplitMix64 stream (Box–Muller): reproducible noise for SS-CAM.
struct GaussianNoise {
    var bits: SplitMix64
    var spare: Float?

    init(seed: UInt64, stream: UInt64) {
        bits = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ (stream &+ 1) &* 0xD1B5_4A32_D192_ED03)
    }

    /// A uniform double in (0, 1].
    mutating func uniform() -> Double { (Double(bits.next() >> 11) + 1) / 9_007_199_254_740_992 }

    mutating func next() -> Float {
        if let value = spare {
            spare = nil
            return value
        }
        let radius = (-2 * log(uniform())).squareRoot()
        let angle = 2 * Double.pi * uniform()
        spare = Float(radius * sin(angle))
        return Float(radius * cos(angle))
    }
}
