import Foundation
import Testing
@testable import EPRuntime

/// A small byte-level vocabulary: every byte except 0x04, a few merged tokens, two control tokens that share a
/// prefix and one user-defined token.
private func toyTokenizer(merges: [String], addsBOS: Bool = false, addsEOS: Bool = false) throws -> BPETokenizer {
    var tokens = (0..<256).filter { $0 != 0x04 }.map { String(Character(ByteLevel.characterForByte[$0])) }
    var types = [TokenType](repeating: .normal, count: tokens.count)
    for (token, type) in [("aa", TokenType.normal), ("ab", .normal), ("bc", .normal), ("abc", .normal), ("!!", .normal),
                          ("<|s|>", .control), ("<|s|>!", .control), ("<u>", .userDefined)] {
        tokens.append(token)
        types.append(type)
    }
    return try BPETokenizer(tokens: tokens, types: types, merges: merges, preTokenizer: .gpt2,
                            bosID: 255, eosID: 257, addsBOS: addsBOS, addsEOS: addsEOS)
}

private extension BPETokenizer {
    func pieces(_ text: String, parseSpecial: Bool = true) -> [String] {
        encode(text, parseSpecial: parseSpecial, addSpecial: false).map { tokenPiece($0)! }
    }
}

@Suite struct BPETokenizerTests {
    @Test func mergesLowestRankFirst() throws {
        #expect(try toyTokenizer(merges: ["a b", "ab c", "b c"]).pieces("abc") == ["abc"])
        #expect(try toyTokenizer(merges: ["b c", "a b", "ab c"]).pieces("abc") == ["a", "bc"])
    }

    @Test func equalRanksMergeLeftmostFirst() throws {
        let tokenizer = try toyTokenizer(merges: ["a a"])
        #expect(tokenizer.pieces("aaa") == ["aa", "a"])
        #expect(tokenizer.pieces("aaaa") == ["aa", "aa"])
        #expect(tokenizer.pieces("aaaaa") == ["aa", "aa", "a"])
    }

    @Test func bytesWithoutTokenAreDroppedBeforeMerging() throws {
        let tokenizer = try toyTokenizer(merges: ["! !"])
        #expect(tokenizer.pieces("!\u{04}!") == ["!!"])
        #expect(tokenizer.pieces("a\u{04}") == ["a"])
        #expect(tokenizer.pieces("\u{04}") == [])
    }

    @Test func specialTokensMatchLongestAndRespectParseSpecial() throws {
        let tokenizer = try toyTokenizer(merges: [])
        #expect(tokenizer.pieces("x<|s|>!y<|s|>") == ["x", "<|s|>!", "y", "<|s|>"])
        #expect(tokenizer.pieces("<|s|>", parseSpecial: false) == ["<", "|", "s", "|", ">"])
        #expect(tokenizer.pieces("a<u>b", parseSpecial: false) == ["a", "<u>", "b"])
        #expect(tokenizer.pieces("<|s|") == ["<", "|", "s", "|"])
    }

    @Test func addsBOSAndEOSOnlyWhenAsked() throws {
        let tokenizer = try toyTokenizer(merges: [], addsBOS: true, addsEOS: true)
        let a = tokenizer.encode("a", parseSpecial: true, addSpecial: false)
        #expect(tokenizer.encode("a") == [255] + a + [257])
        #expect(tokenizer.encode("", parseSpecial: true, addSpecial: true) == [255, 257])
        #expect(try toyTokenizer(merges: []).encode("a") == a)
    }

    @Test func decodesBytesSpecialsAndBadIDs() throws {
        let tokenizer = try toyTokenizer(merges: ["a b"])
        let ids = tokenizer.encode("ab <|s|>é")
        #expect(tokenizer.decode(ids) == "ab <|s|>é")
        #expect(tokenizer.decode([-1, 100_000]) == "\u{FFFD}\u{FFFD}")
        let cut = tokenizer.encode("é", parseSpecial: false, addSpecial: false)
        #expect(cut.count == 2)
        #expect(tokenizer.decode([cut[0]] + tokenizer.encode("x")) == "\u{FFFD}x")
        #expect(tokenizer.tokenBytes(cut[1]) == [0xA9])
        #expect(tokenizer.tokenBytes(-3) == nil)
    }

