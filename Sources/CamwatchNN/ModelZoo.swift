/// Built-in architectures with torchvision's exact state_dict key names, so that a PyTorch user's
/// `model.state_dict()` exported to HDF5 loads as it is. The number of classes comes from the weights.
public enum ModelZoo {
    /// Every architecture name the zoo knows.
    public static let names: [String] = [
        "alexnet", "mobilenet_v2", "resnet18", "resnet34", "resnet50",
        "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    ]

    /// The spec of a zoo architecture, or `nil` for an unknown name.
    public static func spec(named name: String) -> ModelSpec? {
        switch name {
        case "resnet18": return resnet(name, blocks: [2, 2, 2, 2], bottleneck: false)
        case "resnet34": return resnet(name, blocks: [3, 4, 6, 3], bottleneck: false)
        case "resnet50": return resnet(name, blocks: [3, 4, 6, 3], bottleneck: true)
        case "vgg11", "vgg11_bn": return vgg(name, layout: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0])
        case "vgg13", "vgg13_bn": return vgg(name, layout: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0])
        case "vgg16", "vgg16_bn":
            return vgg(name, layout: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0])
        case "vgg19", "vgg19_bn":
            return vgg(name, layout: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
                                      512, 512, 512, 512, 0])
        case "mobilenet_v2": return mobileNetV2()
        case "alexnet": return alexNet()
        default: return nil
        }
    }

    // MARK: - ResNet (torchvision v1.5: the stride sits on the 3×3 convolution)

    static func resnet(_ name: String, blocks: [Int], bottleneck: Bool) -> ModelSpec {
        var b = SpecBuilder(name: name)
        b.conv("conv1", out: 64, kernel: 7, stride: 2, padding: 3, bias: false)
        b.batchNorm("bn1")
        b.activation("relu", .relu)
        b.pool("maxpool", op: .maxpool, kernel: 3, stride: 2, padding: 1)
        var channels = 64
        for (stage, count) in blocks.enumerated() {
            let planes = 64 << stage
            for block in 0..<count {
                let prefix = "layer\(stage + 1).\(block)"
                let stride = (stage > 0 && block == 0) ? 2 : 1
                let identity = b.last
                let out = bottleneck ? planes * 4 : planes
                if bottleneck {
                    b.conv("\(prefix).conv1", out: planes, kernel: 1, bias: false)
                    b.batchNorm("\(prefix).bn1")
                    b.activation("\(prefix).relu", .relu)
                    b.conv("\(prefix).conv2", out: planes, kernel: 3, stride: stride, padding: 1, bias: false)
                    b.batchNorm("\(prefix).bn2")
                    b.activation("\(prefix).relu_1", .relu)
                    b.conv("\(prefix).conv3", out: out, kernel: 1, bias: false)
                    b.batchNorm("\(prefix).bn3")
                } else {
                    b.conv("\(prefix).conv1", out: planes, kernel: 3, stride: stride, padding: 1, bias: false)
                    b.batchNorm("\(prefix).bn1")
                    b.activation("\(prefix).relu", .relu)
                    b.conv("\(prefix).conv2", out: planes, kernel: 3, padding: 1, bias: false)
                    b.batchNorm("\(prefix).bn2")
                }
                let residual = b.last
                var shortcut = identity
                if stride != 1 || channels != out {
                    b.conv("\(prefix).downsample.0", out: out, kernel: 1, stride: stride, bias: false, from: identity)
                    b.batchNorm("\(prefix).downsample.1")
                    shortcut = b.last
                }
                b.add("\(prefix).add", residual, shortcut)
                b.activation("\(prefix).relu_out", .relu)
                channels = out
            }
        }
        b.pool("avgpool", op: .adaptiveAvgpool, outputSize: 1)
        b.plain("flatten", .flatten)
        b.linear("fc")
        return b.spec
    }

    // MARK: - VGG (`layout`: channel counts, 0 for a 2×2 max pool)

    static func vgg(_ name: String, layout: [Int]) -> ModelSpec {
        let batchNorm = name.hasSuffix("_bn")
        var b = SpecBuilder(name: name)
        var index = 0
        for channels in layout {
            if channels == 0 {
                b.pool("features.\(index)", op: .maxpool, kernel: 2, stride: 2)
                index += 1
                continue
            }
            b.conv("features.\(index)", out: channels, kernel: 3, padding: 1, bias: true)
            index += 1
            if batchNorm {
                b.batchNorm("features.\(index)")
                index += 1
            }
            b.activation("features.\(index)", .relu)
            index += 1
        }
        b.pool("avgpool", op: .adaptiveAvgpool, outputSize: 7)
        b.plain("flatten", .flatten)
        b.linear("classifier.0", out: 4096)
        b.activation("classifier.1", .relu)
        b.plain("classifier.2", .dropout)
        b.linear("classifier.3", out: 4096)
        b.activation("classifier.4", .relu)
        b.plain("classifier.5", .dropout)
        b.linear("classifier.6")
        return b.spec
    }

    // MARK: - MobileNetV2

    static func mobileNetV2() -> ModelSpec {
        var b = SpecBuilder(name: "mobilenet_v2")
        func convBNReLU6(_ prefix: String, out: Int, kernel: Int, stride: Int = 1, groups: Int = 1) {
            b.conv("\(prefix).0", out: out, kernel: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups,
                   bias: false)
            b.batchNorm("\(prefix).1")
            b.activation("\(prefix).2", .relu6)
        }
        convBNReLU6("features.0", out: 32, kernel: 3, stride: 2)
        var channels = 32
        var index = 1
        let settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        for (expansion, out, repeats, firstStride) in settings {
            for r in 0..<repeats {
                let stride = r == 0 ? firstStride : 1
                let prefix = "features.\(index)"
                let blockInput = b.last
                let hidden = channels * expansion
                var part = 0
                if expansion != 1 {
                    convBNReLU6("\(prefix).conv.\(part)", out: hidden, kernel: 1)
                    part += 1
                }
                convBNReLU6("\(prefix).conv.\(part)", out: hidden, kernel: 3, stride: stride, groups: hidden)
                b.conv("\(prefix).conv.\(part + 1)", out: out, kernel: 1, bias: false)
                b.batchNorm("\(prefix).conv.\(part + 2)")
                if stride == 1 && channels == out { b.add("\(prefix).add", b.last, blockInput) }
                channels = out
                index += 1
            }
        }
        convBNReLU6("features.18", out: 1280, kernel: 1)
        b.pool("avgpool", op: .adaptiveAvgpool, outputSize: 1)
        b.plain("flatten", .flatten)
        b.plain("classifier.0", .dropout)
        b.linear("classifier.1")
        return b.spec
    }

    // MARK: - AlexNet

    static func alexNet() -> ModelSpec {
        var b = SpecBuilder(name: "alexnet")
        b.conv("features.0", out: 64, kernel: 11, stride: 4, padding: 2, bias: true)
        b.activation("features.1", .relu)
        b.pool("features.2", op: .maxpool, kernel: 3, stride: 2)
        b.conv("features.3", out: 192, kernel: 5, padding: 2, bias: true)
        b.activation("features.4", .relu)
        b.pool("features.5", op: .maxpool, kernel: 3, stride: 2)
        b.conv("features.6", out: 384, kernel: 3, padding: 1, bias: true)
        b.activation("features.7", .relu)
        b.conv("features.8", out: 256, kernel: 3, padding: 1, bias: true)
        b.activation("features.9", .relu)
        b.conv("features.10", out: 256, kernel: 3, padding: 1, bias: true)
        b.activation("features.11", .relu)
        b.pool("features.12", op: .maxpool, kernel: 3, stride: 2)
        b.pool("avgpool", op: .adaptiveAvgpool, outputSize: 6)
        b.plain("flatten", .flatten)
        b.plain("classifier.0", .dropout)
        b.linear("classifier.1", out: 4096)
        b.activation("classifier.2", .relu)
        b.plain("classifier.3", .dropout)
        b.linear("classifier.4", out: 4096)
        b.activation("classifier.5", .relu)
        b.linear("classifier.6")
        return b.spec
    }
}

