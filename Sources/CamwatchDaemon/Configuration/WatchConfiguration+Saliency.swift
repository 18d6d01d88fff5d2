public import CamwatchSaliency

extension WatchConfiguration {
    /// The method's options (Score-CAM's come from ``scoreCAMOptions``).
    public var methodOptions: CAMExplainer.Options {
        CAMExplainer.Options(scoreCAM: scoreCAMOptions, samples: self.methodSamples, seed: self.methodSeed)
    }

    /// Takes `saliency.method`, `saliency.samples` and `saliency.seed` from the file.
    ///
    /// - Throws: ``ConfigurationError`` naming the key for an unknown method or a sample count below 1.
    mutating func applySaliency(_ settings: ConfigFile.Saliency?, path: String?) throws(ConfigurationError) {
        guard let settings else { return }
        if let name = settings.method {
            guard let method = CAMMethod(rawValue: name) else {
                let names = CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError(path: path, reason: "saliency.method must be one of \(names); got '\(name)'")
            }
            self.method = method
        }
        if let samples = settings.samples {
            guard (1...1000).contains(samples) else {
                throw ConfigurationError(path: path, reason: "saliency.samples must be in 1...1000; got \(samples)")
            }
            self.methodSamples = samples
        }
        self.methodSeed = settings.seed ?? self.methodSeed
    }
}
