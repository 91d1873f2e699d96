import EPFormats
import Foundation

extension ReportSite {
    /// A report site: recognised by its layout — the pages, `assets/` holding only the report's assets, and `data/`
    /// holding only `summary.js` (starting as ep writes it), `regions.js`, `map.js` and the
    /// `regions/NNNN.js` chunks. A folder holding anything else is not replaced.
    public static let outputKind = OutputKind.folder("report", entries: Set(ReportPage.allCases.map(\.file) + ["assets", "data"])) { folder in
        let assets = Set(ReportAssets.files.map(\.name))
        guard OutputGuard.entries(of: "\(folder)/assets").allSatisfy(assets.contains) else { return false }
        let data = OutputGuard.entries(of: "\(folder)/data")
        guard data.allSatisfy(["summary.js", "regions.js", "map.js", "regions"].contains) else { return false }
        let chunks = OutputGuard.entries(of: "\(folder)/data/regions")
        guard chunks.allSatisfy({ $0.hasSuffix(".js") && $0.dropLast(3).allSatisfy(\.isNumber) }) else { return false }
        guard let summary = FileHandle(forReadingAtPath: "\(folder)/data/summary.js") else { return false }
        defer { try? summary.close() }
        let expected = script("EPData.summary = ", JSONWriter(capacity: 0))
        let start = (try? summary.read(upToCount: expected.count - 2)) ?? Data()
        return start.elementsEqual(expected.dropLast(2))
    }
}
