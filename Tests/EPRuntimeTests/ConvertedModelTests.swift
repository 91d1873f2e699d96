import EPFormats
import EPTensors
import Foundation
import Testing
@testable import EPRuntime

/// SmolLM2 converted from its GGUF to a Hugging Face folder (scripts/models/gguf_to_hf.py: F32 weights, Q/K rows
/// back in HF order, tokenizer.json from the GGUF vocabulary) gives the activations and ids of the GGUF.
@Suite struct ConvertedModelTests {
    @Test func sameActivationsAndLogitsAsTheGGUF() throws {
        let gguf = try SharedModel.smolLM2(), hf = try SharedModel.smolLM2HF()
        #expect(hf.config.architecture == .llama && hf.config.positionEncoding == .ropeHalves)
        #expect(gguf.config.positionEncoding == .ropeAdjacentPairs)
        let tokens = try SafetensorsFile(path: goldensFolder + "/oracle_sample128.safetensors").integers("tokens").map { Int32($0) }
        let points: Set<HookPoint> = [.embed, .residPost(layer: 0), .residMid(layer: 15), .residPost(layer: 15), .residPost(layer: 29), .finalNormalized]
        let a = try gguf.forward([tokens, Array(tokens.prefix(40))], hooks: Hooks(captures: points), logits: .all)
        let b = try hf.forward([tokens, Array(tokens.prefix(40))], hooks: Hooks(captures: points), logits: .all)
        for point in points.sorted() {
            let agreement = Agreement(b.activations[point]!, reference: a.activations[point]!)
            print("smollm2 hf vs gguf \(point.name): \(agreement)")
            #expect(agreement.maxRelativeError <= 1e-5, "\(point.name): \(agreement)")
        }
        let logits = Agreement(b.logits!, reference: a.logits!)
        print("smollm2 hf vs gguf logits: \(logits)")
        #expect(logits.maxRelativeError <= 1e-5)
    }

    @Test func tokenizerJSONGivesTheGGUFIds() throws {
        let fromJSON = try makeTokenizer(for: SharedModel.smolLM2HF())
        let fromGGUF = try makeTokenizer(for: SharedModel.smolLM2())
        #expect(fromJSON.bosID == fromGGUF.bosID && fromJSON.eosID == fromGGUF.eosID && fromJSON.addsBOS == fromGGUF.addsBOS)
        for c in try TokenizerGolden.load(.smollm).cases {
            for special in [true, false] {
                #expect(fromJSON.encode(c.input, parseSpecial: special, addSpecial: true) == fromGGUF.encode(c.input, parseSpecial: special, addSpecial: true), "\(c.name)")
            }
        }
        #expect(try ChatTemplate(model: SharedModel.smolLM2HF()) == ChatTemplate(model: SharedModel.smolLM2()))
    }
}
