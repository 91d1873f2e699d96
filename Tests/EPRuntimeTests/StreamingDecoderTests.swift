import Testing
@testable import EPRuntime

/// A byte-level tokenizer over a fixed table, as GPT-2 BPE decodes: the tokens' bytes, then UTF-8.
struct ByteTableTokenizer: TextTokenizer {
    let table: [[UInt8]]
    func encode(_ text: String) -> [Int32] { [] }
    func encode(_ text: String, parseSpecial: Bool, addSpecial: Bool) -> [Int32] { [] }
    func tokenBytes(_ id: Int32) -> [UInt8]? { table.indices.contains(Int(id)) ? table[Int(id)] : nil }
    func decode(_ ids: [Int32]) -> String { String(decoding: ids.flatMap { table[Int($0)] }, as: UTF8.self) }
    var bosID: Int32? { nil }
    var addsBOS: Bool { false }
    var eosID: Int32? { nil }
}

@Suite struct StreamingDecoderTests {
    @Test func holdsBackCharactersSplitAcrossTokens() {
        // "café 🙂" with the é and the emoji split across tokens.
        let tokenizer = ByteTableTokenizer(table: [Array("caf".utf8), [0xC3], [0xA9, 0x20], [0xF0, 0x9F], [0x99, 0x82], [0xFF]])
        var decoder = StreamingDecoder(tokenizer)
        #expect(decoder.append(0) == "caf")
        #expect(decoder.append(1) == "")
        #expect(decoder.append(2) == "é ")
        #expect(decoder.append(3) == "")
        #expect(decoder.append(4) == "🙂")
        #expect(decoder.append(5) == "")
        #expect(decoder.finish() == "\u{FFFD}")
        #expect(decoder.finish() == "")
    }
}
