public import CamwatchNN
public import CamwatchTensor

/// The layer a CAM method explains at a given input size, and the size of the map it gives there.
///
/// A heatmap is the target layer's map resized to the input: a 2×2 map (resnet18's `layer4` at 64 px) makes
/// every heatmap a smooth gradient between four values, whatever the image shows, and drift between such maps
/// says little. So the default is the deepest conv-like layer whose map is at least ``usableExtent`` on each
/// side at the model's input size, and a coarser map is always said out loud (``warning``).
public struct CAMTarget: Sendable, Equatable {
    /// The node's index in the network.
    public var index: Int
    /// The node's name (`layer2.1.relu2`): what the explainers take, and what the report records.
    public var name: String
    public var mapHeight: Int
    public var mapWidth: Int
    /// Why this map may be too coarse for a useful heatmap, in one line; `nil` when it is not.
    public var warning: String?

    /// The smallest side of a map the default target may have (resnet18's `layer4` at 224 px: 7×7).
    public static let usableExtent = 7
    /// A map a named layer gives with a side below this is warned about.
    public static let coarseExtent = 4
}

extension Network {
    /// The target layer for `layer` (a layer name or module prefix) at an input of `inputHeight`×`inputWidth`,
    /// or, for `nil`, the default: the deepest conv-like layer (not a pooling or padding step) whose map is at
    /// least ``CAMTarget/usableExtent`` on each side; when none is, the deepest one, with a warning naming its
    /// map size. A named layer whose map has a side below ``CAMTarget/coarseExtent`` comes with a warning too.
    ///
    /// - Throws: ``SaliencyError`` when the layer does not exist or has no spatial output, or when the network
    ///   does not take an input of that size.
    public func camTarget(_ layer: String?, inputHeight: Int, inputWidth: Int) throws -> CAMTarget {
        let shapes: [[Int]]
        do { shapes = try self.shapes(inputHeight: inputHeight, inputWidth: inputWidth) } catch {
            throw SaliencyError(network: error)
        }
        func map(_ index: Int) -> (height: Int, width: Int) {
            let shape = shapes[index]
            return shape.count == 4 ? (shape[2], shape[3]) : (1, 1)
        }
        func usable(_ index: Int) -> Bool {
            let size = map(index)
            return min(size.height, size.width) >= CAMTarget.usableExtent
        }
        let deepest = try camTargetIndex(nil)
        let input = "\(inputHeight)×\(inputWidth)"
        let index: Int
        var warning: String?
        if let layer {
            index = try camTargetIndex(layer)
            let size = map(index)
            if min(size.height, size.width) < CAMTarget.coarseExtent {
                let alternative = defaultTargetCandidates().last(where: usable).map {
                    "; the default at this size would be '\(nodes[$0].name)' (\(map($0).height)×\(map($0).width))"
                } ?? ""
                warning = "layer '\(layer)' gives a \(size.height)×\(size.width) map at a \(input) input: every heatmap "
                    + "is a smooth blend of \(size.height * size.width) values\(alternative)"
            }
        } else if let chosen = defaultTargetCandidates().last(where: usable) {
            index = chosen
        } else {
            index = deepest
            let size = map(index)
            warning = "no conv-like layer keeps a \(CAMTarget.usableExtent)×\(CAMTarget.usableExtent) map at a \(input) "
                + "input; the deepest, '\(nodes[index].name)', gives \(size.height)×\(size.width), so heatmaps will be "
                + "coarse (a larger input size helps; `camwatch inspect` lists the layers with their shapes)"
        }
        let size = map(index)
        return CAMTarget(index: index, name: nodes[index].name, mapHeight: size.height, mapWidth: size.width, warning: warning)
    }

