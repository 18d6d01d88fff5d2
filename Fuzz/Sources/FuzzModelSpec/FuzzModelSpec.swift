import CamwatchNN
import CamwatchTensor
import FuzzDriver

@_cdecl("FuzzModelSpec_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, testOneInput)
}

/// A spec's text must parse, bind and size without trapping, whatever it says: each step either succeeds
/// or throws. Small networks are also run, plain and optimized.
func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let spec = try? ModelSpec.parse(text(data, size)) else { return 0 }
    let network: Network
    do { network = try Network(spec: spec, parameters: SyntheticWeights.make(for: spec)) } catch { return 0 }
    if let declared = spec.inputSize {
        _ = try? network.shapes(inputHeight: declared.height, inputWidth: declared.width)
    }
    _ = try? network.shapes(inputHeight: Int.max, inputWidth: -1)
    guard network.inputChannels <= 64, let shapes = try? network.shapes(inputHeight: 12, inputWidth: 10),
        shapes.reduce(0, { $0 + $1.reduce(1, *) }) <= 1 << 16
    else { return 0 }
    let input = Tensor(shape: [1, network.inputChannels, 12, 10], scalars: (0..<(network.inputChannels * 120)).map { Float($0 % 11) / 11 })
    let output = network(input)
    let optimized = network.optimized()(input)
    precondition(output.shape == shapes[network.outputIndex] && optimized.shape == output.shape,
                 "forward shape \(output.shape) differs from shapes() \(shapes[network.outputIndex])")
    return 0
}

/// Weights of the shapes a spec implies, where the binder would find them, so that fuzzed specs get past
/// binding to the shape checks and the kernels. Sizes the spec leaves open get small defaults; a tensor
/// that would be large is left out (binding then reports it missing).
enum SyntheticWeights {
    struct Info {
        var channels: Int
        var isMap = true
        var fixedSpatial: (Int, Int)?
    }

    static let largest = 1 << 16

    static func make(for spec: ModelSpec) -> [String: Tensor] {
        var parameters: [String: Tensor] = [:]
        var infos: [String: Info] = [:]
        var previous = Info(channels: spec.inputChannels ?? 3)
        func add(_ name: String, _ shape: [Int]) {
            var count = 1
            for dimension in shape {
                guard dimension > 0 else { return }
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow, product <= largest else { return }
                count = product
            }
            parameters[name] = Tensor(shape: shape, scalars: (0..<count).map { Float($0 % 7 - 3) / 16 })
        }
        for (position, layer) in spec.layers.enumerated() {
            let sources = (layer.inputs ?? [position == 0 ? "input" : spec.layers[position - 1].name]).map {
                $0 == "input" ? Info(channels: spec.inputChannels ?? 3) : infos[$0] ?? previous
            }
            let x = sources.first ?? previous
            var out = x
            switch layer.op {
            case .conv2d:
                let o = layer.outChannels ?? 4
                let groups = max(1, layer.groups ?? 1)
                let kernel = layer.kernel ?? IntPair(3, 3)
                add(layer.name + ".weight", [o, x.channels / groups, kernel.height, kernel.width])
                if layer.bias ?? true { add(layer.name + ".bias", [o]) }
                out = Info(channels: o)
            case .linear:
                let features: Int
                if x.isMap, let (h, w) = x.fixedSpatial {
                    features = x.channels.multipliedReportingOverflow(by: h).partialValue.multipliedReportingOverflow(by: w).partialValue
                } else {
                    features = x.channels
                }
                let o = layer.outFeatures ?? 3
                add(layer.name + ".weight", [o, features])
                if layer.bias ?? true { add(layer.name + ".bias", [o]) }
                out = Info(channels: o, isMap: false)
            case .batchnorm:
                for suffix in ["weight", "bias", "running_mean"] { add(layer.name + "." + suffix, [x.channels]) }
                if x.channels > 0 && x.channels <= largest {
                    parameters[layer.name + ".running_var"] = Tensor(shape: [x.channels], repeating: 0.5)
                }
            case .adaptiveAvgpool:
                out.fixedSpatial = layer.outputSize.map { ($0.height, $0.width) }
            case .globalAvgpool, .globalMaxpool:
                out.fixedSpatial = (1, 1)
            case .flatten:
                let spatial = x.fixedSpatial ?? (0, 0)
                out = Info(channels: x.channels &* spatial.0 &* spatial.1, isMap: false)
            case .concat:
                out.channels = sources.reduce(0) { $0 &+ $1.channels }
            case .maxpool, .avgpool, .zeropad:
                out.fixedSpatial = nil
            default:
                break
            }
            infos[layer.name] = out
            previous = out
        }
        return parameters
    }
}
