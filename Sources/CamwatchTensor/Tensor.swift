/// A dense float32 tensor in row-major order.
///
/// camwatch uses one layout everywhere: activations are `[N, C, H, W]` (NCHW), convolution
/// filters `[O, I/groups, kH, kW]` (OIHW, PyTorch's), linear weights `[out, in]`. Checkpoint
/// formats with other layouts are converted once, at load time.
///
/// A value type over `[Float]`: copy-on-write and `Sendable` come free, and kernels borrow the
/// storage through `withUnsafe(Mutable)BufferPointer` for the duration of one call.
public struct Tensor: Sendable, Equatable {
    /// The extent of every dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// Creates a tensor from its shape and row-major elements.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == scalars.count, "shape \(shape) does not hold \(scalars.count) scalars")
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var scalarCount: Int { scalars.count }

    /// The same elements viewed with another shape of the same element count.
    public func reshaped(to newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Image `n` of a batch `[N, ...]` as a tensor `[1, ...]`.
    public func batchItem(_ n: Int) -> Tensor {
        precondition(rank >= 1 && n >= 0 && n < shape[0], "batch index \(n) out of range for \(shape)")
        return batchItems(n..<(n + 1))
    }

    /// Images `range` of a batch `[N, ...]` as a tensor `[range.count, ...]` (this tensor itself, uncopied, for
    /// the whole batch).
    public func batchItems(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "batch range \(range) out of range for \(shape)")
        if range == 0..<shape[0] { return self }
        let stride = shape[0] == 0 ? 0 : scalarCount / shape[0]
        var itemsShape = shape
        itemsShape[0] = range.count
        return Tensor(shape: itemsShape, scalars: Array(scalars[(range.lowerBound * stride)..<(range.upperBound * stride)]))
    }

    /// Stacks tensors of equal shape `[1, ...]` (or `[B_i, ...]`) along the batch dimension.
    public static func concatenatingBatches(_ parts: [Tensor]) -> Tensor {
        guard let first = parts.first else { return Tensor(shape: [0], scalars: []) }
        let tail = Array(first.shape.dropFirst())
        var scalars: [Float] = []
        scalars.reserveCapacity(parts.reduce(0) { $0 + $1.scalarCount })
        var batch = 0
        for part in parts {
            precondition(Array(part.shape.dropFirst()) == tail, "cannot stack \(part.shape) onto \(first.shape)")
            scalars.append(contentsOf: part.scalars)
            batch += part.shape[0]
        }
        return Tensor(shape: [batch] + tail, scalars: scalars)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor\(shape)" }
}