    /// The node a CAM method explains: a layer name or module prefix (`layer4`), or `nil` for the last
    /// conv-like layer with a spatial output, whatever its map size (the commands choose the default with
    /// ``camTarget(_:inputHeight:inputWidth:)``, which knows the input size).
    ///
    /// - Throws: ``SaliencyError`` when the layer does not exist (listing the candidates) or has no
    ///   spatial output.
    public func camTargetIndex(_ targetLayer: String?) throws -> Int {
        guard let targetLayer else {
            guard let fallback = defaultTargetIndex() else { throw SaliencyError("the network has no layer with a spatial output") }
            return fallback
        }
        let index: Int
        do { index = try nodeIndex(named: targetLayer) } catch {
            throw SaliencyError(network: error)
        }
        guard candidateTargetNames().contains(nodes[index].name) else {
            throw SaliencyError("layer '\(targetLayer)' (\(nodes[index].layer.opName)) has no spatial output; "
                + "candidate layers: \(candidateTargetNames().joined(separator: ", "))")
        }
        return index
    }
}

/// What every CAM method does with its map at the target layer's resolution (pytorch-grad-cam's
/// `compute_cam_per_layer` and `aggregate_multi_layers` for one layer): ReLU, min-max (eps 1e-7), bilinear
/// resize with half-pixel centres (cv2.resize INTER_LINEAR), min-max again.
enum CAMFinish {
    /// - Parameters:
    ///   - cam: `h · w` values, row-major; negative values are clipped.
    ///   - height, width: the input's size.
    /// - Returns: the heatmap at `height × width`, the map at `h × w` after ReLU and min-max, and whether
    ///   the heatmap is constant.
    static func heatmap(_ cam: [Float], h: Int, w: Int, height: Int, width: Int)
        -> (values: [Float], lowResolution: Tensor, isConstant: Bool)
    {
        let low = Tensor(shape: [h, w], scalars: ScoreCAM.minMaxScaled(cam.map { max($0, 0) }))
        let values = SaliencyMap.inputResolution(low, height: height, width: width)
        return (values, low, (values.max() ?? 0) == (values.min() ?? 0))
    }

    /// `Σ_k weights[k] · A_k` over a `[1, K, h, w]` map.
    static func weightedSum(_ activations: Tensor, weights: [Float]) -> [Float] {
        let (k, plane) = (activations.shape[1], activations.shape[2] * activations.shape[3])
        var cam = [Float](repeating: 0, count: plane)
        activations.scalars.withUnsafeBufferPointer { a in
            for channel in 0..<k where weights[channel] != 0 {
                let alpha = weights[channel]
                for i in 0..<plane { cam[i] += alpha * a[channel * plane + i] }
            }
        }
        return cam
    }

    /// One forward pass for a method that needs the target layer's output: the logits `[1, classes]`, the
    /// output `[1, K, h, w]`, and the class to explain (``targetClass(_:requested:)``).
    static func forward(_ network: Network, input: Tensor, target index: Int, name: String, classIndex: Int?) throws
        -> (logits: Tensor, activations: Tensor, target: Int)
    {
        let (logits, captured) = network.forward(input, capturing: [index])
        let activations = captured[0]
        guard activations.rank == 4, logits.rank == 2 else {
            throw SaliencyError("layer '\(name)' output \(activations.shape) is not a spatial map")
        }
        return (logits, activations, try targetClass(logits, requested: classIndex))
    }

    /// The class to explain: the one asked for, else the argmax; checked against the logits `[1, classes]`.
    static func targetClass(_ logits: Tensor, requested: Int?) throws -> Int {
        guard logits.scalars.allSatisfy(\.isFinite) else { throw SaliencyError("the network outputs non-finite logits") }
        let classes = logits.scalarCount
        let target = requested ?? ScoreCAM.argmax(logits.scalars)
        guard target >= 0 && target < classes else {
            throw SaliencyError("class \(target) is out of range: the model has \(classes) classes (0...\(classes - 1))")
        }
        return target
    }
}

extension SaliencyMap {
    /// The last step of every method: the map at the layer's resolution resized to the input (bilinear with
    /// half-pixel centres, as `cv2.resize`) and scaled to [0, 1] by `(x − min) / (max − min + 1e-7)`. The
    /// heatmap archive keeps only the low-resolution maps and recomputes the input-resolution heatmaps with
    /// this, value for value equal to the `values` they were archived from.
    public static func inputResolution(_ lowResolution: Tensor, height: Int, width: Int) -> [Float] {
        ScoreCAM.minMaxScaled(Resize.bilinear(lowResolution, height: height, width: width, alignCorners: false).scalars)
    }
}
