public import CamwatchTensor

/// A small deterministic generator for reproducible noise and replayable random inputs: the engine's own
/// SplitMix64 under the name the tests use.
public typealias SeededGenerator = SplitMix64