    @Test func rejectsMalformedVocabularies() throws {
        let bytes = (0..<256).map { String(Character(ByteLevel.characterForByte[$0])) }
        func message(_ build: () throws -> BPETokenizer) -> String {
            do { _ = try build(); return "" } catch { return "\(error)" }
        }
        #expect(message { try BPETokenizer(tokens: [], merges: [], preTokenizer: .gpt2) }.contains("0 tokens"))
        #expect(message { try BPETokenizer(tokens: bytes, types: [.normal], merges: [], preTokenizer: .gpt2) }
            .contains("1 token types for 256 tokens"))
        #expect(message { try BPETokenizer(tokens: bytes, merges: ["ab"], preTokenizer: .gpt2) }.contains("merge 0 \"ab\""))
        #expect(message { try BPETokenizer(tokens: bytes, merges: ["a b"], preTokenizer: .gpt2) }.contains("merge 0"))
        #expect(message { try BPETokenizer(tokens: bytes, merges: [], preTokenizer: .gpt2, eosID: 256) }
            .contains("eos token id 256"))
    }

    @Test func preTokenizerNamesAndErrors() throws {
        #expect(try PreTokenizer(ggufName: "gpt-2") == .gpt2)
        #expect(try PreTokenizer(ggufName: "llama3") == .llamaBPE)
        #expect(try PreTokenizer(ggufName: "qwen2") == .qwen2)
        #expect(throws: TokenizerError.self) { try PreTokenizer(ggufName: "deepseek-llm") }
        do {
            _ = try PreTokenizer(ggufName: "deepseek-llm")
        } catch {
            #expect("\(error)".contains("'deepseek-llm'"))
            #expect("\(error)".contains("smollm, llama-bpe"))
        }
    }

    @Test func encodesConcurrently() async throws {
        let tokenizer = try toyTokenizer(merges: ["a b", "ab c", "a a"])
        let text = String(repeating: "abc aab <|s|>! caba ", count: 50)
        let expected = tokenizer.encode(text)
        let results = await withTaskGroup(of: [Int32].self) { group in
            for _ in 0..<8 { group.addTask { tokenizer.encode(text) } }
            return await group.reduce(into: [[Int32]]()) { $0.append($1) }
        }
        #expect(results.count == 8 && results.allSatisfy { $0 == expected })
    }
}

@Suite struct PreTokenizerTests {
    // Pieces as HF `tokenizers` pre-tokenizes them (pre_tokenize_str, byte-level mapping undone).
    @Test func piecesMatchHuggingFace() {
        let text = "Hello  world's 2024!\n\n  ok"
        #expect(PreTokenizer.gpt2.pieces(of: text) == ["Hello", " ", " world", "'s", " 2024", "!", "\n\n ", " ok"])
        #expect(PreTokenizer.smollm.pieces(of: text) == ["Hello", " ", " world", "'s", " ", "2", "0", "2", "4", "!", "\n\n ", " ok"])
        #expect(PreTokenizer.llamaBPE.pieces(of: text) == ["Hello", " ", " world", "'s", " ", "202", "4", "!\n\n", " ", " ok"])
        #expect(PreTokenizer.qwen2.pieces(of: text) == ["Hello", " ", " world", "'s", " ", "2", "0", "2", "4", "!\n\n", " ", " ok"])
        let other = "x'S  \t\n  y..z"
        #expect(PreTokenizer.gpt2.pieces(of: other) == ["x", "'", "S", "  \t\n ", " y", "..", "z"])
        #expect(PreTokenizer.llamaBPE.pieces(of: other) == ["x", "'S", "  \t\n", " ", " y", "..", "z"])
        #expect(PreTokenizer.llamaBPE.pieces(of: "x'ſa .Hello\tindented a\u{a0}b") == ["x", "'ſ", "a", " .", "Hello", "\tindented", " a", "\u{a0}b"])
        #expect(PreTokenizer.gpt2.pieces(of: "a\u{a0}b \u{85}c\u{1c}d") == ["a", "\u{a0}", "b", " ", "\u{85}", "c", "\u{1c}", "d"])
        #expect(PreTokenizer.smollm.pieces(of: "") == [])
    }
}

