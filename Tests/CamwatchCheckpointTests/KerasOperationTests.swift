import CamwatchCheckpoint
import CamwatchNN
import Testing

/// How keras.applications' building blocks become spec layers: the layer classes ConvNeXt, MobileNetV3,
/// InceptionResNetV2 and NASNet add, and Keras 3's operation nodes (`x + y`, `x * 0.1`, `ops.relu6(x)`). Their
/// logits against Keras are in ``KerasTests`` (the `*_block` fixtures); these tests pin the translation and the
/// refusals.
@Suite struct KerasOperationTests {
    static func layer(_ spec: ModelSpec, _ name: String) throws -> LayerSpec {
        try #require(spec.layers.first { $0.name == name }, "no node \(name) in \(spec.layers.map(\.name))")
    }

    @Test func convNeXtBlockLayers() throws {
        let (_, _, spec) = try KerasTests.network("convnext_block.keras")
        #expect(try Self.layer(spec, "stem_ln").op == .layernorm)
        #expect(try Self.layer(spec, "stem_ln").eps == 1e-6)
        // Keras's default epsilon, not the op's.
        #expect(try Self.layer(spec, "ln_no_beta").eps == 1e-3)
        #expect(try Self.layer(spec, "pw1").op == .channelLinear)
        #expect(try Self.layer(spec, "layer_scale").op == .scale)
        #expect(try Self.layer(spec, "head_ln").op == .layernorm)
        #expect(try Self.layer(spec, "logits").op == .linear)
        // StochasticDepth is the identity at inference: the residual reads the LayerScale directly.
        #expect(!spec.layers.contains { $0.name == "drop_path" })
        #expect(try Self.layer(spec, "add").inputs == ["stem_ln", "layer_scale"])
    }

    @Test func mobileNetV3HardSigmoidIsAnAffineAroundReLU6() throws {
        let (_, _, spec) = try KerasTests.network("mobilenetv3_block.keras")
        // Keras names operation nodes from one counter per session; the ConvNeXt block built first took `add`.
        let plus = try Self.layer(spec, "add_1")
        #expect(plus.op == .scalarAffine && plus.multiplier == 1 && plus.offset == 3)
        #expect(try Self.layer(spec, "se_relu6").inputs == ["add_1"])
        let sixth = try Self.layer(spec, "multiply")
        #expect(sixth.op == .scalarAffine && sixth.multiplier == 1.0 / 6.0 && sixth.offset == 0)
        // `1.0 - x` and `x / 2.0` keep the order Keras recorded.
        let oneMinus = try Self.layer(spec, "subtract_1")
        #expect(oneMinus.multiplier == -1 && oneMinus.offset == 1)
        #expect(try Self.layer(spec, "true_divide").multiplier == 0.5)
        #expect(try Self.layer(spec, "subtract").op == .sub)
        #expect(try Self.layer(spec, "relu6").op == .relu6)
        #expect(try Self.layer(spec, "gelu").op == .gelu)
        #expect(try Self.layer(spec, "leaky_relu").negativeSlope == 0.1)
    }

    @Test func inceptionBlockPoolsSameAtAnySizeAndCrops() throws {
        let (_, _, spec) = try KerasTests.network("inception_block.keras")
        #expect(spec.inputSize == nil)
        let average = try Self.layer(spec, "avg_same")
        #expect(average.op == .avgpool && average.padding == .same)
        #expect(try Self.layer(spec, "crop").cropping == [1, 0, 1, 0])
        #expect(try Self.layer(spec, "crop_uneven").cropping == [1, 2, 0, 1])
        let scaled = try Self.layer(spec, "res_scale/scale")
        #expect(scaled.op == .scalarAffine && scaled.multiplier == 0.17 && scaled.inputs == ["res_conv"])
        #expect(try Self.layer(spec, "res_scale").inputs == ["sum", "res_scale/scale"])
    }

