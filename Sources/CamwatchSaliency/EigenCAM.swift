public import CamwatchNN
public import CamwatchTensor

/// Eigen-CAM (Muhammad & Yeasin, 2020) on a native ``Network``: the target layer's activations projected on
/// their first principal component, class-agnostic and gradient-free (one forward pass).
///
/// As pytorch-grad-cam's `get_2d_projection`: `X` = the activations as `[h·w, K]` (a row per position),
/// each channel centred over the positions; the map is `X · v₁`, `v₁` the first right singular vector of
/// `X`. An SVD leaves the sign of `v₁` open (pytorch-grad-cam's `EigenCAM` keeps whatever LAPACK returns,
/// so on some inputs it highlights the background); camwatch fixes it as pytorch-grad-cam's
/// `get_2d_projection_with_sign_correction` does: flipped when `|min| > |max|`. Then ReLU, min-max, resize,
/// min-max (``CAMFinish``).
public struct EigenCAM: Sendable {
    public let network: Network
    public let targetIndex: Int
    public let targetName: String

    /// - Throws: ``SaliencyError`` when the layer does not exist or has no spatial output.
    public init(network: Network, targetLayer: String? = nil) throws {
        let index = try network.camTargetIndex(targetLayer)
        // One forward pass per image: the Winograd filter transform would cost more than it saves.
        self.network = network.optimized(preserving: [index], winograd: false)
        targetIndex = index
        targetName = network.nodes[index].name
    }

    /// Explains one image; `classIndex` only selects the class reported (the map does not depend on it).
    ///
    /// - Parameter input: `[1, C, H, W]`. - Returns: the heatmap at `H × W` in [0, 1].
    public func explain(_ input: Tensor, classIndex: Int? = nil) throws -> SaliencyMap {
        precondition(input.rank == 4 && input.shape[0] == 1, "explain takes one image [1, C, H, W], got \(input.shape)")
        let (logits, activations, target) = try CAMFinish.forward(network, input: input, target: targetIndex,
                                                                  name: targetName, classIndex: classIndex)
        let (h, w) = (activations.shape[2], activations.shape[3])
        let projection = Self.projection(activations)
        let (values, low, isConstant) = CAMFinish.heatmap(projection, h: h, w: w, height: input.shape[2], width: input.shape[3])
        return SaliencyMap(
            classIndex: target, score: logits.scalars[target], width: input.shape[3], height: input.shape[2],
            values: values, lowResolution: low, scoredChannels: [], channelScores: [], channelWeights: [],
            isConstant: isConstant)
    }

    /// The sign-corrected first-principal-component projection of `[1, K, h, w]` activations, `h · w` values
    /// (NaN activations count as 0, as in pytorch-grad-cam).
    static func projection(_ activations: Tensor) -> [Float] {
        let (k, n) = (activations.shape[1], activations.shape[2] * activations.shape[3])
        // X[position, channel], centred per channel, in double precision.
        var x = [Double](repeating: 0, count: n * k)
        for channel in 0..<k {
            var mean = 0.0
            for i in 0..<n {
                let v = activations.scalars[channel * n + i]
                x[i * k + channel] = v.isNaN ? 0 : Double(v)
                mean += x[i * k + channel]
            }
            mean /= Double(max(n, 1))
            for i in 0..<n { x[i * k + channel] -= mean }
        }
        // X·v₁ is σ₁·u₁: the top eigenvector of the smaller Gram matrix gives it (up to scale and sign).
        var p: [Double]
        if n <= k {
            let gram = Self.gram(x, rows: n, columns: k, transposed: false)
            let u = Self.topEigenvector(gram, size: n)
            // σ₁ = √(uᵀ G u): zero when every channel is constant, and then so is the map.
            let sigma = (0..<n).reduce(0.0) { sum, i in sum + u[i] * (0..<n).reduce(0.0) { $0 + gram[i * n + $1] * u[$1] } }
            p = u.map { $0 * max(sigma, 0).squareRoot() }
        } else {
            let gram = Self.gram(x, rows: n, columns: k, transposed: true)
            let v = Self.topEigenvector(gram, size: k)
            p = (0..<n).map { i in (0..<k).reduce(0.0) { $0 + x[i * k + $1] * v[$1] } }
        }
        let low = p.min() ?? 0, high = p.max() ?? 0
        if abs(low) > abs(high) { p = p.map { -$0 } }
        return p.map { Float($0) }
    }

    /// `X Xᵀ` (`rows × rows`) or, transposed, `Xᵀ X` (`columns × columns`) of a row-major `rows × columns` X.
    static func gram(_ x: [Double], rows: Int, columns: Int, transposed: Bool) -> [Double] {
        let size = transposed ? columns : rows
        var g = [Double](repeating: 0, count: size * size)
        for i in 0..<size {
            for j in i..<size {
                var sum = 0.0
                if transposed {
                    for r in 0..<rows { sum += x[r * columns + i] * x[r * columns + j] }
                } else {
                    for c in 0..<columns { sum += x[i * columns + c] * x[j * columns + c] }
                }
                g[i * size + j] = sum
                g[j * size + i] = sum
            }
        }
        return g
    }

    /// The eigenvector of the largest eigenvalue of a symmetric positive semidefinite matrix, by power
    /// iteration from a start that is not orthogonal to it (the diagonal's largest column).
    static func topEigenvector(_ matrix: [Double], size: Int) -> [Double] {
        guard size > 0 else { return [] }
        let start = (0..<size).max { matrix[$0 * size + $0] < matrix[$1 * size + $1] } ?? 0
        var v = (0..<size).map { matrix[$0 * size + start] + ($0 == start ? 1 : 0) }
        func normalize(_ u: inout [Double]) -> Double {
            let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { for i in u.indices { u[i] /= norm } }
            return norm
        }
        _ = normalize(&v)
        for _ in 0..<5000 {
            var next = [Double](repeating: 0, count: size)
            for i in 0..<size {
                var sum = 0.0
                for j in 0..<size { sum += matrix[i * size + j] * v[j] }
                next[i] = sum
            }
            guard normalize(&next) > 0 else { return v }
            let change = zip(next, v).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
            v = next
            if change < 1e-12 { break }
        }
        return v
    }
}
