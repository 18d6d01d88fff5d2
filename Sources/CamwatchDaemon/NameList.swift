/// File names in a log line or an error: a directory may hold thousands, the line shows a few.
enum NameList {
    /// How many names a line shows before it counts the rest.
    static let shown = 8

    /// At most ``shown`` names, then how many more.
    static func summary(_ names: [String]) -> String {
        let listed = names.prefix(shown).joined(separator: ", ")
        return names.count > shown ? listed + " and \(names.count - shown) more" : listed
    }
}
