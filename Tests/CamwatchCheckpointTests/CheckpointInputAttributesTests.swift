import CamwatchCheckpoint
import CamwatchHDF5
import Testing

/// `input_size`, `mean`, `std`, `scale` root attributes as docs/formats.md's save_checkpoint stores them.
@Suite struct CheckpointInputAttributesTests {
    func checkpoint(_ attributes: [String: CheckpointAttribute]) -> Checkpoint {
        Checkpoint(path: "/run/epoch-003.h5", format: "pytorch", tensors: [:], attributes: attributes)
    }

    @Test("sizes as N, [N], [H, W], [C, H, W] (ints or whole floats); mean/std/scale as numbers")
    func readsWhatH5pyWrites() throws {
        let cases: [(CheckpointAttribute, Int, Int)] = [
            (.int(48), 48, 48), (.ints([48]), 48, 48), (.ints([32, 64]), 32, 64), (.ints([3, 32, 64]), 32, 64),
            (.double(48), 48, 48), (.doubles([32, 64]), 32, 64),
        ]
        for (value, height, width) in cases {
            let read = try checkpoint(["input_size": value]).inputAttributes()
            #expect(read.height == height && read.width == width, "\(value)")
        }
        let full = try checkpoint([
            "mean": .doubles([0.5, 0.25, 0.125]), "std": .ints([1, 2, 4]), "scale": .double(1),
        ]).inputAttributes()
        #expect(full == Checkpoint.InputAttributes(mean: [0.5, 0.25, 0.125], std: [1, 2, 4], scale: 1))
        #expect(try checkpoint([:]).inputAttributes() == Checkpoint.InputAttributes())
    }

    @Test("unusable values are errors naming the file and the attribute")
    func rejectsWhatCannotBeUsed() {
        let bad: [(String, CheckpointAttribute)] = [
            ("input_size", .int(0)), ("input_size", .string("48")), ("input_size", .ints([1, 2, 3, 4])),
            ("input_size", .double(47.5)), ("mean", .doubles([0.5, 0.5])), ("std", .doubles([0.2, 0, 0.2])),
            ("scale", .double(0)), ("mean", .string("imagenet")),
        ]
        for (name, value) in bad {
            do {
                _ = try checkpoint([name: value]).inputAttributes()
                Issue.record("accepted \(name) = \(value)")
            } catch {
                #expect(error.description.hasPrefix("/run/epoch-003.h5: root attribute \(name)"), "\(error)")
                #expect(error.object == name)
            }
        }
    }
}