/// A GGUF v3 file with `metadata` and no tensors, for tests of metadata handling.
func writeGGUF(_ metadata: [(String, GGUFValue)]) throws -> String {
    var data = Data("GGUF".utf8)
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    func string(_ s: String) { u64(UInt64(s.utf8.count)); data.append(contentsOf: Array(s.utf8)) }
    func typeID(_ value: GGUFValue) -> UInt32 {
        switch value {
        case .uint32: 4
        case .int32: 5
        case .bool: 7
        case .string: 8
        case .array: 9
        default: fatalError("writeGGUF: unsupported type \(value.typeName)")
        }
    }
    func payload(_ value: GGUFValue) {
        switch value {
        case .uint32(let v): u32(v)
        case .int32(let v): u32(UInt32(bitPattern: v))
        case .bool(let v): data.append(v ? 1 : 0)
        case .string(let s): string(s)
        case .array(let items):
            u32(items.first.map(typeID) ?? 8)
            u64(UInt64(items.count))
            items.forEach(payload)
        default: fatalError("writeGGUF: unsupported type \(value.typeName)")
        }
    }
    u32(3)
    u64(0)
    u64(UInt64(metadata.count))
    for (key, value) in metadata {
        string(key)
        u32(typeID(value))
        payload(value)
    }
    while data.count % 32 != 0 { data.append(0) }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("ep-tok-\(UUID().uuidString).gguf").path
    try data.write(to: URL(fileURLWithPath: path))
    return path
}

@Suite struct BPETokenizerGGUFTests {
    private func metadata(model: String?, pre: String?) -> [(String, GGUFValue)] {
        let tokens = (0..<256).map { GGUFValue.string(String(Character(ByteLevel.characterForByte[$0]))) } + [.string("ab")]
        var m: [(String, GGUFValue)] = [("general.architecture", .string("llama"))]
        if let model { m.append(("tokenizer.ggml.model", .string(model))) }
        if let pre { m.append(("tokenizer.ggml.pre", .string(pre))) }
        m += [("tokenizer.ggml.tokens", .array(tokens)), ("tokenizer.ggml.merges", .array([.string("a b")])),
              ("tokenizer.ggml.bos_token_id", .uint32(1))]
        return m
    }

    private func error(model: String?, pre: String?, extra: [(String, GGUFValue)] = []) throws -> String {
        let path = try writeGGUF(metadata(model: model, pre: pre) + extra)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try BPETokenizer(gguf: GGUFFile(path: path))
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func unsupportedModelsAndPreTokenizersGiveClearErrors() throws {
        let spm = try error(model: "llama", pre: nil)
        #expect(spm.contains("tokenizer model 'llama' is not supported; supported: gpt2"))
        #expect(try error(model: nil, pre: nil).contains("no tokenizer"))
        let pre = try error(model: "gpt2", pre: "falcon")
        #expect(pre.contains("pre-tokenizer 'falcon'"))
        #expect(pre.contains("supported: gpt2 (or gpt-2), smollm, llama-bpe (or llama3, llama-v3), qwen2"))
        #expect(try error(model: "gpt2", pre: nil).contains("'tokenizer.ggml.pre' is missing"))
        #expect(try error(model: "gpt2", pre: "gpt2", extra: [("tokenizer.ggml.token_type", .array([.int32(9)]))])
            .contains("unknown type"))
        #expect(try error(model: "gpt2", pre: "gpt2", extra: [("tokenizer.ggml.eos_token_id", .uint32(999))])
            .contains("eos token id 999"))
    }

    @Test func readsFlagsAndDefaults() throws {
        let path = try writeGGUF(metadata(model: "gpt2", pre: "llama-bpe") + [("tokenizer.chat_template", .string("{{x}}"))])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tokenizer = try BPETokenizer(gguf: GGUFFile(path: path))
        #expect(tokenizer.preTokenizer == .llamaBPE)
        #expect(tokenizer.addsBOS)  // llama.cpp's default for the llama-bpe group when the file does not say
        #expect(tokenizer.encode("ab") == [1, 256])
        #expect(tokenizer.encode("ab", parseSpecial: true, addSpecial: false) == [256])
        #expect(tokenizer.chatTemplate == "{{x}}")
        #expect(tokenizer.eosID == nil)
    }
}
