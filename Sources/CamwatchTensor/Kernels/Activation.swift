internal import CVectorKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Elementwise activation functions, PyTorch definitions (and Keras's where PyTorch has none).
public enum Activation: Sendable, Equatable, Hashable {
    case relu
    case relu6
    case leakyReLU(negativeSlope: Float)
    case sigmoid
    case tanh
    /// `x · sigmoid(x)`.
    case silu
    /// `x · relu6(x + 3) / 6`.
    case hardswish
    /// `relu6(x + 3) / 6`.
    case hardsigmoid
    /// The exact GELU `x · Φ(x) = x · (1 + erf(x / √2)) / 2` (PyTorch's default, Keras's `approximate=False`).
    /// Derivative: `Φ(x) + x · φ(x)`, with `φ` the standard normal density.
    case gelu
    /// Keras's `ReLU(max_value, negative_slope, threshold)` (tf.keras and Keras 3 alike):
    /// `r = x > t ? x : 0` (plain `max(x, 0)` when `t = 0`), clipped to `[0, maxValue]` when given,
    /// minus `negativeSlope · max(t − x, 0)`. Piecewise linear: the derivative is 1 where `r = x` lies
    /// strictly inside the clip range, `negativeSlope` where `x < t`, else 0.
    case kerasReLU(negativeSlope: Float, threshold: Float, maxValue: Float?)

    /// How a kernel applies `activation` as it stores its results: ReLU and ReLU6 as the clamp `[low, high]`;
    /// any other function as `rest`, in a pass of its own afterwards (the clamp is then `[−∞, ∞]`, as it is
    /// with no activation).
    public static func storeClamp(_ activation: Activation?) -> (low: Float, high: Float, rest: Activation?) {
        switch activation {
        case .relu: (0, .infinity, nil)
        case .relu6: (0, 6, nil)
        default: (-.infinity, .infinity, activation)
        }
    }

    /// Applies the function to every element in place.
    public func apply(to values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { apply(to: $0) }
    }

    /// Applies the function to every element of a buffer in place, after adding `shift` to it: a convolution's
    /// bias and activation in one pass over its output (a second pass costs as much as the function when the
    /// block has left the caches). Sigmoid and SiLU run in the C kernels of `kernels`' width, with ``exp(_:)``'s
    /// results bit for bit: EfficientNet's SiLUs are most of its 1×1 layers' time even at the baseline's 4 lanes.
    public func apply(to buffer: UnsafeMutableBufferPointer<Float>, adding shift: Float = 0,
                      kernels: KernelLevel = .best) {
        do {
            switch self {
            case .sigmoid, .silu:
                guard let start = buffer.baseAddress else { return }
                cw_sigmoid(kernels.c, start, buffer.count, shift, self == .silu ? 1 : 0)
            // Written as selects, not branches, so the loops vectorize.
            case .relu:
                for i in buffer.indices { buffer[i] = Swift.max(buffer[i] + shift, 0) }
            case .relu6:
                for i in buffer.indices { buffer[i] = Swift.min(Swift.max(buffer[i] + shift, 0), 6) }
            case .leakyReLU(let slope):
                for i in buffer.indices {
                    let x = buffer[i] + shift
                    buffer[i] = x < 0 ? x * slope : x
                }
            case .tanh:
                for i in buffer.indices { buffer[i] = tanhf(buffer[i] + shift) }
            case .hardswish:
                for i in buffer.indices {
                    let x = buffer[i] + shift
                    buffer[i] = x * Swift.min(Swift.max(x + 3, 0), 6) / 6
                }
            case .hardsigmoid:
                for i in buffer.indices { buffer[i] = Swift.min(Swift.max(buffer[i] + shift + 3, 0), 6) / 6 }
            case .gelu:
                let invSqrt2: Float = 0.7071067811865476
                for i in buffer.indices {
                    let x = buffer[i] + shift
                    buffer[i] = 0.5 * x * (1 + Self.erf(x * invSqrt2))
                }
            case .kerasReLU(let slope, let threshold, let maxValue):
                let upper = maxValue ?? Float.infinity
                for i in buffer.indices {
                    let x = buffer[i] + shift
                    // Keras keeps x only above the threshold; with t = 0 that is max(x, 0).
                    var r = threshold == 0 ? Swift.max(x, 0) : (x > threshold ? x : 0)
                    if maxValue != nil { r = Swift.min(Swift.max(r, 0), upper) }
                    buffer[i] = r - slope * Swift.max(threshold - x, 0)
                }
            }
        }
    }

    /// erf(x) as a rational function of x², within 1e-7 of the exact value when evaluated in double (6.5e-8 on
    /// [−5, 5] in steps of 1e-5; in float GELU stays within 1e-6 of the exact formula, ActivationTests): only multiplications, additions, a division and a clamp, so a loop over it
    /// vectorizes, where libm's `erff` is a call per element (ConvNeXt's GELUs, 8.5 million per 224-pixel image,
    /// took most of its forward pass). Beyond |x| = 4 erf is ±1 to float precision.
    @inline(__always)
    static func erf(_ value: Float) -> Float {
        let x = Swift.min(Swift.max(value, -4), 4)
        let x2 = x * x
        var p: Float = -2.72614225801306e-10
        p = p * x2 + 2.77068142495902e-08
        p = p * x2 - 2.10102402082508e-06
        p = p * x2 - 5.69250639462346e-05
        p = p * x2 - 7.34990630326855e-04
        p = p * x2 - 2.95459980854025e-03
        p = p * x2 - 1.60960333262415e-02
        var q: Float = -1.45660718464996e-05
        q = q * x2 - 2.13374055278905e-04
        q = q * x2 - 1.68282697438203e-03
        q = q * x2 - 7.37332916720468e-03
        q = q * x2 - 1.42647390514189e-02
        return x * p / q
    }

    /// eˣ within 1 ulp of the exact value for normal results (ActivationTests), as `2ᵏ · eʳ` with `k` the
    /// nearest integer to `x / ln 2` and `|r| ≤ ln 2 / 2`: multiplications, additions, integer bit operations
    /// and selects only, so a loop over it vectorizes, where libm's `expf` is a call per element (the SiLUs and
    /// sigmoid gates of EfficientNet, MobileNetV3 and RegNet spent most of their 1×1 layers' time there).
    /// Overflows to +∞ past 88.72, underflows through the subnormals to 0, keeps NaN. No operation traps:
    /// the integer `k` is read from the bits of the rounded float rather than converted.
    @inline(__always)
    public static func exp(_ value: Float) -> Float {
        // Beyond these eˣ is already 0 or +∞ in float; clamping keeps k small enough for the bit tricks.
        // Selects, not min/max, so that NaN passes through.
        var x = value < -110 ? -110 : value
        x = x > 90 ? 90 : x
        // Adding 1.5·2²³ rounds x/ln 2 to the nearest integer and leaves that integer in the low mantissa bits.
        let shifter: Float = 12_582_912
        let shifted = x * 1.4426950408889634 + shifter
        let k = shifted - shifter
        // x − k·ln 2 in two steps (ln 2's leading bits times k are exact), so r keeps its low bits.
        var r = x - k * 0.693359375
        r = r - k * -2.12194440e-4
        // eʳ = 1 + r + r²·q(r): q a least-squares minimax fit of degree 4 on [−ln 2 / 2, ln 2 / 2]
        // (relative error 3e-9 in double).
        var q: Float = 1.3814612983280342e-3
        q = q * r + 8.368709842563455e-3
        q = q * r + 4.1668387367004345e-2
        q = q * r + 0.16666520689634917
        q = q * r + 0.499999934516799
        let mantissa = q * r * r + r + 1
        // 2ᵏ as two factors 2^⌊k/2⌋ · 2^⌈k/2⌉, each a normal float for every k the clamp allows, so results
        // near the top overflow and those below 2⁻¹²⁶ round into the subnormals as they should.
        let kBits = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        let low = kBits &>> 1, high = kBits &- low
        let lowScale = Float(bitPattern: UInt32(bitPattern: (low &+ 127) &<< 23))
        let highScale = Float(bitPattern: UInt32(bitPattern: (high &+ 127) &<< 23))
        return mantissa * lowScale * highScale
    }

    /// The activated tensor (computed in place when the caller hands over the only reference).
    public func callAsFunction(_ input: consuming Tensor) -> Tensor {
        apply(to: &input.scalars)
        return input
    }
}
