import Testing
@testable import EPPipeline

@Suite struct ControlVectorTests {
    /// llama.cpp adds direction.N to block N's output (l_out-N), for N ≥ 1: blocks.N.hook_resid_post, or the same
    /// tensor as blocks.N+1.hook_resid_pre.
    @Test func mapsBlockOutputsToLlamaCppLayers() throws {
        #expect(try ControlVectorExport.layer(forHook: "blocks.1.hook_resid_post") == 1)
        #expect(try ControlVectorExport.layer(forHook: "blocks.15.hook_resid_post") == 15)
        #expect(try ControlVectorExport.layer(forHook: "blocks.29.hook_resid_post") == 29)
        #expect(try ControlVectorExport.layer(forHook: "blocks.16.hook_resid_pre") == 15)
        #expect(try ControlVectorExport.layer(forHook: "blocks.2.hook_resid_pre") == 1)
    }

    /// Hooks llama.cpp cannot steer are refused with the reason.
    @Test func refusesHooksLlamaCppCannotReach() {
        let cases = [
            ("blocks.0.hook_resid_post", "no control vector for block 0"),
            ("blocks.0.hook_resid_pre", "the embedding output cannot be steered"),
            ("blocks.1.hook_resid_pre", "block 0's output cannot be steered"),
            ("blocks.3.hook_attn_out", "only to a block's output"),
            ("blocks.3.hook_resid_mid", "only to a block's output"),
            ("blocks.3.hook_mlp_out", "only to a block's output"),
            ("hook_embed", "only to a block's output"),
            ("ln_final.hook_normalized", "only to a block's output"),
            ("blocks.x.hook_resid_post", "not a hook point name"),
        ]
        for (hook, message) in cases {
            #expect(throws: PipelineError.self) { try ControlVectorExport.layer(forHook: hook) }
            do {
                _ = try ControlVectorExport.layer(forHook: hook)
            } catch {
                #expect("\(error)".contains(message) && "\(error)".contains(hook), "\(hook): \(error)")
            }
        }
    }
}
