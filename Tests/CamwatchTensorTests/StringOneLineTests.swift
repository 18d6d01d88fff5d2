import CamwatchTensor
import Testing

/// `oneLine`: the fold every error description shares.
@Suite struct StringOneLineTests {
    @Test(arguments: [
        ("one line", "one line"),
        ("parser said\nat line 3\n  column 9", "parser said at line 3   column 9"),
        ("\nleading and trailing\n\n", "leading and trailing"),
        ("runs\n\n\nof breaks\r\nand CRLF", "runs of breaks and CRLF"),
        ("separators\u{2028}too\u{85}", "separators too"),
        ("", ""),
    ])
    func foldsLineBreaksToSpaces(text: String, line: String) {
        #expect(text.oneLine == line)
        #expect(text[...].oneLine == line, "a Substring folds the same")
    }
}
