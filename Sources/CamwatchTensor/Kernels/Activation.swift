#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Elementwise activation functions, PyTorch definitions.
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

    /// Applies the function to every element in place.
    public func apply(to values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { apply(to: $0) }
    }

    /// Applies the function to every element of a buffer in place.
    public func apply(to buffer: UnsafeMutableBufferPointer<Float>) {
        do {
            switch self {
            // Written as selects, not branches, so the loops vectorize.
            case .relu:
                for i in buffer.indices { buffer[i] = Swift.max(buffer[i], 0) }
            case .relu6:
                for i in buffer.indices { buffer[i] = Swift.min(Swift.max(buffer[i], 0), 6) }
            case .leakyReLU(let slope):
                for i in buffer.indices { buffer[i] = buffer[i] < 0 ? buffer[i] * slope : buffer[i] }
            case .sigmoid:
                for i in buffer.indices { buffer[i] = 1 / (1 + expf(-buffer[i])) }
            case .tanh:
                for i in buffer.indices { buffer[i] = tanhf(buffer[i]) }
            case .silu:
                for i in buffer.indices { buffer[i] = buffer[i] / (1 + expf(-buffer[i])) }
            case .hardswish:
                for i in buffer.indices {
                    let x = buffer[i]
                    buffer[i] = x * Swift.min(Swift.max(x + 3, 0), 6) / 6
                }
            case .hardsigmoid:
                for i in buffer.indices { buffer[i] = Swift.min(Swift.max(buffer[i] + 3, 0), 6) / 6 }
            }
        }
    }

    /// The activated tensor (computed in place when the caller hands over the only reference).
    public func callAsFunction(_ input: consuming Tensor) -> Tensor {
        apply(to: &input.scalars)
        return input
    }
}
