public import CamwatchNN
public import CamwatchTensor

/// The CAM methods camwatch computes, named as on the command line and in the watch configuration.
public enum CAMMethod: String, Sendable, CaseIterable, Codable {
    case scoreCAM = "scorecam"
    case gradCAM = "gradcam"
    case gradCAMPlusPlus = "gradcam++"
    case xGradCAM = "xgradcam"
    case layerCAM = "layercam"
    case hiResCAM = "hirescam"
    case eigenCAM = "eigencam"
    case ssCAM = "sscam"
    case isCAM = "iscam"

    /// The name papers use (`Grad-CAM++`).
    public var displayName: String {
        switch self {
        case .scoreCAM: "Score-CAM"
        case .gradCAM: "Grad-CAM"
        case .gradCAMPlusPlus: "Grad-CAM++"
        case .xGradCAM: "XGrad-CAM"
        case .layerCAM: "LayerCAM"
        case .hiResCAM: "HiResCAM"
        case .eigenCAM: "Eigen-CAM"
        case .ssCAM: "SS-CAM"
        case .isCAM: "IS-CAM"
        }
    }

    /// Whether the method needs a backward pass (one forward and one backward per image); the Score-CAM
    /// family needs a forward pass per channel (and sample) instead, Eigen-CAM one forward pass.
    public var usesGradients: Bool { gradientVariant != nil }

    var gradientVariant: GradientCAM.Variant? {
        switch self {
        case .gradCAM: .gradCAM
        case .gradCAMPlusPlus: .gradCAMPlusPlus
        case .xGradCAM: .xGradCAM
        case .layerCAM: .layerCAM
        case .hiResCAM: .hiResCAM
        default: nil
        }
    }
}

/// One CAM method prepared for one network and target layer: what `explain` and the watch service call.
public struct CAMExplainer: Sendable {
    /// Settings of the methods that have any.
    public struct Options: Sendable {
        /// Score-CAM's options; `batchSize` and `threads` also drive IS-CAM and SS-CAM.
        public var scoreCAM: ScoreCAM.Options
        /// IS-CAM / SS-CAM masked inputs per channel; `nil` for torch-cam's defaults (10 / 35).
        public var samples: Int?
        /// SS-CAM's noise standard deviation (torch-cam: 2).
        public var noiseStandardDeviation: Float
        /// SS-CAM's noise seed.
        public var seed: UInt64

        public init(scoreCAM: ScoreCAM.Options = ScoreCAM.Options(), samples: Int? = nil,
                    noiseStandardDeviation: Float = 2, seed: UInt64 = 0) {
            self.scoreCAM = scoreCAM
            self.samples = samples
            self.noiseStandardDeviation = noiseStandardDeviation
            self.seed = seed
        }
    }

    enum Engine: Sendable {
        case score(ScoreCAM)
        case gradient(GradientCAM)
        case eigen(EigenCAM)
        case smoothed(SmoothedScoreCAM)
    }

    public let method: CAMMethod
    let engine: Engine

    /// - Parameters:
    ///   - network: a classifier whose output is `[N, classes]`.
    ///   - targetLayer: a layer name or module prefix; `nil` picks the last conv-like layer.
    /// - Throws: ``SaliencyError`` when the layer does not exist or has no spatial output.
    public init(method: CAMMethod, network: Network, targetLayer: String? = nil, options: Options = Options()) throws {
        self.method = method
        let batch = options.scoreCAM.batchSize, threads = options.scoreCAM.threads
        let memory = options.scoreCAM.activationMemory
        switch method {
        case .scoreCAM:
            engine = .score(try ScoreCAM(network: network, targetLayer: targetLayer, options: options.scoreCAM))
        case .eigenCAM:
            engine = .eigen(try EigenCAM(network: network, targetLayer: targetLayer))
        case .isCAM:
            engine = .smoothed(try SmoothedScoreCAM(network: network, targetLayer: targetLayer, variant: .integrated,
                                                    samples: options.samples, batchSize: batch, threads: threads,
                                                    activationMemory: memory))
        case .ssCAM:
            engine = .smoothed(try SmoothedScoreCAM(
                network: network, targetLayer: targetLayer,
                variant: .smoothed(standardDeviation: options.noiseStandardDeviation), samples: options.samples,
                seed: options.seed, batchSize: batch, threads: threads, activationMemory: memory))
        case .gradCAM, .gradCAMPlusPlus, .xGradCAM, .layerCAM, .hiResCAM:
            engine = .gradient(try GradientCAM(network: network, targetLayer: targetLayer,
                                               variant: method.gradientVariant ?? .gradCAM))
        }
    }

    /// The target layer's node name.
    public var targetName: String {
        switch engine {
        case .score(let m): m.targetName
        case .gradient(let m): m.targetName
        case .eigen(let m): m.targetName
        case .smoothed(let m): m.targetName
        }
    }

    /// Explains one image.
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`, normalized as the network expects.
    ///   - classIndex: the class to explain; `nil` explains the predicted (argmax) class.
    ///   - progress: the Score-CAM family's (done, to do) after each batch of masked inputs.
    /// - Returns: the heatmap at `H × W` in [0, 1].
    /// - Throws: ``SaliencyError`` for a class out of range or non-finite network outputs.
    public func explain(_ input: Tensor, classIndex: Int? = nil,
                        progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> SaliencyMap {
        switch engine {
        case .score(let m): try m.explain(input, classIndex: classIndex, progress: progress)
        case .gradient(let m): try m.explain(input, classIndex: classIndex)
        case .eigen(let m): try m.explain(input, classIndex: classIndex)
        case .smoothed(let m): try m.explain(input, classIndex: classIndex, progress: progress)
        }
    }
}
