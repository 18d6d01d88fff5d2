import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchImage
import CamwatchNN
import Testing

/// One rule for every command's input — flag > config file > checkpoint attribute > model spec >
/// default — and one line saying where each value came from.
@Suite struct PreprocessingResolverTests {
    static let spec = ModelSpec(name: "s", inputSize: IntPair(96, 80), layers: [])
    static let attributes = Checkpoint.InputAttributes(
        height: 128, width: 128, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], scale: 1 / 127.5, channelOrder: .bgr)

    @Test("nothing said anywhere: torchvision's ImageNet preprocessing, every value from the default")
    func defaults() {
        let resolved = PreprocessingResolver.resolve()
        #expect(resolved.preprocessing == Preprocessing())
        #expect([resolved.size, resolved.mean, resolved.std, resolved.scale, resolved.channelOrder].allSatisfy { $0 == .default })
        #expect(resolved.summary == "preprocessing: 224×224 (default), ImageNet mean/std (default), scale 1/255 (default), RGB (default)")
    }

    @Test("the checkpoint's attributes beat the model spec and the default, value by value")
    func checkpointBeatsSpecAndDefault() {
        let resolved = PreprocessingResolver.resolve(checkpoint: Checkpoint.InputAttributes(height: 128, width: 128), spec: Self.spec)
        #expect(resolved.preprocessing.height == 128 && resolved.preprocessing.width == 128 && resolved.size == .checkpoint)
        #expect(resolved.mean == .default && resolved.scale == .default)
        let specOnly = PreprocessingResolver.resolve(checkpoint: Checkpoint.InputAttributes(), spec: Self.spec)
        #expect(specOnly.preprocessing.height == 96 && specOnly.preprocessing.width == 80 && specOnly.size == .modelSpec)
        let all = PreprocessingResolver.resolve(checkpoint: Self.attributes, spec: Self.spec)
        #expect(all.preprocessing == Preprocessing(
            height: 128, width: 128, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], scale: 1 / 127.5, channelOrder: .bgr))
        #expect(all.summary == "preprocessing: 128×128 (checkpoint), mean [0.5, 0.5, 0.5], std [0.25, 0.25, 0.25] "
            + "(checkpoint), scale 1/127.5 (checkpoint), BGR (checkpoint)")
        #expect(all.sizeSource == "the checkpoint's input_size attribute")
    }

    @Test("flag > config > checkpoint, for each value on its own")
    func flagsThenConfigThenCheckpoint() {
        let flags = PreprocessingValues(mean: [0, 0, 0], channelOrder: .rgb)
        let config = PreprocessingValues(height: 64, width: 64, mean: [1, 1, 1], std: [2, 2, 2])
        let resolved = PreprocessingResolver.resolve(flags: flags, config: config, checkpoint: Self.attributes, spec: Self.spec)
        let p = resolved.preprocessing
        #expect(p.height == 64 && resolved.size == .config)
        #expect(p.mean == [0, 0, 0] && resolved.mean == .flag)
        #expect(p.std == [2, 2, 2] && resolved.std == .config)
        #expect(p.scale == 1 / 127.5 && resolved.scale == .checkpoint)
        #expect(p.channelOrder == .rgb && resolved.channelOrder == .flag)
        #expect(resolved.summary == "preprocessing: 64×64 (config), mean [0.0, 0.0, 0.0] (flag), std [2.0, 2.0, 2.0] (config), "
            + "scale 1/127.5 (checkpoint), RGB (flag)")
        let sized = PreprocessingResolver.resolve(flags: PreprocessingValues(inputSize: 32), config: config, checkpoint: Self.attributes)
        #expect(sized.preprocessing.height == 32 && sized.preprocessing.width == 32 && sized.size == .flag)
        #expect(sized.sizeSource == "--input-size")
    }

    @Test("the checkpoint's attributes as h5py writes them, channel_order included, checked")
    func fromTheCheckpointsAttributes() throws {
        let checkpoint = Checkpoint(
            path: "/run/e1.h5", format: "pytorch-state-dict", tensors: [:],
            attributes: ["input_size": .ints([3, 48, 40]), "mean": .doubles([0.1, 0.2, 0.3]), "channel_order": .string("BGR")])
        let resolved = try PreprocessingResolver.resolve(flags: PreprocessingValues(), checkpoint: checkpoint, spec: nil)
        #expect(resolved.preprocessing.height == 48 && resolved.preprocessing.width == 40)
        #expect(resolved.preprocessing.mean == [0.1, 0.2, 0.3] && resolved.preprocessing.channelOrder == .bgr)
        #expect(resolved.std == .default)
        let bad = Checkpoint(path: "/run/e2.h5", format: "pytorch-state-dict", tensors: [:], attributes: ["channel_order": .string("grb")])
        #expect(throws: CheckpointError.self) { _ = try PreprocessingResolver.resolve(checkpoint: bad, spec: nil) }
        do { _ = try bad.inputAttributes() } catch {
            #expect(error.description == "/run/e2.h5: root attribute channel_order = \"grb\" is not rgb or bgr", "\(error)")
        }
    }

    @Test("scales print as the fraction they are, else as the number")
    func scaleText() {
        for (scale, text) in [(Float(1), "scale 1 (flag)"), (0.0173, "scale 0.0173 (flag)"), (1 / 127.5, "scale 1/127.5 (flag)")] {
            let summary = PreprocessingResolver.resolve(flags: PreprocessingValues(scale: scale)).summary
            #expect(summary.contains(text), "\(summary)")
        }
    }
}