    @Test func flattenOfAOneByOneMapGivesLogits() throws {
        // MobileNetV3's head: a 1×1 convolution to the classes on the pooled map, then Flatten.
        let json = """
            {"class_name": "Sequential", "config": {"name": "head", "layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}},
              {"class_name": "GlobalAveragePooling2D", "config": {"name": "pool", "keepdims": true}},
              {"class_name": "Conv2D", "config": {"name": "logits", "filters": 5, "kernel_size": [1, 1]}},
              {"class_name": "Flatten", "config": {"name": "flatten"}}]}}
            """
        let spec = try KerasModel(json: json).spec
        #expect(spec.layers.last?.op == .flatten)
        #expect(spec.output == "flatten")
    }

    /// A Keras 3 functional config: an 8×8×3 input, a 1×1 convolution `conv`, then `entry`.
    static func config(_ entry: String) -> String {
        """
        {"class_name": "Functional", "config": {"name": "f", "layers": [
          {"module": "keras.layers", "class_name": "InputLayer", "name": "in",
           "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}, "inbound_nodes": []},
          {"module": "keras.layers", "class_name": "Conv2D", "name": "conv",
           "config": {"name": "conv", "filters": 4, "kernel_size": [1, 1]},
           "inbound_nodes": [{"args": [\(tensor("in"))], "kwargs": {}}]},
          \(entry)],
          "input_layers": [["in", 0, 0]], "output_layers": [["last", 0, 0]]}}
        """
    }

    static func tensor(_ layer: String) -> String {
        #"{"class_name": "__keras_tensor__", "config": {"shape": [null, 8, 8, 4], "keras_history": ["\#(layer)", 0, 0]}}"#
    }

    /// An entry `last` of class `className` called with `args` (JSON list items), `extra` config keys.
    static func operation(_ className: String, _ args: String, module: String = "keras.src.ops.numpy",
                          config extra: String = "", kwargs: String = "{}") -> String {
        config(#"{"module": "\#(module)", "class_name": "\#(className)", "name": "last", "#
            + #""config": {"name": "last"\#(extra)}, "inbound_nodes": [{"args": [\#(args)], "kwargs": \#(kwargs)}]}"#)
    }

    @Test(arguments: [
        (operation("TrueDivide", "2.0, \(tensor("conv"))"),
         "operation 'last' (TrueDivide) (2.0, tensor) is not an operation camwatch can build"),
        (operation("Power", "\(tensor("conv")), 2"), "operation 'last' (Power) (tensor, 2.0) is not an operation camwatch can build"),
        (operation("TrueDivide", "\(tensor("conv")), 0.0"), "operation 'last' (TrueDivide) divides by 0.0"),
        (operation("Gelu", tensor("conv"), module: "keras.src.ops.nn", config: #", "approximate": true"#),
         "operation 'last' (Gelu) uses the tanh approximation of GELU, which camwatch does not build"),
        (operation("Add", tensor("conv"), kwargs: #"{"x2": 1.0}"#),
         "operation 'last' (Add) has keyword arguments (x2), which camwatch does not read"),
        (operation("Add", "\(tensor("conv")), \(tensor("nowhere"))"),
         "operation 'last' (Add) reads 'nowhere', which is not an earlier layer"),
        (operation("LayerScale", tensor("conv"), module: "my_project.blocks"),
         "layer 'last' (LayerScale) is not a layer camwatch can build"),
        (operation("LayerNormalization", tensor("conv"), module: "keras.layers", config: #", "rms_scaling": true"#),
         "layer 'last' (LayerNormalization) uses rms_scaling"),
        (operation("StochasticDepth", "[\(tensor("in")), \(tensor("conv"))]", module: "keras_cv.layers"),
         "layer 'last' (StochasticDepth) takes 2 inputs; camwatch reads the one-input form"),
    ])
    func unsupportedIsOneLineNamingIt(_ json: String, _ message: String) {
        let error = #expect(throws: KerasError.self) { _ = try KerasModel(json: json) }
        #expect(error?.description == message)
    }
}
