/// Built-in architectures: every torchvision CNN classification builder, by torchvision's name (`resnet18`,
/// `efficientnet_b0`, `convnext_tiny`, … docs/model-zoo.md). Their specs are traced from torchvision itself
/// (``TorchvisionZoo``), so layer names are the state_dict prefixes and a PyTorch user's `model.state_dict()`
/// binds as it is; the number of classes comes from the weights, the input size from the probes.
public enum ModelZoo {
    /// Every architecture name the zoo knows, sorted.
    public static var names: [String] { TorchvisionZoo.names }

    /// The spec of a zoo architecture, or `nil` for an unknown name.
    public static func spec(named name: String) -> ModelSpec? {
        guard let json = TorchvisionZoo.specJSON(named: name) else { return nil }
        // Every generated spec is parsed and bound by ModelZooTests; a failure here is a defect of the build.
        return try? ModelSpec.parse(json)
    }

    /// The known names closest to an unknown one (a typo, another spelling such as `resnet-18` or `ResNet18`),
    /// best first, for "did you mean" in messages.
    public static func suggestions(for name: String, limit: Int = 3) -> [String] {
        let wanted = Self.normalized(name)
        let scored = names.map { ($0, editDistance(Array(wanted), Array(Self.normalized($0)))) }
        let close = scored.filter { $0.1 <= max(2, wanted.count / 3) }
        return close.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.prefix(limit).map(\.0)
    }

    /// Lower case without separators: `ResNet-18` and `resnet18` compare equal.
    private static func normalized(_ name: String) -> String {
        String(name.lowercased().filter { $0.isLetter || $0.isNumber })
    }

    /// Levenshtein distance (names are short: a row of at most a few dozen entries).
    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + [Int](repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
