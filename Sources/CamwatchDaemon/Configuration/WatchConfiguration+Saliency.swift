public import CamwatchSaliency

extension WatchConfiguration {
    /// The method's options (Score-CAM's come from ``scoreCAMOptions``).
    public var methodOptions: CAMExplainer.Options {
        CAMExplainer.Options(scoreCAM: scoreCAMOptions, samples: self.methodSamples, seed: self.methodSeed)
    }

    /// Takes `saliency.method`, `saliency.samples` and `saliency.seed` from the file.
    ///
    /// - Throws: ``ConfigurationError`` naming the key for a sample count outside 1...1000 (an unknown method
    ///   is refused while the file is decoded).
    mutating func applySaliency(_ settings: ConfigFile.Saliency?, path: String?) throws(ConfigurationError) {
        guard let settings else { return }
        self.method = settings.method?.value ?? self.method
        if let samples = settings.samples {
            guard (1...1000).contains(samples) else {
                throw ConfigurationError(path: path, key: "saliency.samples", .invalid("must be in 1...1000; got \(samples)"))
            }
            self.methodSamples = samples
        }
        self.methodSeed = settings.seed ?? self.methodSeed
    }
}
