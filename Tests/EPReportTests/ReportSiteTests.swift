import EPCore
import EPFormats
import EPStore
import EPTensors
import EPTestSupport
import Foundation
import Testing
@testable import EPReport

/// A dictionary of 600 synthetic rows in 40 clusters, written and loaded back as `ep` does.
func syntheticDictionary(in folder: String, clusters: Int = 40, rows: Int = 600) throws -> LoadedDictionary {
    var data = SyntheticClusters(width: 24, clusters: clusters, noise: 0.3, offset: 1, seed: 8)
    let x = data.batch(rows: rows)
    let calibration = try Calibration.calibrate(batches: [x.rows(0..<(rows / 2))], settings: CalibrationSettings(percentile: 5, batchSize: rows / 2))
    let dictionary = try ExemplarDictionary(calibration: calibration)
    for start in stride(from: 0, to: rows, by: 100) { try dictionary.addBatch(x.rows(start..<min(rows, start + 100))) }
    let source = ActivationSource(model: "m", hook: "blocks.1.hook_resid_post", extractor: "activation-files", activationCount: rows, inputs: ["x.npy"])
    let path = folder + "/dict"
    try DictionaryStore.write(
        dictionary,
        calibration: CalibrationProvenance(calibration, calibrationTokens: rows / 2, source: source),
        build: BuildProvenance(
            batchSize: 100, seed: nil, batchCount: dictionary.batchHistory.count, activationCount: rows, saturated: dictionary.isSaturated(),
            reservoir: false, newRegionRate: dictionary.newRegionRate, source: source),
        to: path)
    return try DictionaryStore.load(path)
}

/// The JSON of a data script written by the report (`window.EPData = …;` then `EPData.x = JSON;`).
func dataJSON(_ path: String) throws -> JSONValue {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let body = text.split(separator: "\n", maxSplits: 1)[1]
    let json = body[body.index(after: body.firstIndex(of: "=")!)...].trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(json.hasSuffix(";"))
    return try JSONValue.parse(Array(json.dropLast().utf8), path: path)
}

func array(_ value: JSONValue?) -> [JSONValue] {
    if case .array(let a) = value { return a }
    return []
}

func object(_ value: JSONValue?) -> JSONObject {
    if case .object(let o) = value { return o }
    return JSONObject()
}

func numbers(_ value: JSONValue?) -> [Double] { array(value).compactMap(\.doubleValue) }

/// Corpus text that would be markup or script if a page wrote it as HTML.
let hostileText = "</script><script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\"> & 'quotes' \u{2028}"

