import CamwatchHDF5
import CamwatchImage
import CamwatchNN

extension Checkpoint {
    /// How the model wants its input, as the checkpoint's root attributes say (`save_checkpoint`
    /// stores them, docs/formats.md "PyTorch checkpoints"): `input_size` (N, or [H, W], or [C, H, W]), `mean` and `std` (3 values
    /// each, in channel order), `scale` (the factor applied to 0…255 pixel values) and `channel_order`
    /// (`rgb` or `bgr`). Read by ``inputAttributes()``; ``PreprocessingResolver`` ranks them after the command line and the
    /// config file, before the model spec and the default.
    public typealias InputAttributes = PreprocessingValues

    /// The input attributes present, checked.
    /// - Throws: `CheckpointError` (`.unsupported`) naming the file and the attribute that cannot be used.
    public func inputAttributes() throws(CheckpointError) -> InputAttributes {
        func bad(_ name: String, _ expected: String) -> CheckpointError {
            CheckpointError(
                .unsupported, path: path, object: name,
                reason: "root attribute \(name) = \(attributes[name]?.description ?? "?") is not \(expected)")
        }
        var result = InputAttributes()
        if let value = attributes["input_size"] {
            let sizes: [Int]? =
                switch value {
                case .int(let n): [n, n]
                case .ints(let values) where values.count == 1: [values[0], values[0]]
                case .ints(let values) where values.count == 2 || values.count == 3: Array(values.suffix(2))
                case .doubles(let values) where values.count <= 3 && values.allSatisfy({ Int(exactly: $0) != nil }):
                    values.count == 1 ? [Int(values[0]), Int(values[0])] : values.suffix(2).map { Int($0) }
                case .double(let n) where Int(exactly: n) != nil: [Int(n), Int(n)]
                default: nil
                }
            guard let sizes, sizes.count == 2, sizes.allSatisfy({ (1...ModelLimits.extent).contains($0) }) else {
                throw bad("input_size", "a size in 1...\(ModelLimits.extent), [H, W] or [C, H, W]")
            }
            (result.height, result.width) = (sizes[0], sizes[1])
        }
        func triple(_ name: String) throws(CheckpointError) -> [Float]? {
            guard let value = attributes[name] else { return nil }
            let values: [Double]? =
                switch value {
                case .doubles(let values): values
                case .ints(let values): values.map(Double.init)
                default: nil
                }
            guard let values, values.count == 3, values.allSatisfy(\.isFinite) else {
                throw bad(name, "3 finite numbers")
            }
            return values.map(Float.init)
        }
        result.mean = try triple("mean")
        result.std = try triple("std")
        if let std = result.std, std.contains(0) { throw bad("std", "3 non-zero numbers") }
        if let value = attributes["scale"] {
            guard let scale = value.doubleValue, scale.isFinite, scale != 0 else {
                throw bad("scale", "a finite non-zero number")
            }
            result.scale = Float(scale)
        }
        if let value = attributes["channel_order"] {
            guard let name = value.stringValue, let order = Preprocessing.ChannelOrder(rawValue: name.lowercased()) else {
                throw bad("channel_order", "rgb or bgr")
            }
            result.channelOrder = order
        }
        return result
    }
}
