import CamwatchTensor
import Foundation
import Testing

/// `ErrorCause`: another library's error kept as a value, worded only where the owning error builds its line.
@Suite struct ErrorCauseTests {
    struct ParserError: Error, CustomStringConvertible {
        var description: String
    }

    @Test func followsTheOwningErrorsWordsAsPlaced() {
        let cause = ErrorCause(ParserError(description: "line 3: unexpected ']'"))
        #expect(cause.following("invalid probe manifest") == "invalid probe manifest: line 3: unexpected ']'")
        #expect(cause.following("") == "line 3: unexpected ']'")
        let wrapped = ErrorCause(ParserError(description: "bad header"), placement: .inParentheses)
        #expect(wrapped.following("not a readable zip archive") == "not a readable zip archive (bad header)")
        #expect(cause.error is ParserError)
    }

    @Test func aFoundationErrorCanBeWordedAsFoundationWordsIt() {
        let error = CocoaError(.fileReadNoSuchFile)
        #expect(ErrorCause(error, wording: .localized).description == error.localizedDescription)
        #expect(ErrorCause(error).description == "\(error)")
    }

    @Test func causesAreEqualWhenTheyAreTheSameErrorSayingTheSame() {
        #expect(ErrorCause(ParserError(description: "x")) == ErrorCause(ParserError(description: "x")))
        #expect(ErrorCause(ParserError(description: "x")) != ErrorCause(ParserError(description: "y")))
        let x = ParserError(description: "x")
        #expect(ErrorCause(x) != ErrorCause(x, placement: .inParentheses))
        // The same words from another type of error are another cause.
        let missing = CocoaError(.fileReadNoSuchFile)
        #expect(ErrorCause(ParserError(description: "\(missing)")) != ErrorCause(missing))
    }
}