@Suite struct ReportSiteTests {
    @Test func jsonTextEscapesMarkupAndRoundTrips() throws {
        var json = JSONWriter()
        json.beginObject()
        json.key("text"); json.string(hostileText + "\u{1}\t\n\"\\")
        json.key("numbers"); json.numbers([0.12345, -3, 1e-6, 2.5, .nan], decimals: 4)
        json.key("nested"); json.beginArray(); json.integer(7); json.null(); json.bool(true); json.endArray()
        json.endObject()
        let text = json.text
        for forbidden in ["<", ">", "&", "'", "\u{2028}"] { #expect(!text.contains(forbidden), "raw \(forbidden) in \(text)") }
        #expect(text.contains(#"[0.1235,-3,0,2.5,null]"#))
        let parsed = object(try JSONValue.parse(Array(text.utf8), path: "json"))
        #expect(parsed["text"] == .string(hostileText + "\u{1}\t\n\"\\"))
        #expect(array(parsed["nested"]) == [.integer(7), .null, .bool(true)])
    }

    @Test func htmlEscaping() {
        #expect(htmlEscaped("<b title=\"x\">Tom & Jerry's</b>") == "&lt;b title=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;")
        let page = ReportPage.index.html(title: "<script>alert(1)</script>")
        #expect(!page.contains("<script>alert") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.contains("script-src 'self' file:"), "a content security policy limits scripts to the report's own files")
    }

    /// A report of a dictionary built from activation files: every file is there, the data describe the
    /// dictionary exactly, and the charts' histograms hold every region and pair.
    @Test func reportOfAnActivationFileDictionary() throws {
        let folder = makeTemporaryFolder("ep-report")
        let loaded = try syntheticDictionary(in: folder)
        let r = loaded.dictionary.regions
        let k = r.count
        #expect(k > 20)
        var options = ReportOptions()
        options.regionsPerChunk = 7
        options.neighbours = 4
        let site = folder + "/site"
        let result = try ReportSite.write(loaded, to: site, options: options)
        let chunks = (k + 6) / 7
        #expect(result.chunks == chunks)
        let files = FileManager.default.enumerator(atPath: site)!.compactMap { $0 as? String }.filter { !$0.hasSuffix("/") }
        let plainFiles = files.filter { name in
            var folderFlag: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(site)/\(name)", isDirectory: &folderFlag) && !folderFlag.boolValue
        }
        #expect(plainFiles.count == result.files)
        #expect(result.files == 3 + 5 + 3 + chunks)
        let sizes = try plainFiles.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: "\(site)/\($1)")[.size] as! Int) }
        #expect(sizes == result.bytes)
        for page in ["index.html", "map.html", "region.html", "assets/report.css", "assets/common.js", "data/regions/0000.js"] {
            #expect(plainFiles.contains(page), "\(page) missing")
        }

        let summary = object(try dataJSON(site + "/data/summary.js"))
        #expect(summary["regions"] == .integer(Int64(k)))
        #expect(summary["hasLens"] == .bool(false) && summary["hasContexts"] == .bool(false))
        let sizesJSON = object(summary["sizes"])
        #expect(numbers(sizesJSON["regions"]).reduce(0, +) == Double(k))
        #expect(numbers(sizesJSON["members"]).reduce(0, +) == 600)
        let distances = object(summary["distances"])
        #expect(numbers(distances["pairs"]).reduce(0, +) == Double(k * (k - 1) / 2))
        #expect(numbers(distances["nearest"]).reduce(0, +) == Double(k))
        let saturation = object(summary["saturation"])
        #expect(saturation["unit"] == .string("activations"))
        #expect(numbers(saturation["position"]).last == 600 && numbers(saturation["regions"]).last == Double(k))

        let regions = object(try dataJSON(site + "/data/regions.js"))
        #expect(numbers(regions["members"]) == r.memberCounts.map(Double.init))
        #expect(array(regions["snippet"]).allSatisfy { $0 == .null })
        let map = object(try dataJSON(site + "/data/map.js"))
        #expect(numbers(map["x"]).count == k && numbers(map["z"]).count == k)
        #expect(numbers(map["explained"]).count == 3)

        // The last chunk holds the last regions, with their recorded members and nearest neighbours.
        let last = array(try dataJSON(site + "/data/regions/\(ReportSite.chunkName(chunks - 1)).js"))
        #expect(last.count == k - 7 * (chunks - 1))
        let region = object(last.last)
        #expect(region["id"] == .integer(Int64(k - 1)))
        #expect(region["members"] == .integer(r.memberCounts[k - 1]))
        let neighbourDistances = array(region["neighbours"]).map { numbers($0)[1] }
        #expect(neighbourDistances.count == 4 && neighbourDistances == neighbourDistances.sorted())
        let refs = array(region["closestRefs"]).map(numbers)
        #expect(refs.map { $0[0] } == r.closest.members(of: k - 1).map { Double($0.reference.source) })
        #expect(object(region["sample"])["n"] == .integer(0))

        // Writing again replaces the folder whole; a file in the way is refused.
        try ReportSite.write(loaded, to: site, options: options)
        #expect(!listingContainsTemporary(folder))
        try AtomicOutput.write(string: "x", to: folder + "/file")
        #expect(throws: FileFormatError.self) { try ReportSite.write(loaded, to: folder + "/file") }
    }

    /// Corpus text reaches the data files only as escaped JSON strings and comes back unchanged.
    @Test func corpusTextIsEscapedInTheData() throws {
        let folder = makeTemporaryFolder("ep-report-text")
        let loaded = try syntheticDictionary(in: folder, clusters: 5, rows: 300)
        let k = loaded.dictionary.regionCount
        let token = ReportToken(text: hostileText, distance: 0.25, nearestRegion: 0, nearestDistance: 0.2)
        let context = ReportContext(
            distance: 0.25, window: 3, position: 1, origin: "corpus<1>.txt:2", firstPosition: 0,
            tokens: [ReportToken(text: "<b>"), token, ReportToken(text: " after", distance: 0.9, nearestRegion: 1, nearestDistance: 0.5)])
        let site = folder + "/site"
        try ReportSite.write(loaded, to: site) { range in
            range.map { _ in
                RegionText(
                    exemplarLens: [ReportLensToken(text: "<script>", logit: 3.5)], meanLens: [ReportLensToken(text: " the", logit: 1)],
                    closest: [context], boundary: [], sampleDistances: [0.1, 0.2, 0.3])
            }
        }
        for file in ["data/regions.js", "data/regions/0000.js", "data/summary.js"] {
            let text = try String(contentsOfFile: "\(site)/\(file)", encoding: .utf8)
            #expect(!text.contains("<") && !text.contains(">"), "\(file) holds a raw angle bracket")
        }
        let summary = object(try dataJSON(site + "/data/summary.js"))
        #expect(summary["hasLens"] == .bool(true) && summary["hasContexts"] == .bool(true) && summary["hasTokenDistances"] == .bool(true))
        #expect(summary["sampleTokens"] == .integer(Int64(3 * k)))
        let regions = object(try dataJSON(site + "/data/regions.js"))
        #expect(array(regions["snippet"]).first == .array([.string("<b>"), .string(hostileText), .string(" after")]))
        #expect(array(regions["lens"]).first == .array([.string("<script>")]))
        let first = object(array(try dataJSON(site + "/data/regions/0000.js")).first)
        let shown = object(array(first["closest"]).first)
        #expect(array(shown["t"]) == [.string("<b>"), .string(hostileText), .string(" after")])
        #expect(shown["o"] == .string("corpus<1>.txt:2"))
        #expect(array(shown["x"]) == [.null, .number(0.25), .number(0.9)])
        #expect(numbers(object(first["sample"])["counts"]).reduce(0, +) == 3)
    }
}

/// Whether `folder` holds a temporary sibling left by an atomic write.
func listingContainsTemporary(_ folder: String) -> Bool {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).contains { $0.hasPrefix(".") }
}
