import EPFormats
import Foundation
import Testing

/// `Tests/Fixtures/pickles` (copied from `../shared/fixtures/pickles/`).
private let pickles: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<2 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Fixtures/pickles").path
}()

@Suite("ep import")
struct CLIImportTests {
    func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "ep-cli-import-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("ep import, then assign, inspect and report work with no model; the prompts show as text")
    func importAndRead() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let name = "legacy-cas-d64"
        let run = try ep(["import", "\(pickles)/\(name).pkl", "--metadata", "\(pickles)/\(name)_metadata.json", "-o", "dict"], in: folder)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("cas.discovery.dictionary.ConceptLibrary, pickle protocol 4, SHA-256 3b1524d0af01cb86d77ba39c7a48eb83e9e4530a84c157489838f668cc605dfb"))
        #expect(run.stdout.contains("58 regions · width 64 · θ = 0.744228226430056 · 463 prompts · 1,740 reservoir vectors → dict"))

        let info = try ep(["info", "dict"], in: folder)
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("θ = 0.744228 (p3, imported)"))
        #expect(info.stdout.contains("imported from \(pickles)/\(name).pkl: cas.discovery.dictionary.ConceptLibrary, pickle protocol 4, SHA-256 3b1524d0af01cb86d77ba39c7a48eb83e9e4530a84c157489838f668cc605dfb; batch history from the metadata's batch size; reservoir kept"))

        let assign = try ep(["assign", "dict", "\(pickles)/\(name)_expected/query.npy", "-o", "ids.csv"], in: folder)
        #expect(assign.status == 0, "\(assign.stderr)")
        let ids = try NPY.readIntegers(path: "\(pickles)/\(name)_expected/query_ids.npy").values
        let rows = try String(contentsOfFile: "\(folder)/ids.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(rows.map { Int($0.split(separator: ",")[1])! } == ids)

        let inspect = try ep(["inspect", "dict", "--region", "0", "--contexts", "2", "--json"], in: folder)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let prompts = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(pickles)/\(name)_expected/prompts.json"))), path: "prompts.json")
        guard case .array(let regions) = prompts, case .object(let first) = regions[0], case .array(let closest)? = first["closest"],
              case .array(let top) = closest[0], case .string(let text) = top[1] else {
            Issue.record("prompts.json: unexpected layout")
            return
        }
        #expect(inspect.stdout.contains("\"text\": \(jsonString(text))"))

        let report = try ep(["report", "dict", "-o", "site"], in: folder)
        #expect(report.status == 0, "\(report.stderr)")
        let page = try String(contentsOfFile: "\(folder)/site/data/regions/0000.js", encoding: .utf8)
        #expect(page.contains(String(jsonString(text).dropFirst().dropLast())))

        let bare = try ep(["import", "\(pickles)/\(name).pkl", "--no-reservoir", "-o", "bare"], in: folder)
        #expect(bare.status == 0, "\(bare.stderr)")
        #expect(bare.stdout.contains("reservoir dropped"))
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/bare/reservoir.safetensors"))

        // A pickle does not say where its activations came from: --model and --hook record it (SAELens needs the hook),
        // and an SAELens export of a dictionary without a hook says on stderr that SAELens will refuse it.
        let export = try ep(["export", "bare", "--format", "saelens", "-o", "sae-bare"], in: folder)
        #expect(export.status == 0 && export.stderr.contains("records no hook"), "\(export.stderr)")
        let hooked = try ep(["import", "\(pickles)/\(name).pkl", "--model", "gemma-2-2b", "--hook", "blocks.12.hook_resid_post", "-o", "hooked"], in: folder)
        #expect(hooked.status == 0, "\(hooked.stderr)")
        let manifest = try String(contentsOfFile: "\(folder)/hooked/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"hook\": \"blocks.12.hook_resid_post\"") && manifest.contains("\"model\": \"gemma-2-2b\""))
        let sae = try ep(["export", "hooked", "--format", "saelens", "-o", "sae-hooked"], in: folder)
        #expect(sae.status == 0 && !sae.stderr.contains("records no hook"), "\(sae.stderr)")
        let cfg = try String(contentsOfFile: "\(folder)/sae-hooked/cfg.json", encoding: .utf8)
        #expect(cfg.contains("\"hook_name\": \"blocks.12.hook_resid_post\"") && cfg.contains("\"hook_layer\": 12"))
    }

    @Test("ep import refuses the malicious pickle by the callable's name, and its command does not run")
    func malicious() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Unpickled by Python, the file runs `echo this-pickle-ran-code > ep-pickle-ran-code.txt` in the working
        // folder.
        let run = try ep(["import", "\(pickles)/malicious.pkl", "-o", "dict"], in: folder)
        #expect(run.status != 0)
        #expect(run.errorLines.count == 1)
        #expect(run.stderr.contains("malicious.pkl: offset 45: refuses to call posix.system (only ep.discovery.dictionary.Dictionary, "))
        #expect(run.stderr.contains("nothing was run"))
        #expect(listing(folder).isEmpty, "\(listing(folder))")
    }
}
