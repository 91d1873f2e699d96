import EPFormats
import Foundation
import Testing
@testable import EPRuntime

/// Inputs the fuzz targets of Fuzz/ (see docs/fuzzing.md) or their review found crashing a runtime parser, each
/// now a clear error.
@Suite struct RuntimeFuzzRegressionTests {
    /// A tiny llama `config.json` with `extra` fields merged in (the JSON text of an object's members).
    static func llamaConfig(_ extra: String) throws -> TransformerConfig {
        let text = #"{"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "#
            + #""num_key_value_heads": 2, "intermediate_size": 64, "vocab_size": 600, "max_position_embeddings": 128, "#
            + extra + "}"
        return try TransformerConfig(huggingFace: JSONFields(try JSONValue.parse(Array(text.utf8), path: "config.json"), path: "config.json"))
    }

    /// FuzzHFConfig: a `partial_rotary_factor` that is not finite (or too large) trapped converting to an integer.
    @Test func partialRotaryFactorOutOfRange() throws {
        for value in ["NaN", "1e300", "Infinity", "-0.5", "0", "2"] {
            #expect(throws: FileFormatError("config.json", "field 'partial_rotary_factor': expected a number in (0, 1], found \(Double(value.replacingOccurrences(of: "Infinity", with: "inf"))!)")) {
                try Self.llamaConfig(#""partial_rotary_factor": \#(value)"#)
            }
        }
        #expect(try Self.llamaConfig(#""partial_rotary_factor": 0.5"#).ropeDimensions == 4)
    }

    /// FuzzHFConfig: hyperparameters each within range but whose parameter count overflows trapped in
    /// `parameterCount` (`ep model info`).
    @Test func parameterCountOverflow() throws {
        let huge = #""hidden_size": 16777215, "num_attention_heads": 16777215, "head_dim": 16777214, "num_key_value_heads": 16777215"#
        let text = #"{"model_type": "llama", "num_hidden_layers": 3, "intermediate_size": 64, "vocab_size": 600, "#
            + #""max_position_embeddings": 128, "# + huge + "}"
        let fields = try JSONFields(try JSONValue.parse(Array(text.utf8), path: "config.json"), path: "config.json")
        let message = "\(failure { _ = try TransformerConfig(huggingFace: fields) })"
        #expect(message.hasPrefix("config.json: the hyperparameters (3 blocks, d_model 16777215, 16777215 heads of width 16777214, MLP width 64, vocabulary 600) give "))
        #expect(message.hasSuffix(" parameters, more than a model can have"))
        // The largest widths a config may give still count exactly.
        let big = try Self.llamaConfig(#""head_dim": 16777214"#)
        #expect(big.parameterCount > 0 && big.flopsPerToken(layers: 3, logits: true, averageKeys: 8) > 0)
    }
}

/// The description of the error `body` throws, or "(no error)".
private func failure(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "(no error)"
    } catch {
        return "\(error)"
    }
}

@Suite struct TokenizerFuzzRegressionTests {
    static func tokenizer(addedID: Int) throws -> InspectableTokenizer {
        let text = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}, "#
            + #""added_tokens": [{"id": \#(addedID), "content": "<x>", "special": true}]}"#
        return try HuggingFaceTokenizer.load(bytes: Array(text.utf8), path: "tokenizer.json")
    }

    /// Review of FuzzTokenizerJSON: a 150-byte tokenizer.json whose added token has id 16 777 215 filled the gap
    /// with placeholders, taking over 2 GB and half a minute (libFuzzer's out-of-memory limit).
    @Test func addedTokenFarBeyondTheVocabulary() throws {
        let message = "\(failure { _ = try Self.tokenizer(addedID: 16_777_215) })"
        #expect(message.hasPrefix("tokenizer.json: added token 0 has id 16777215, expected 0..<65538 (the 1 vocabulary entries and 1 added tokens, with at most 65536 unused ids between)"))
        // The largest gap allowed still loads, with placeholders between.
        let tokenizer = try Self.tokenizer(addedID: 65_537)
        #expect(tokenizer.tokenPiece(65_537) == "<x>" && tokenizer.tokenPiece(1) == "<added 1>")
        #expect(tokenizer.encode("a<x>") == [0, 65_537])
    }

    static func unigram(scoreOfA: String) throws -> InspectableTokenizer {
        let text = #"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", \#(scoreOfA)]]}, "#
            + #""pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true}}"#
        return try HuggingFaceTokenizer.load(bytes: Array(text.utf8), path: "tokenizer.json")
    }

    /// FuzzTokenizerJSON: a Unigram score that overflows to -infinity (`-5.286880034e13793`) left positions of the
    /// Viterbi search unreached, and encoding indexed the scalar bounds at -1.
    @Test func unigramScoresThatAreNotFinite() throws {
        for score in ["-5.286880034e13793", "NaN", "Infinity"] {
            let message = "\(failure { _ = try Self.unigram(scoreOfA: score) })"
            #expect(message.hasPrefix("tokenizer.json: token 1 has the score \(Double(score) ?? (score == "NaN" ? .nan : .infinity)), expected a finite number"), "\(message)")
        }
        // Finite scores whose sums reach -infinity still give a path through every character.
        let tokenizer = try Self.unigram(scoreOfA: "-1.7e308")
        #expect(tokenizer.encode("aaa", parseSpecial: false, addSpecial: false) == [0, 1, 1, 1])
    }
}
