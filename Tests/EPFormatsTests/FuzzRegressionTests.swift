import Foundation
import Testing
@testable import EPFormats

/// Inputs the fuzz targets of Fuzz/ found crashing a parser (see docs/fuzzing.md), each now a clear error.
@Suite struct FormatsFuzzRegressionTests {
    /// FuzzJSON (and every JSON-reading target): a high surrogate escape followed by an escape that is not a low
    /// surrogate overflowed the code-point arithmetic.
    @Test func highSurrogateWithoutLowSurrogate() throws {
        #expect(throws: FileFormatError("s.json", #"invalid JSON at byte 13: invalid \u escape: the high surrogate \uD800 is followed by \u0041, not by a low surrogate"#)) {
            try JSONValue.parse(Array(#""\uD800\u0041""#.utf8), path: "s.json")
        }
        #expect(throws: FileFormatError("s.json", #"invalid JSON at byte 13: invalid \u escape: the high surrogate \uD83D is followed by \uD692, not by a low surrogate"#)) {
            try JSONValue.parse(Array(#""\uD83D\uD69251317"#.utf8), path: "s.json")
        }
        #expect(throws: FileFormatError("s.json", #"invalid JSON at byte 7: invalid \u escape: \uDC00 is an unpaired surrogate"#)) {
            try JSONValue.parse(Array(#""\uDC00""#.utf8), path: "s.json")
        }
        // A proper pair still reads.
        #expect(try JSONValue.parse(Array(#""\uD83D\uDE00""#.utf8), path: "s.json") == .string("😀"))
    }
}