/// Appends layers to a spec; each reads the previous layer unless told otherwise.
struct SpecBuilder {
    var spec: ModelSpec
    var last: String { spec.layers.last?.name ?? "input" }

    init(name: String) { spec = ModelSpec(name: name, inputChannels: 3, layers: []) }

    mutating func append(_ layer: LayerSpec, from source: String? = nil) {
        var layer = layer
        if let source { layer.inputs = [source] }
        spec.layers.append(layer)
    }

    mutating func conv(_ name: String, out: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
                       bias: Bool, from source: String? = nil) {
        var layer = LayerSpec(name: name, op: .conv2d)
        layer.outChannels = out
        layer.kernel = IntPair(kernel, kernel)
        layer.stride = IntPair(stride, stride)
        layer.padding = .symmetric(padding)
        layer.groups = groups
        layer.bias = bias
        append(layer, from: source)
    }

    mutating func batchNorm(_ name: String) { append(LayerSpec(name: name, op: .batchnorm)) }

    mutating func activation(_ name: String, _ op: LayerSpec.Operation) { append(LayerSpec(name: name, op: op)) }

    mutating func plain(_ name: String, _ op: LayerSpec.Operation) { append(LayerSpec(name: name, op: op)) }

    mutating func pool(_ name: String, op: LayerSpec.Operation, kernel: Int = 0, stride: Int = 0, padding: Int = 0, outputSize: Int = 0) {
        var layer = LayerSpec(name: name, op: op)
        if kernel > 0 {
            layer.kernel = IntPair(kernel, kernel)
            layer.stride = IntPair(stride, stride)
            layer.padding = .symmetric(padding)
        }
        if outputSize > 0 { layer.outputSize = IntPair(outputSize, outputSize) }
        append(layer)
    }

    mutating func linear(_ name: String, out: Int? = nil) {
        var layer = LayerSpec(name: name, op: .linear)
        layer.outFeatures = out
        layer.bias = true
        append(layer)
    }

    mutating func add(_ name: String, _ a: String, _ b: String) { append(LayerSpec(name: name, op: .add, inputs: [a, b])) }
}
