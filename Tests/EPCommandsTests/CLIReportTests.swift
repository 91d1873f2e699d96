import EPFormats
import EPStore
import EPTensors
import EPTestSupport
import Foundation
import Testing

/// The JSON of a report data script (`window.EPData = …;` then `EPData.x = JSON;`).
private func reportData(_ path: String) throws -> JSONValue {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let body = text.split(separator: "\n", maxSplits: 1)[1]
    let json = body[body.index(after: body.firstIndex(of: "=")!)...].trimmingCharacters(in: .whitespacesAndNewlines)
    return try JSONValue.parse(Array(json.dropLast().utf8), path: path)
}

private func fields(_ value: JSONValue?) -> JSONObject {
    if case .object(let o) = value { return o }
    return JSONObject()
}

private func list(_ value: JSONValue?) -> [JSONValue] {
    if case .array(let a) = value { return a }
    return []
}

private func texts(_ value: JSONValue?) -> [String] { list(value).compactMap { if case .string(let s) = $0 { return s } else { return nil } } }

/// Markup that must show as text wherever corpus text appears in a report.
private let markup = "<script>window.__xss = 1</script><img src=x onerror=\\\"window.__xss = 2\\\">"

@Suite(.serialized) struct CLIReportTests {
    /// A report of a dictionary built from text whose corpus holds markup: every region has its logit lens and
    /// contexts, each shown token its replayed distance, and each member token's replayed distance equals the
    /// distance the build recorded.
    @Test func reportOfADictionaryBuiltFromText() throws {
        let f = try TextFixture()
        let corpus = try String(contentsOfFile: f.folder + "/corpus.jsonl", encoding: .utf8)
        let hostile = (0..<3).map { i in "{\"text\": \"Page \(i): \(String(repeating: markup + " and more text. ", count: 5))\"}" }
        try AtomicOutput.write(string: corpus + hostile.joined(separator: "\n") + "\n", to: f.folder + "/corpus.jsonl")
        let build = try ep(f.buildArguments(output: "d"), in: f.folder, environment: f.environment)
        #expect(build.status == 0, "\(build.stderr)")
        let k = try DictionaryStore.readManifest(f.folder + "/d").regionCount

        let report = try ep(["report", "d", "-o", "site", "--regions-per-chunk", "16"], in: f.folder, environment: f.environment)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stdout.contains("wrote site: ") && report.stdout.contains("per-token distances: ") && report.stdout.contains("open site/index.html"))
        let site = f.folder + "/site"
        let summary = fields(try reportData(site + "/data/summary.js"))
        #expect(summary["regions"] == .integer(Int64(k)))
        #expect(summary["hasLens"] == .bool(true) && summary["hasContexts"] == .bool(true) && summary["hasTokenDistances"] == .bool(true))
        #expect((summary["sampleTokens"]?.doubleValue ?? 0) > 0)
        #expect(fields(summary["saturation"])["unit"] == .string("tokens"))

        var contexts = 0, largestGap = 0.0, markupShown = false
        for chunk in 0..<((k + 15) / 16) {
            for region in list(try reportData(site + "/data/regions/" + String(format: "%04d", chunk) + ".js")) {
                let r = fields(region)
                #expect(!list(r["lensExemplar"]).isEmpty && !list(r["lensMean"]).isEmpty)
                for context in list(r["closest"]) + list(r["boundary"]) {
                    let c = fields(context)
                    let tokens = texts(c["t"])
                    let distances = list(c["x"]), nearest = list(c["nd"])
                    let member = Int(c["p"]!.doubleValue! - c["f"]!.doubleValue!)
                    #expect(tokens.count == distances.count && tokens.indices.contains(member))
                    // The replayed distance of the member token is the one the build recorded.
                    let recorded = c["d"]!.doubleValue!, replayed = try #require(distances[member].doubleValue)
                    largestGap = max(largestGap, abs(recorded - replayed))
                    // No region is nearer to a token than its nearest region.
                    for (x, n) in zip(distances, nearest) where x != .null {
                        #expect(n.doubleValue! <= x.doubleValue! + 1e-4)
                    }
                    markupShown = markupShown || tokens.joined().contains("<script>window.__xss")
                    contexts += 1
                }
            }
        }
        #expect(contexts >= k, "every region shows at least its closest member")
        #expect(largestGap < 2e-4, "replayed member distances differ from the recorded ones by up to \(largestGap)")
        #expect(markupShown, "the markup of the corpus appears, as text, in some context")
        for file in try FileManager.default.subpathsOfDirectory(atPath: site) where file.hasPrefix("data/") && file.hasSuffix(".js") {
            let text = try String(contentsOfFile: "\(site)/\(file)", encoding: .utf8)
            #expect(!text.contains("<"), "\(file) holds a raw '<'")
        }

        let quick = try ep(["report", "d", "-o", "quick", "--no-token-distances", "--contexts", "2", "--boundary", "0"], in: f.folder, environment: f.environment)
        #expect(quick.status == 0 && !quick.stdout.contains("per-token distances"))
        let quickSummary = fields(try reportData(f.folder + "/quick/data/summary.js"))
        #expect(quickSummary["hasContexts"] == .bool(true) && quickSummary["hasTokenDistances"] == .bool(false))

        let bad = try ep(["report", "d", "-o", "x", "--contexts=-1"], in: f.folder, environment: f.environment)
        #expect(bad.status != 0 && bad.errorLines.last == "Error: --contexts: expected a number ≥ 0, found -1")
        let missing = try ep(["report", "nowhere", "-o", "x"], in: f.folder, environment: f.environment)
        #expect(missing.status != 0 && missing.stderr.contains("nowhere: no such dictionary folder"))
        #expect(!listing(f.folder).contains("x"))
    }

    /// A dictionary built from activation files, whose recorded model cannot be opened: the report has its
    /// numbers, charts and map, and says why it has no logit lens.
    @Test func reportOfAnActivationFileDictionary() throws {
        let folder = makeTemporaryFolder("ep-cli-report")
        var g = SeededGenerator(seed: 3)
        let rows = 400, width = 8
        let values = (0..<(rows * width)).map { i in Float(i % width == (i / width) % 5 ? 3 : 0) + g.unitFloat() - 0.5 }
        try writeHalfNPY(values, rows: rows, width: width, to: folder + "/acts.npy")
        let build = try ep(["build", "acts.npy", "--percentile", "5", "--batch-size", "100", "--model", "not-a-model", "-o", "d"], in: folder)
        #expect(build.status == 0, "\(build.stderr)")
        let report = try ep(["report", "d", "-o", "site"], in: folder)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stderr.contains("cannot open the model the dictionary records, 'not-a-model'"))
        let summary = fields(try reportData(folder + "/site/data/summary.js"))
        #expect(summary["hasLens"] == .bool(false) && summary["model"] == .string("not-a-model"))
        #expect(fields(summary["saturation"])["unit"] == .string("activations"))
        for page in ["index.html", "map.html", "region.html", "data/map.js", "data/regions/0000.js"] {
            #expect(FileManager.default.fileExists(atPath: "\(folder)/site/\(page)"), "\(page) missing")
        }
        let wrong = try ep(["report", "d", "-o", "site2", "--model", "nowhere-model"], in: folder)
        #expect(wrong.status != 0 && !listing(folder).contains("site2"))
    }
}
