/// How much a Keras model config asks of the JSON parser, counted in one pass over its text before it is
/// parsed.
///
/// Foundation's `JSONSerialization` builds an object per JSON container, about 70 bytes of memory per byte of a
/// config of many small layers: a legacy `.h5` whose 34 MB `model_config` lists 400,000 layers drove the
/// reader child to 2.4 GB. The largest model in `keras.applications` has about 800 layers and some 20,000
/// containers, so the limits leave ten times that and refuse only generated or hostile configs.
struct KerasConfigSize: Equatable {
    /// The most layers (entries of `layers` arrays, nested models' included) a config may list.
    static let maximumLayers = 10_000
    /// The most JSON objects and arrays a config may hold.
    static let maximumContainers = 1 << 18

    /// Entries of every `layers` array.
    var layers = 0
    /// Objects and arrays.
    var containers = 0

    /// Counts `json`'s layers and containers; stops early once a limit is passed.
    init(counting json: String) {
        let layersKey = Array("layers".utf8)
        // Per open container: whether it is a `layers` array (its objects are layers).
        var layerArrays: [Bool] = []
        var inString = false
        var escaped = false
        // The current string's first bytes (enough to tell "layers"), its length, and the last key read.
        var string: [UInt8] = []
        var stringLength = 0
        var lastString = false
        var keyIsLayers = false
        for byte in json.utf8 {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    lastString = stringLength == layersKey.count && string == layersKey
                } else {
                    if string.count < layersKey.count { string.append(byte) }
                    stringLength += 1
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                string.removeAll(keepingCapacity: true)
                stringLength = 0
            case UInt8(ascii: ":"):
                keyIsLayers = lastString
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                containers += 1
                if byte == UInt8(ascii: "{"), layerArrays.last == true { layers += 1 }
                layerArrays.append(byte == UInt8(ascii: "[") && keyIsLayers)
                keyIsLayers = false
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                _ = layerArrays.popLast()
            case UInt8(ascii: ","):
                keyIsLayers = false
            default:
                break
            }
            if layers > Self.maximumLayers || containers > Self.maximumContainers { return }
        }
    }

    /// Why a config of this size is refused, or `nil` when it may be parsed.
    var problem: String? {
        if layers > Self.maximumLayers {
            return "the Keras model config lists more than \(Self.maximumLayers) layers"
        }
        if containers > Self.maximumContainers {
            return "the Keras model config holds more than \(Self.maximumContainers) JSON objects and arrays"
        }
        return nil
    }
}
